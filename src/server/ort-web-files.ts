import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Where onnxruntime-web's files are and the URLs they are served under: what the server needs at
 * start to declare its routes, apart from device-assets.ts (the graphs, the bundler), which loads
 * on the first device-mode request.
 */
const require = createRequire(import.meta.url);
/** onnxruntime-web's dist folder (its package.json is not exported; its CommonJS entry lives in dist/). */
export const ORT_WEB_DIST = path.dirname(require.resolve('onnxruntime-web'));
export const ORT_WEB_VERSION: string = (JSON.parse(readFileSync(path.join(ORT_WEB_DIST, '..', 'package.json'), 'utf8')) as { version: string }).version;
/** The onnxruntime-web files the page may ask for by name (all versioned by the URL). */
export const ORT_WEB_FILES: Record<string, string> = {
  'ort.wasm.min.mjs': 'text/javascript',
  'ort-wasm-simd-threaded.mjs': 'text/javascript',
};
export const ORT_WEB_PREFIX = `/ort/${ORT_WEB_VERSION}/`;
