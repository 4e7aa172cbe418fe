/**
 * What heads and routing do with probability vectors, with no host dependency: the server and the
 * browser's device mode rank, restrict and feed heads through this one module.
 */

import type { ClassInfo } from '../data/class-info.js';

export type { ClassInfo } from '../data/class-info.js';

/** A class name and its probability, as answers list them. */
export interface ClassProbability {
  name: string;
  probability: number;
}

/** What one forward pass of a pretrained backbone gives for one image. */
export interface BackboneOutput {
  /** Softmax over the 1000 ImageNet classes. */
  probabilities: Float32Array;
  /** The transfer-learning feature vector (MobileNet: 768-d global average pool). */
  features: Float32Array;
}

/** The k most probable classes, best first. */
export function topK(probabilities: Float32Array, classes: ClassInfo[], k: number): ClassProbability[] {
  return Array.from(probabilities, (p, i) => ({ name: classes[i]!.name, probability: Math.round(p * 1e4) / 1e4 }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, Math.max(0, k));
}

/** ImageNet probabilities restricted to a subset of classes and renormalised (uniform if all zero). */
export function restrictProbabilities(probabilities: Float32Array, indices: number[]): Float32Array {
  const out = new Float32Array(indices.length);
  let sum = 0;
  indices.forEach((ci, j) => (sum += out[j] = probabilities[ci]!));
  for (let j = 0; j < out.length; j++) out[j] = sum > 0 ? out[j]! / sum : 1 / out.length;
  return out;
}

/** What a feature head reads from the backbone's outputs: the features, or features then probabilities. */
export function headInput(m: { input: 'features' | 'features+probabilities' | 'image' }, b: BackboneOutput): Float32Array {
  if (m.input === 'features') return b.features;
  const out = new Float32Array(b.features.length + b.probabilities.length);
  out.set(b.features);
  out.set(b.probabilities, b.features.length);
  return out;
}
