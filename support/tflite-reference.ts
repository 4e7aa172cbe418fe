/**
 * A real TFLite runtime as the reference for the project's own TFLite → ONNX conversion: Google's
 * LiteRT.js (`@litertjs/core`, the TFLite runtime compiled to WebAssembly) run in Node from the
 * package's own files, no network and no browser.
 *
 *   const ref = await openTfliteReference('model.tflite');
 *   const probs = await ref.run(nhwcUint8);   // Float32Array, dequantised: scale × (q − zero point)
 *   ref.close();
 *
 * Kernel paths (`kernels`): LiteRT.js 2.5.3 has one CPU accelerator, 'wasm', and no switch for
 * its kernels, but which ones run follows from the file: XNNPack's delegate takes an op only when
 * its tensors have static shapes stored in the file; everything else runs on TFLite's built-in
 * kernels (optimized_ops, gemmlowp/ruy-style integer arithmetic). So
 * - 'xnnpack' (default): every activation shape is filled in (tflite-file.ts infers them as the
 *   interpreter does) and XNNPack takes the whole graph: LiteRT's fast path, what a browser runs;
 * - 'builtin': every activation shape is emptied, and the interpreter's built-in kernels run it all.
 * Only shape metadata changes, never weights, ops or quantisation. MobileNet-EdgeTPU's file as
 * shipped stores almost no activation shapes, so LiteRT on the raw file runs 'builtin'.
 *
 * Wasm builds (`build`): `relaxed-simd` (what LiteRT picks where relaxed SIMD is on: Chrome ≥ 114,
 * Node 22; Node 20 has it behind a V8 flag, which the worker sets) and `compat` (plain wasm SIMD128,
 * what LiteRT picks on Node 20 and older browsers); they compile XNNPack's kernels differently.
 * The bench compares all of these. See docs/tflite-reference.md.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { sharedDir } from './shared.js';
import { readTfliteIo, withoutActivationShapes, withStaticShapes, type TfliteTensorInfo } from './tflite-file.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './tflite-reference-worker.js';

const WORKER = new URL('./tflite-reference-worker.ts', import.meta.url).href;

/** LiteRT.js's CPU wasm builds (both are XNNPack; they differ in the SIMD instructions, hence kernels). */
export const LITERT_BUILDS = ['relaxed-simd', 'compat'] as const;
export type LiteRtBuild = (typeof LITERT_BUILDS)[number];

const BUILD_SCRIPTS: Record<LiteRtBuild, string> = { 'relaxed-simd': 'litert_wasm_internal.js', compat: 'litert_wasm_compat_internal.js' };

/** Which of LiteRT's CPU kernels run the model (see the top of this file). */
export const LITERT_KERNELS = ['xnnpack', 'builtin'] as const;
export type LiteRtKernels = (typeof LITERT_KERNELS)[number];

export interface TfliteReferenceOptions {
  /** XNNPack (default) or TFLite's built-in kernels. */
  kernels?: LiteRtKernels;
  /** Which LiteRT wasm build runs the model (default 'relaxed-simd', what LiteRT picks itself here). */
  build?: LiteRtBuild;
  /** Threads for LiteRT's CPU accelerator (default 1: these single-threaded builds take no more). */
  threads?: number;
}

export interface TfliteReference {
  /** One NHWC uint8 image of the model's input shape (1×224×224×3 for the shipped classifiers) → output 0, dequantised. */
  run(input: Uint8Array): Promise<Float32Array>;
  close(): void;
  /** The file's graph input and output (shape, type, quantisation) as stored. */
  readonly input: TfliteTensorInfo;
  readonly output: TfliteTensorInfo;
  readonly build: LiteRtBuild;
  readonly kernels: LiteRtKernels;
  /** Whether LiteRT's accelerator took every op (false: some ran on TFLite's built-in kernels). */
  readonly fullyAccelerated: boolean;
  /** Shapes the file left to the interpreter, filled in before LiteRT compiled it (see tflite-file.ts). */
  readonly repairedShapes: { name: string; shape: number[] }[];
}

/** The directory of LiteRT.js's wasm files inside node_modules. */
export function litertWasmDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@litertjs/core/package.json')), 'wasm');
}

