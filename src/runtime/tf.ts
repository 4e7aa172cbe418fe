import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

export type TfBackendName = 'wasm' | 'cpu';

let ready: Promise<TfBackendName> | undefined;

/**
 * Start TF.js once per process. The wasm backend (XNNPACK, SIMD) is ~20× faster than the pure-JS
 * cpu backend on this kind of machine; `IMGCLASS_TF_BACKEND=cpu` forces the reference backend.
 * tfjs-node is not an option: its install downloads a native library from outside npm.
 */
export function initTf(preferred?: TfBackendName): Promise<TfBackendName> {
  ready ??= (async () => {
    const want = preferred ?? (process.env.IMGCLASS_TF_BACKEND as TfBackendName | undefined) ?? 'wasm';
    tf.env().set('PROD', true); // no debug checks, no "hi there" console banner
    registerWasmTrainingKernels();
    if (!(await tf.setBackend(want))) {
      if (!(await tf.setBackend('cpu'))) throw new Error('no TF.js backend could be started');
    }
    await tf.ready();
    return tf.getBackend() as TfBackendName;
  })();
  return ready;
}

export { tf };
