import type * as Ort from 'onnxruntime-web';

/**
 * onnxruntime-web, started the one way device mode starts it: loaded from the app's own URL (never
 * a CDN), its wasm binary handed over already fetched, and threads only where the page is
 * cross-origin isolated (SharedArrayBuffer). Shared by the breed app (device.ts) and training
 * (train-device.ts).
 */
export async function startOrtWeb(o: { module: string; glue: string }, wasm: Uint8Array): Promise<{ ort: typeof Ort; threads: number }> {
  // A variable, not a literal: the bundler leaves onnxruntime-web to be loaded from the app's own URL.
  const moduleUrl = o.module;
  const ort = (await import(/* @vite-ignore */ moduleUrl)) as typeof Ort;
  ort.env.wasm.wasmBinary = wasm.buffer as ArrayBuffer;
  ort.env.wasm.wasmPaths = { mjs: o.glue };
  const threads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  ort.env.wasm.numThreads = threads;
  return { ort, threads };
}

/** Session options of every device-mode model. */
export const ORT_WEB_SESSION: Ort.InferenceSession.SessionOptions = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
