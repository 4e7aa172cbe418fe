import type { LabeledFile } from '../data/dataset.js';
import { loadImage } from '../data/image.js';
import { batchShape, channelsOf, resizeFor, writeSample, type Preprocessing } from '../data/preprocess.js';
import { tf } from '../runtime/tf.js';
import { rng } from '../util/random.js';

export { featureMatrix, featureVector, mirrorAugmenter } from './feature-inputs.js';

/** Decode and preprocess image files into one tensor (for CNNs trained on pixels). Unreadable files are skipped. */
export async function imageTensor(
  files: LabeledFile[],
  p: Preprocessing,
  onProgress?: (done: number) => void,
): Promise<{ x: tf.Tensor4D; labels: number[]; failures: { file: string; reason: string }[] }> {
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
 * Image augmentation per epoch (Keras ImageDataGenerator-style): random horizontal flip, rotation,
 * zoom and shift, composed into one affine map per image and applied in a single
 * `tf.image.transform` call (per-op overhead, not arithmetic, dominates on wasm), then brightness.
 * Brightness is skipped for binarised input, and binarised input is resampled nearest-neighbour.
 */
export function imageAugmenter(x: tf.Tensor4D, o: AugmentOptions, binary: boolean, seed: number): (epoch: number) => tf.Tensor {
  const [n, h, w] = x.shape;
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  return (epoch) => {
    const random = rng(seed * 7919 + epoch);
    const transforms: number[] = [];
    const factors: number[] = [];
    for (let i = 0; i < n; i++) {
      const theta = ((random() * 2 - 1) * o.rotation * Math.PI) / 180;
      const s = 1 - random() * o.zoom; // < 1: sample a smaller area, i.e. zoom in
      const tx = (random() * 2 - 1) * o.shift * w;
      const ty = (random() * 2 - 1) * o.shift * h;
      const flip = o.flip && random() < 0.5 ? -1 : 1;
      // output (x', y') → input (x, y) = s·R(θ)·(flip·(x' − cx), y' − cy) + (cx + tx, cy + ty)
      const a0 = flip * s * Math.cos(theta);
      const a1 = -s * Math.sin(theta);
      const b0 = flip * s * Math.sin(theta);
      const b1 = s * Math.cos(theta);
      transforms.push(a0, a1, cx + tx - a0 * cx - a1 * cy, b0, b1, cy + ty - b0 * cx - b1 * cy, 0, 0);
      factors.push(binary ? 1 : 1 + (random() * 2 - 1) * o.brightness);
    }
    return tf.tidy(() => {
      const out = tf.image.transform(x, tf.tensor2d(transforms, [n, 8]), binary ? 'nearest' : 'bilinear', binary ? 'constant' : 'nearest', 0);
      return binary ? out : tf.mul(out, tf.tensor4d(factors, [n, 1, 1, 1]));
    });
  };
}
