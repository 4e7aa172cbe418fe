import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { ImgclassError } from '../util/errors.js';

/**
 * onnxruntime-node sessions, made one way everywhere. ORT is the inference engine of the whole
 * product: measured on the same tensors, a MobileNet pass takes ~4–6 ms here against ~69 ms on
 * TF.js wasm (bench:predict). Graph optimisation 'all' is where most of that comes from: it fuses
 * Conv+BN+Clip and turns convolutions into NCHWc blocks. `session.run` works on ORT's own threads,
 * so the event loop is free while a photo is inferred.
 */
export interface SessionOptions {
  /** Intra-op threads; default $IMGCLASS_THREADS or the machine's cores. Tiny graphs want 1. */
  threads?: number;
}

export function defaultThreads(): number {
  const env = Number(process.env.IMGCLASS_THREADS);
  return Number.isInteger(env) && env > 0 ? env : os.availableParallelism();
}

export async function createSession(model: string | Uint8Array, o: SessionOptions = {}): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: o.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  } catch (e) {
    const what = typeof model === 'string' ? model : 'an ONNX model';
    throw new ImgclassError('MODEL_CORRUPT', `onnxruntime cannot load ${what}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
}

export { ort };
