#!/usr/bin/env node
/**
 * `npm start [-- serve options]`: serve the app from the compiled code in dist/, compiling first only
 * when dist/ is missing or older than the sources. A fresh clone's first `npm start` builds once
 * (tsc, several seconds); every later start goes straight to the app. The server runs in this
 * process (dist/cli/main.js imported, not spawned): one node start, not two.
 *
 * "Older" compares modification times: the newest file under src/ (and tsconfig.json,
 * package.json) against dist/cli/main.js. tsconfig.json's noEmitOnError makes a failed build write
 * nothing, so the next start tries again instead of serving half-compiled code.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'cli', 'main.js');

/** The newest modification time of a file or of any file below a directory. */
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

const sources = Math.max(newest(path.join(root, 'src')), mtime(path.join(root, 'tsconfig.json')), mtime(path.join(root, 'package.json')));
if (mtime(main) < sources) {
  process.stderr.write('imgclass: compiling (dist/ is missing or older than src/) …\n');
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write('imgclass: the build failed (see above); nothing to start\n');
    process.exit(r.status ?? 1);
  }
}

// the command line as if run as `imgclass serve …`: commander reads process.argv
process.argv = [process.argv[0], main, 'serve', ...process.argv.slice(2)];
await import(pathToFileURL(main).href);
