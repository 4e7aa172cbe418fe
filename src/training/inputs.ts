import type { LabeledFile } from '../data/dataset.js';
import { loadImage } from '../data/image.js';
import { batchShape, channelsOf, resizeFor, writeSample, type Preprocessing } from '../data/preprocess.js';
import type { FeatureRow } from '../features/bottleneck.js';
import type { ModelInput } from '../models/model-dir.js';
import { tf } from '../runtime/tf.js';
import { rng } from '../util/random.js';

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

/** Decode and preprocess image files into one tensor (for CNNs trained on pixels). Unreadable files are skipped. */
export async function imageTensor(files: LabeledFile[], p: Preprocessing, onProgress?: (done: number) => void): Promise<{ x: tf.Tensor4D; labels: number[]; failures: { file: string; reason: string }[] }> {
  const per = p.width * p.height * channelsOf(p);
  const buf = new Float32Array(files.length * per);
  const labels: number[] = [];
  const failures: { file: string; reason: string }[] = [];
  for (const f of files) {
    try {
      const img = await resizeFor(await loadImage(f.file), p);
      writeSample(img, p, buf, labels.length);
      labels.push(f.label);
    } catch (e) {
      failures.push({ file: f.file, reason: (e as Error).message });
    }
    onProgress?.(labels.length + failures.length);
  }
  return { x: tf.tensor4d(buf.subarray(0, labels.length * per), batchShape(labels.length, p)), labels, failures };
}

export interface AugmentOptions {
  flip: boolean;
  /** Largest shift and zoom as a fraction of the side; brightness as a factor range ±. */
  shift: number;
  zoom: number;
  brightness: number;
  /** Largest rotation, in degrees either way. */
  rotation: number;
}

/**
 * Image augmentation per epoch (Keras ImageDataGenerator-style): random horizontal flips, small
 * rotations, shifts and zoom (one crop-and-resize per image), and brightness. Brightness is
 * skipped for binarised input.
 */
export function imageAugmenter(x: tf.Tensor4D, o: AugmentOptions, binary: boolean, seed: number): (epoch: number) => tf.Tensor {
  const [n, h, w] = x.shape;
  return (epoch) => {
    const random = rng(seed * 7919 + epoch);
    const boxes: number[] = [];
    const factors: number[] = [];
    const flips: number[] = [];
    const angles: number[] = [];
    for (let i = 0; i < n; i++) {
      angles.push(((random() * 2 - 1) * o.rotation * Math.PI) / 180);
      const z = 1 - random() * o.zoom;
      const dy = (random() * 2 - 1) * o.shift;
      const dx = (random() * 2 - 1) * o.shift;
      const y1 = Math.min(Math.max(0, (1 - z) / 2 + dy), 1 - z);
      const x1 = Math.min(Math.max(0, (1 - z) / 2 + dx), 1 - z);
      boxes.push(y1, x1, y1 + z, x1 + z);
      factors.push(binary ? 1 : 1 + (random() * 2 - 1) * o.brightness);
      flips.push(o.flip && random() < 0.5 ? 1 : 0);
    }
    return tf.tidy(() => {
      const idx = tf.range(0, n, 1, 'int32');
      let out = tf.image.cropAndResize(x, tf.tensor2d(boxes, [n, 4]), idx, [h, w], binary ? 'nearest' : 'bilinear');
      const mask = tf.tensor4d(flips, [n, 1, 1, 1]);
      out = tf.add(tf.mul(tf.reverse(out, 2), mask), tf.mul(out, tf.sub(1, mask)));
      if (!binary) out = tf.mul(out, tf.tensor4d(factors, [n, 1, 1, 1]));
      if (o.rotation > 0) {
        // rotateWithOffset takes one angle per call: rotate sample by sample
        const parts = tf.split(out, n);
        out = tf.concat(parts.map((p, i) => tf.image.rotateWithOffset(p as tf.Tensor4D, angles[i]!, binary ? 0 : 0.5)));
      }
      return out;
    });
  };
}
