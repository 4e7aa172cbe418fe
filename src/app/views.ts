import type { Rect, RgbImage } from '../data/pixels.js';
import { COCO_CLASSES, type CocoBox } from '../detectors/coco-decode.js';

/**
 * Test-time views of a photo for the breed answer, and how their answers are combined. Host
 * independent (pixels in, pixels out; no model, no file system), so the in-browser app can build
 * the same views. Which views the app uses was chosen by `npm run bench:breeds` on a tuning half
 * of the unseen Imagewoof photos (README, "Breeds").
 *
 * Every view is a region of the photo; the backbone fits it to its input as usual (shorter side to
 * 224, centre square), and the unit averages it with its mirror image when flip is on.
 */
export type ViewSpec =
  /** The centre square of `crop` × the shorter side (1: today's centre crop; 0.875: ImageNet's usual 256→224 zoom). */
  | { kind: 'centre'; crop: number }
  /** A corner square of `crop` × the shorter side (the 10-crop protocol's corners). */
  | { kind: 'corner'; crop: number; corner: 'tl' | 'tr' | 'bl' | 'br' }
  /**
   * The square around a detected dog: the box grown by `margin` × its size on each side, squared
   * on its longer side and kept inside the photo. A small dog in a large scene fills the view.
   */
  | { kind: 'dog'; margin: number };

/** A box in image pixels (a detector's output). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function viewName(v: ViewSpec): string {
  if (v.kind === 'centre') return v.crop === 1 ? 'centre' : `centre ${v.crop}`;
  if (v.kind === 'corner') return `corner ${v.corner} ${v.crop}`;
  return `dog box +${v.margin}`;
}

/** The region of the photo a view shows, in pixels (a `dog` view without a box is the whole-photo centre crop). */
export function viewRegion(v: ViewSpec, width: number, height: number, dog?: Box): Box {
  const short = Math.min(width, height);
  if (v.kind === 'centre') {
    const s = short * v.crop;
    return { x: (width - s) / 2, y: (height - s) / 2, width: s, height: s };
  }
  if (v.kind === 'corner') {
    const s = short * v.crop;
    return { x: v.corner.endsWith('l') ? 0 : width - s, y: v.corner.startsWith('t') ? 0 : height - s, width: s, height: s };
  }
  if (!dog) return viewRegion({ kind: 'centre', crop: 1 }, width, height);
  return squareAround(dog, v.margin, width, height);
}

/**
 * The box grown by `margin` on each side, then made square on its longer side (so the backbone's
 * centre crop keeps all of it) and shifted inside the photo; never larger than the shorter side.
 */
export function squareAround(b: Box, margin: number, width: number, height: number): Box {
  const side = Math.min(Math.max(b.width, b.height) * (1 + 2 * margin), width, height);
  const cx = b.x + b.width / 2;
  const cy = b.y + b.height / 2;
  const x = Math.min(Math.max(0, cx - side / 2), width - side);
  const y = Math.min(Math.max(0, cy - side / 2), height - side);
  return { x, y, width: side, height: side };
}

/**
 * The views a photo gets: the policy's, less the dog view when YOLOX found no dog box at least
 * `dogScore` sure (a dog it cannot place gets the whole-photo views only), and the box used.
 */
export function dogViewPlan(policy: { views: readonly ViewSpec[]; dogScore: number }, objects: readonly CocoBox[]): { views: ViewSpec[]; dog?: Box } {
  const dog = objects.filter((b) => b.classId === COCO_CLASSES.dog && b.score >= policy.dogScore).sort((a, b) => b.score - a.score)[0];
  const views = policy.views.filter((v) => v.kind !== 'dog' || dog);
  return { views: views.length ? views : [{ kind: 'centre', crop: 1 }], ...(dog ? { dog } : {}) };
}

/**
 * The pixels of each view (the whole-photo centre view is the photo itself, fitted by the backbone
 * as before), cut out by the host's `crop` (the pure cropPixels, or sharp's extract: the same pixels).
 */
export function viewImages(
  image: RgbImage,
  views: readonly ViewSpec[],
  dog: Box | undefined,
  crop: (image: RgbImage, rect: Rect) => Promise<RgbImage>,
): Promise<RgbImage[]> {
  return Promise.all(
    views.map(async (v) => {
      if (v.kind === 'centre' && v.crop === 1) return image;
      return crop(image, viewRegion(v, image.width, image.height, dog));
    }),
  );
}

/**
 * How views' class probabilities become one answer.
 * - 'mean': the mean of the probabilities (a view that is sure counts more);
 * - 'log-mean': the normalised geometric mean (mean of log-probabilities): a class must be
 *   plausible in every view, so one view's confident mistake is outvoted.
 */
export type CombineRule = 'mean' | 'log-mean';

export function combineViews(probs: readonly Float32Array[], rule: CombineRule, weights?: readonly number[]): Float32Array {
  if (probs.length === 0) throw new Error('combineViews: no views');
  const w = weights ?? probs.map(() => 1);
  const total = w.reduce((a, b) => a + b, 0);
  const n = probs[0]!.length;
  const out = new Float32Array(n);
  if (rule === 'mean') {
    probs.forEach((p, k) => {
      for (let i = 0; i < n; i++) out[i]! += (w[k]! / total) * p[i]!;
    });
    return out;
  }
  // Floor each probability: one view's exact zero must not veto a class outright.
  const logs = new Float64Array(n);
  probs.forEach((p, k) => {
    for (let i = 0; i < n; i++) logs[i]! += (w[k]! / total) * Math.log(Math.max(p[i]!, 1e-12));
  });
  let max = -Infinity;
  for (const v of logs) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += out[i] = Math.exp(logs[i]! - max);
  for (let i = 0; i < n; i++) out[i]! /= sum;
  return out;
}

/**
 * An unsure dog's breed with the ensemble's members (dog-pipeline.ts step 6b): the main backbone's
 * answer (its views already combined, weight 1) and each member view's probabilities (weight
 * `weights[i]`), by weighted log-mean. Different networks err differently; a breed every one of
 * them finds plausible wins over one network's confident mistake.
 */
export function combineEnsemble(own: Float32Array, members: readonly Float32Array[], weights: readonly number[]): Float32Array {
  if (members.length !== weights.length) throw new Error('combineEnsemble: one weight per member view');
  return members.length ? combineViews([own, ...members], 'log-mean', [1, ...weights]) : own;
}
