import type * as tf from '@tensorflow/tfjs-core';
import { ImgclassError } from '../util/errors.js';

/**
 * A TF.js layers model's weights and model.json, with no host dependency: the file system I/O
 * (tfjs-io.ts) and the browser's device-mode training (web/train-device.ts, which keeps a run's
 * files in memory) decode and write them through these functions.
 */
/** The weights as float32 arrays by name (uint8/uint16-quantised weights dequantised). */
export function decodeWeights(files: { weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer }): Map<string, { data: Float32Array; shape: number[] }> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  let offset = 0;
  for (const s of files.weightSpecs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const q = s.quantization;
    const bytes = n * bytesPerElement(q?.dtype ?? s.dtype);
    const slice = files.weightData.slice(offset, offset + bytes);
    offset += bytes;
    let data: Float32Array;
    if (q && (q.dtype === 'uint8' || q.dtype === 'uint16') && q.scale !== undefined && q.min !== undefined) {
      const raw = q.dtype === 'uint8' ? new Uint8Array(slice) : new Uint16Array(slice);
      data = Float32Array.from(raw, (v) => v * q.scale! + q.min!);
    } else if (s.dtype === 'float32' && !q) {
      data = new Float32Array(slice);
    } else {
      throw new ImgclassError('MODEL_CORRUPT', `weight ${s.name}: dtype ${s.dtype}${q ? ` quantised as ${q.dtype}` : ''} is not supported`);
    }
    out.set(s.name, { data, shape: s.shape });
  }
  return out;
}


/** All weight bytes of saved artifacts, in manifest order, as one array (weights.bin). */
export function weightBytes(artifacts: Pick<tf.io.ModelArtifacts, 'weightData'>): Uint8Array {
  const w = artifacts.weightData;
  if (!w) return new Uint8Array(0);
  if (w instanceof ArrayBuffer) return new Uint8Array(w);
  const out = new Uint8Array(w.reduce((n, b) => n + b.byteLength, 0));
  let o = 0;
  for (const b of w) {
    out.set(new Uint8Array(b), o);
    o += b.byteLength;
  }
  return out;
}

/** model.json for artifacts whose weights are stored as one `weights.bin`. */
export function layersModelJson(artifacts: Pick<tf.io.ModelArtifacts, 'modelTopology' | 'trainingConfig' | 'weightSpecs'>): string {
  return JSON.stringify({
    format: 'layers-model',
    generatedBy: 'imgclass',
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    trainingConfig: artifacts.trainingConfig,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
  });
}

export function bytesPerElement(dtype: string): number {
  return dtype === 'bool' || dtype === 'uint8' ? 1 : dtype === 'float16' || dtype === 'uint16' ? 2 : 4;
}
