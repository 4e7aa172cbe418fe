#!/usr/bin/env node
/**
 * Build src/ into dist/ (`npm run build`: tsc, then the command line's bundle, bundle-cli.js)
 * only when dist/ is missing or older than the sources: the newest file under src/ (and
 * tsconfig.json, package.json, the bundler script) against dist/bundle/main.js. tsconfig.json's
 * noEmitOnError makes a failed build write nothing, and the bundle is only replaced by a complete
 * one, so the next call tries again instead of trusting half-built code. Used by scripts/start.js
 * (`npm start`) and bench:startup; run directly, it only builds.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const distMain = path.join(root, 'dist', 'bundle', 'main.js');

/** The newest modification time of a file, or of any file below a directory. */
function newest(p) {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(p).reduce((m, name) => Math.max(m, newest(path.join(p, name))), st.mtimeMs);
}

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -Infinity;
  }
}

/** Builds when stale; returns whether it built. Exits the process when the build fails. */
export async function buildIfStale() {
  const sources = Math.max(
    newest(path.join(root, 'src')),
    mtime(path.join(root, 'tsconfig.json')),
    mtime(path.join(root, 'package.json')),
    mtime(path.join(root, 'scripts', 'bundle-cli.js')),
  );
  if (mtime(distMain) >= sources) return false;
  process.stderr.write('imgclass: compiling (dist/ is missing or older than src/) …\n');
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write('imgclass: the build failed (see above)\n');
    process.exit(r.status ?? 1);
  }
  // the bundler (esbuild) is loaded only to build: a start that finds dist/ fresh never pays for it
  const { bundleCli } = await import('./bundle-cli.js');
  await bundleCli();
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildIfStale();
