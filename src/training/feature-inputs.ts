import type { FeatureRow } from '../features/bottleneck.js';
import type { ModelInput } from '../models/model-dir.js';
import { tf } from '../runtime/tf.js';
import { rng } from '../util/random.js';

// Feature rows as a head reads them, host-neutral: the command line's training (inputs.ts
// re-exports these) and the browser's device-mode training build their tensors here.

/** A feature row as the model reads it ('features' or 'features+probabilities'), mirrored or not. */
export function featureVector(row: FeatureRow, input: ModelInput, mirrored: boolean): Float32Array {
  const f = mirrored ? row.flipFeatures : row.features;
  if (input === 'features') return f;
  const p = mirrored ? row.flipProbabilities : row.probabilities;
  const out = new Float32Array(f.length + p.length);
  out.set(f);
  out.set(p, f.length);
  return out;
}

export function featureMatrix(rows: FeatureRow[], input: ModelInput, mirrored: (i: number) => boolean = () => false): tf.Tensor2D {
  const dim = featureVector(rows[0]!, input, false).length;
  const m = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => m.set(featureVector(r, input, mirrored(i)), i * dim));
  return tf.tensor2d(m, [rows.length, dim]);
}

/** Feature-space augmentation: each epoch, each training photo is seen as itself or mirrored. */
export function mirrorAugmenter(rows: FeatureRow[], input: ModelInput, seed: number): (epoch: number) => tf.Tensor {
  return (epoch) => {
    const random = rng(seed * 1000 + epoch);
    return featureMatrix(rows, input, () => random() < 0.5);
  };
}
