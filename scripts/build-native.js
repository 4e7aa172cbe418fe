#!/usr/bin/env node
/**
 * Builds the native pixel kernels (native/pixels.c → build/native/pixels.node: the JPEG decoder and
 * the resize's inner loops) with the system's C compiler and libjpeg-turbo: `npm install` runs it (the package's `install` script),
 * and so does `npm test`'s first step once the system packages are there. It is an accelerator,
 * not a requirement: where there is no compiler, no jpeglib.h or no Node-API headers, it says so
 * in one line and exits 0, and plain JPEGs decode through the WebAssembly build and photos resize
 * in TypeScript instead, with the same bytes (src/data/native-pixels.ts). Nothing is downloaded. IMGCLASS_NATIVE=0 skips it; $CC picks the
 * compiler. The module is written beside its final name, loaded once to prove it links, then
 * renamed into place, so a failed or interrupted build never leaves a broken one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'native', 'pixels.c');
const target = path.join(root, 'build', 'native', 'pixels.node');

/** Node-API's headers: beside the node binary in every official build, nvm's and Debian's. */
function nodeHeaders() {
  const candidates = [path.resolve(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  return candidates.find((dir) => existsSync(path.join(dir, 'node_api.h')));
}

/** Says why there is no native decoder, and leaves none behind: not even one built from an older source. */
function skip(reason) {
  rmSync(target, { force: true });
  process.stdout.write(`imgclass: native pixel kernels not built (${reason}); JPEGs decode in WebAssembly and photos resize in TypeScript instead\n`);
  process.exit(0);
}

if (process.env.IMGCLASS_NATIVE === '0') skip('IMGCLASS_NATIVE=0');
if (process.platform === 'win32') skip('no build on Windows');
const headers = nodeHeaders();
if (!headers) skip("Node-API's headers (node_api.h) were not found beside node");
const cc = process.env.CC || 'cc';
const partial = target.replace(/\.node$/, `.${process.pid}.partial.node`); // require() loads only .node files as addons
mkdirSync(path.dirname(target), { recursive: true });
const args = ['-O3', '-shared', '-fPIC', `-I${headers}`, '-o', partial, source, '-ljpeg'];
if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
const built = spawnSync(cc, args, { encoding: 'utf8' });
if (built.error || built.status !== 0) {
  rmSync(partial, { force: true });
  const why = built.error
    ? `${cc}: ${built.error.code ?? built.error.message}`
    : (built.stderr.split('\n').find((l) => /error/i.test(l)) ?? `${cc} exited ${built.status}`).trim();
  skip(why.includes('jpeglib.h') ? 'jpeglib.h not found: Debian/Ubuntu apt-get install libjpeg-dev' : why);
}
try {
  const loaded = createRequire(import.meta.url)(partial);
  for (const fn of ['decode', 'reduceRows', 'reduceCols', 'affineRows']) if (typeof loaded[fn] !== 'function') throw new Error(`no ${fn} function`);
} catch (e) {
  rmSync(partial, { force: true });
  skip(`the module does not load: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
}
renameSync(partial, target);
process.stdout.write(`imgclass: native pixel kernels built (${path.relative(root, target)})\n`);
