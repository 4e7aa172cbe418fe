#!/usr/bin/env node
/**
 * `npm start [-- serve options]`: serve the app from the built code (dist/bundle), building first only
 * when dist/ is missing or older than the sources (build-if-stale.js). A fresh clone's first
 * `npm start` builds once (tsc and the bundle, several seconds); every later start goes straight to the app. The
 * server runs in this process (dist/bundle/main.js imported, not spawned): one node start, not two.
 */
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { buildIfStale, distMain } from './build-if-stale.js';

await buildIfStale();
// the command line as if run as `imgclass serve …`: commander reads process.argv
process.argv = [process.argv[0], distMain, 'serve', ...process.argv.slice(2)];
await import(pathToFileURL(distMain).href);