/** Open a .tflite file in LiteRT.js (in a worker thread of its own). */
export async function openTfliteReference(file: string, opts: TfliteReferenceOptions = {}): Promise<TfliteReference> {
  const build = opts.build ?? 'relaxed-simd';
  const kernels = opts.kernels ?? 'xnnpack';
  if (!LITERT_BUILDS.includes(build)) throw new Error(`unknown LiteRT build '${build}' (${LITERT_BUILDS.join(', ')})`);
  if (!LITERT_KERNELS.includes(kernels)) throw new Error(`unknown LiteRT kernels '${kernels}' (${LITERT_KERNELS.join(', ')})`);
  const original = new Uint8Array(await readFile(file));
  const io = readTfliteIo(original);
  if (io.inputs.length !== 1 || io.outputs.length < 1)
    throw new Error(`${file}: the reference runs one-input models (this one has ${io.inputs.length} inputs)`);
  const { bytes, repaired } = kernels === 'xnnpack' ? withStaticShapes(original, 'all') : withStaticShapes(withoutActivationShapes(original), 'outputs');
  const input = io.inputs[0]!;
  const output = io.outputs[0]!;
  const inputSize = input.shape.reduce((a, b) => a * b, 1);
  if (input.dtype !== 'uint8') throw new Error(`${file}: input ${input.name} is ${input.dtype}; the reference takes uint8 pixels`);

  const init: WorkerInit = {
    script: path.join(litertWasmDir(), BUILD_SCRIPTS[build]),
    model: bytes,
    threads: opts.threads ?? 1,
    relaxedSimd: build === 'relaxed-simd',
  };
  // A worker does not inherit tsx's loader hooks (Node 20), so it registers them before loading its TypeScript.
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER)}); })`;
  const worker = new Worker(bootstrap, { eval: true, workerData: init });
  const pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let closed = false;
  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };

  const fullyAccelerated = await new Promise<boolean>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: WorkerReply) => {
      if ('ready' in m) resolve(m.fullyAccelerated);
      else reject(new Error(`LiteRT could not load ${file}: ${'failed' in m ? m.failed : 'unexpected reply'}`));
    });
  }).catch(async (e: unknown) => {
    await worker.terminate();
    throw e;
  });

  const dequantise = (raw: ArrayBuffer, dtype: string | undefined): Float32Array => {
    if (dtype === 'float32') return new Float32Array(raw);
    const q = dtype === 'uint8' ? new Uint8Array(raw) : dtype === 'int32' ? new Int32Array(raw) : undefined;
    if (!q) throw new Error(`LiteRT returned an output of type ${dtype}, which the reference does not dequantise`);
    // int8 outputs come back from LiteRT.js as uint8 bytes (it has no int8 typed array): reinterpret them
    const values = output.dtype === 'int8' ? new Int8Array(raw) : q;
    const { scale, zeroPoint } = output.quantization ?? { scale: 1, zeroPoint: 0 };
    return Float32Array.from(values, (v) => scale * (v - zeroPoint));
  };

  worker.on('message', (m: WorkerReply) => {
    if (!('id' in m)) return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error !== undefined || !m.output) p.reject(new Error(`LiteRT failed on ${file}: ${m.error ?? 'no output'}`));
    else {
      try {
        p.resolve(dequantise(m.output, m.dtype));
      } catch (e) {
        p.reject(e as Error);
      }
    }
  });
  worker.on('error', (e) => failAll(e));
  worker.on('exit', (code) => {
    if (!closed) failAll(new Error(`the LiteRT worker for ${file} exited (code ${code})`));
  });

  return {
    input,
    output,
    build,
    kernels,
    fullyAccelerated,
    repairedShapes: repaired,
    run(pixels: Uint8Array): Promise<Float32Array> {
      if (closed) return Promise.reject(new Error('the TFLite reference is closed'));
      if (!(pixels instanceof Uint8Array) || pixels.length !== inputSize)
        return Promise.reject(new Error(`the TFLite reference takes ${inputSize} uint8 values (${input.shape.join('×')}), got ${pixels?.length}`));
      const id = nextId++;
      return new Promise<Float32Array>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, input: pixels } satisfies WorkerRequest);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      failAll(new Error('the TFLite reference was closed'));
      void worker.terminate();
    },
  };
}

/** The two TFLite classifiers in ../shared/models (1001 outputs: background at 0, ImageNet class i at i + 1). */
export function shippedTfliteClassifiers(): { name: string; file: string; publishedTop1: number }[] {
  const models = path.join(sharedDir(), 'models');
  return [
    { name: 'mobilenet_edgetpu_224_1.0', file: path.join(models, 'mobilenet_edgetpu_224_1.0', 'mobilenet_edgetpu_224_1.0_uint8.tflite'), publishedTop1: 0.756 },
    { name: 'mobilenet_v2_1.0_224_quant', file: path.join(models, 'mobilenet_v2_1.0_224_quant', 'mobilenet_v2_1.0_224_quant.tflite'), publishedTop1: 0.708 },
  ];
}

/**
 * The ImageNet class (0–999) a 1001-way output names, among ImageNet classes `first`..`last`
 * (default all 1000): output i + 1 is class i, output 0 (background) never wins.
 */
export function imagenetArgmax(output: ArrayLike<number>, first = 0, last = 999): number {
  if (output.length !== 1001) throw new Error(`expected 1001 outputs (background + 1000 ImageNet classes), got ${output.length}`);
  let best = first;
  for (let c = first + 1; c <= last; c++) if (output[c + 1]! > output[best + 1]!) best = c;
  return best;
}
