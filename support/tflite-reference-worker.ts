/**
 * One LiteRT.js runtime in a worker thread (started by tflite-reference.ts). LiteRT.js keeps its
 * wasm module in a process-wide global, so two builds (relaxed SIMD and compat) can only be
 * compared side by side from separate threads; a worker also keeps the test's thread free.
 *
 * LiteRT.js is written for browsers: it loads its emscripten script with importScripts or a
 * <script> tag and looks for a WebGPU device. Here importScripts is provided by evaluating the
 * package's own script with a CommonJS wrapper (emscripten's Node path then reads the .wasm beside
 * it with fs): no network, no browser.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import type { CompiledModel, LiteRt } from '@litertjs/core';

export interface WorkerInit {
  /** The emscripten loader script of the chosen build (a file path). */
  script: string;
  /** The model's bytes (shape-repaired if needed). */
  model: Uint8Array;
  threads: number;
  /** The build uses relaxed SIMD, which V8 ships from 11.4 (Node 22) and Node 20 has behind a flag. */
  relaxedSimd: boolean;
}
export type WorkerRequest = { id: number; input: Uint8Array };
export type WorkerReply = { id: number; output?: ArrayBuffer; dtype?: string; error?: string } | { ready: true } | { failed: string };

interface GlobalShim {
  self?: unknown;
  importScripts?: (file: string) => void;
  ModuleFactory?: unknown;
  Module?: { printErr(line: string): void };
}

const QUIET = /^INFO: |NPU accelerator could not be loaded/;

/** A module with one relaxed-SIMD instruction (LiteRT.js's own feature probe). */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11,
]);

async function start(init: WorkerInit): Promise<{ model: CompiledModel; Tensor: typeof import('@litertjs/core').Tensor }> {
  const g = globalThis as GlobalShim;
  g.self ??= globalThis;
  g.importScripts = (file: string) => {
    const wrapped = `(function (require, __dirname, __filename, module, exports) {${readFileSync(file, 'utf8')}\n})`;
    const fn = vm.runInThisContext(wrapped, { filename: file }) as (...a: unknown[]) => void;
    const mod = { exports: {} as unknown };
    fn(createRequire(file), path.dirname(file), file, mod, mod.exports);
    g.ModuleFactory = mod.exports;
    // emscripten's stderr: LiteRT logs every accelerator it registers at INFO, and that it has no
    // NPU; keep its errors and other warnings
    g.Module = { printErr: (line: string) => QUIET.test(line) || console.error(line) };
  };
  // LiteRT's environment probes navigator.gpu and warns with a stack when it is missing; quiet that
  // one message (the wasm accelerator needs no GPU) and keep every other warning visible.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Failed to create default WebGPU device')) return;
    warn(...args);
  };
  // Node 20's V8 validates relaxed-SIMD opcodes only with this flag; it enables that wasm feature
  // and nothing else (the same one Node 22 has on by default)
  if (init.relaxedSimd && !WebAssembly.validate(RELAXED_SIMD_PROBE)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  const { loadLiteRt, Tensor } = await import('@litertjs/core');
  const lrt: LiteRt = await loadLiteRt(init.script);
  const model = await lrt.loadAndCompile(init.model, { accelerator: 'wasm', cpuOptions: { numThreads: init.threads } });
  return { model, Tensor };
}

const port = parentPort!;
const init = workerData as WorkerInit;
start(init).then(
  ({ model, Tensor }) => {
    const shape = [...model.getInputDetails()[0]!.shape];
    port.postMessage({ ready: true } satisfies WorkerReply);
    // one request at a time: LiteRT's compiled model is not re-entrant
    let queue = Promise.resolve();
    port.on('message', (req: WorkerRequest) => {
      queue = queue.then(async () => {
        let input: InstanceType<typeof Tensor> | undefined;
        let outputs: InstanceType<typeof Tensor>[] = [];
        try {
          input = new Tensor(req.input as Uint8Array<ArrayBuffer>, shape);
          outputs = await model.run(input);
          const data = outputs[0]!.toTypedArray();
          const copy = data.slice().buffer as ArrayBuffer;
          port.postMessage({ id: req.id, output: copy, dtype: outputs[0]!.type.dtype } satisfies WorkerReply, [copy]);
        } catch (e) {
          port.postMessage({ id: req.id, error: e instanceof Error ? e.message : String(e) } satisfies WorkerReply);
        } finally {
          input?.delete();
          for (const t of outputs) t.delete();
        }
      });
    });
  },
  (e: unknown) => port.postMessage({ failed: e instanceof Error ? e.message : String(e) } satisfies WorkerReply),
);
