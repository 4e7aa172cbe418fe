#!/usr/bin/env node
/**
 * The command line as one ES module with lazily loaded chunks (esbuild, code splitting), built from
 * tsc's output in dist/ into dist/bundle/. A cold command then reads and links a few files instead
 * of the ~150 modules of dist/ it asks for one by one: about 30 ms off a cold `predict` on the 2-core
 * machine (docs/startup.md, fourth round). Packages stay external: node_modules as installed.
 * A command's modules still load only when it runs (each dynamic import is its own chunk).
 *
 * The bundle sits two levels below the package root as dist/cli/main.js does, so what a module
 * finds relative to itself (the package root, dist/web's browser entries) it finds from a chunk
 * too; the Train view's worker process (train-worker, found beside train-jobs) is a second entry.
 * Built into a temporary folder and renamed over the old one: a failed build leaves the last good one.
 */
import { rmSync, renameSync } from 'node:fs';
import process from 'node:process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const bundleDir = path.join(root, 'dist', 'bundle');

export async function bundleCli() {
  const tmp = `${bundleDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    await build({
      entryPoints: { main: path.join(root, 'dist', 'cli', 'main.js'), 'train-worker': path.join(root, 'dist', 'server', 'train-worker.js') },
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      outdir: tmp,
      logLevel: 'warning',
    });
    rmSync(bundleDir, { recursive: true, force: true });
    renameSync(tmp, bundleDir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await bundleCli();
