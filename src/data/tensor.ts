import { toGrey, type ResizeMode, type RgbImage } from './pixels.js';
import { otsuBinarize } from './otsu.js';

/*
 * Model-input arithmetic with no host dependency: the server and the browser's device mode turn
 * fitted pixels into tensors with this one module, so normalisation can never differ between them.
 */

/**
 * Everything needed to turn decoded pixels into a model's input tensor. It is stored with every
 * model (registry entries and trained model manifests), because a model served with different
 * preprocessing than it was trained with fails silently: no error, just wrong answers.
 *
 * Per channel: y = (x · scale − mean[c]) / std[c], where x is the 0–255 pixel value.
 */
export interface Preprocessing {
  width: number;
  height: number;
  resize: ResizeMode;
  /** Channel order fed to the model; 'grey' gives one channel. */
  colour: 'rgb' | 'bgr' | 'grey';
  layout: 'nhwc' | 'nchw';
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** Seed 2: greyscale → Otsu threshold → 0/1 (then scale/mean/std apply to the 0/1 values × 255). */
  binarize?: 'otsu';
  /**
   * Keep only this central fraction of each side before resizing (Inception-style central crop,
   * 0.875 for TFLite's ImageNet classifiers: with 'center-crop' that is "shorter side 256, centre
   * 224"). Absent = the whole photo. See pixels.ts's centralCrop.
   */
  crop?: number;
}

/** Named presets, as Keras applications and timm define them. */
export const PREPROCESSING_PRESETS = {
  /** MobileNet, Inception, Xception, EfficientNet-TF ('tf' mode): x/127.5 − 1, RGB. */
  tf: (size: number): Preprocessing => ({
    width: size,
    height: size,
    resize: 'squash',
    colour: 'rgb',
    layout: 'nhwc',
    scale: 1,
    mean: [127.5, 127.5, 127.5],
    std: [127.5, 127.5, 127.5],
  }),
  /** ResNet-50 / VGG16 in Keras ('caffe' mode): BGR, ImageNet mean subtracted, no scaling. */
  caffe: (size: number): Preprocessing => ({
    width: size,
    height: size,
    resize: 'squash',
    colour: 'bgr',
    layout: 'nhwc',
    scale: 1,
    mean: [103.939, 116.779, 123.68],
    std: [1, 1, 1],
  }),
  /** torchvision/timm ('torch' mode): x/255, ImageNet mean/std, NCHW, shorter side + centre crop. */
  torch: (size: number): Preprocessing => ({
    width: size,
    height: size,
    resize: 'center-crop',
    colour: 'rgb',
    layout: 'nchw',
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
  }),
  /** The seed's CNN from scratch: x/255. */
  rescale: (size: number): Preprocessing => ({
    width: size,
    height: size,
    resize: 'squash',
    colour: 'rgb',
    layout: 'nhwc',
    scale: 1 / 255,
    mean: [0, 0, 0],
    std: [1, 1, 1],
  }),
  /** Seed 2: Otsu-binarised greyscale at 300×300, values 0/1. */
  otsu: (size: number): Preprocessing => ({
    width: size,
    height: size,
    resize: 'squash',
    colour: 'grey',
    layout: 'nhwc',
    scale: 1 / 255,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    binarize: 'otsu',
  }),
} as const;

export function channelsOf(p: Preprocessing): number {
  return p.colour === 'grey' ? 1 : 3;
}

/** Two preprocessing specs produce the same tensors (used to refuse mismatched model + backbone). */
export function samePreprocessing(a: Preprocessing, b: Preprocessing): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(p: Preprocessing) {
  return [p.width, p.height, p.resize, p.colour, p.layout, p.scale, p.mean, p.std, p.binarize ?? null, p.crop ?? 1];
}

/**
 * Write one already-resized image into `out` at sample index `index` (a batch buffer of
 * batch × H × W × C floats), applying colour order, binarisation and normalisation.
 */
export function writeSample(img: RgbImage, p: Preprocessing, out: Float32Array, index: number): void {
  const fixed = p.resize !== 'keep-aspect';
  if (fixed ? img.width !== p.width || img.height !== p.height : Math.min(img.width, img.height) !== Math.min(p.width, p.height)) {
    throw new Error(`image is ${img.width}×${img.height}, expected ${p.width}×${p.height} (${p.resize}); call resizeFor first`);
  }
  const hw = img.width * img.height;
  const c = channelsOf(p);
  const base = index * hw * c;
  if (p.colour === 'grey') {
    let grey = toGrey(img);
    if (p.binarize === 'otsu') grey = otsuBinarize(grey).binary.map((v) => v * 255);
    for (let i = 0; i < hw; i++) out[base + i] = (grey[i]! * p.scale - p.mean[0]) / p.std[0];
    return;
  }
  // y = x·(scale/std) + (−mean/std) per channel: one multiply-add per value on the hot path
  // (the same arithmetic an exported graph does).
  const [s0, s1, s2] = p.colour === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const [m0, m1, m2] = [0, 1, 2].map((ch) => p.scale / p.std[ch]!) as [number, number, number];
  const [a0, a1, a2] = [0, 1, 2].map((ch) => -p.mean[ch]! / p.std[ch]!) as [number, number, number];
  const d = img.data;
  // One pass over the pixels, all three channels at once (the hot loop of every forward pass).
  if (p.layout === 'nhwc') {
    for (let i = 0, k = 0, o = base; i < hw; i++, k += 3, o += 3) {
      out[o] = d[k + s0]! * m0 + a0;
      out[o + 1] = d[k + s1]! * m1 + a1;
      out[o + 2] = d[k + s2]! * m2 + a2;
    }
  } else {
    for (let i = 0, k = 0; i < hw; i++, k += 3) {
      out[base + i] = d[k + s0]! * m0 + a0;
      out[base + hw + i] = d[k + s1]! * m1 + a1;
      out[base + 2 * hw + i] = d[k + s2]! * m2 + a2;
    }
  }
}

export function batchShape(n: number, p: Preprocessing, width = p.width, height = p.height): [number, number, number, number] {
  const c = channelsOf(p);
  return p.layout === 'nhwc' ? [n, height, width, c] : [n, c, height, width];
}
