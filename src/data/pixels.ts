/**
 * Pixel arithmetic with no host dependency: the same module runs in Node (beside sharp) and in the
 * browser bundle (device mode), so geometry decisions such as where a crop starts cannot drift
 * between the two hosts.
 */

/** Decoded pixels: tightly packed 8-bit RGB, row-major, no alpha. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A rectangle in pixel coordinates (may be fractional before it is clamped). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The ways a photo is fitted to a model's input (the CLI's choices come from here). */
export const RESIZE_MODES = [
  /** Keras `load_img(target_size=...)`: stretch to the target, aspect ratio not kept. */
  'squash',
  /** Scale the shorter side to the target, then take the centre square (timm/torchvision style). */
  'center-crop',
  /**
   * Scale the shorter side to the target and keep the whole photo, aspect ratio intact; the longer
   * side is capped at MAX_ASPECT × the target (centre-cropped beyond). Gives a variable input size,
   * so only for backbones that pool globally (MobileNet). A wide photo of a bus keeps both ends.
   */
  'keep-aspect',
] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

/** Longest side / shortest side that 'keep-aspect' keeps (a panorama must not become a huge tensor). */
export const MAX_ASPECT = 2;

/** The size `resize` gives an image of w×h (fixed for squash and crop, variable for keep-aspect). */
export function resizedSize(w: number, h: number, width: number, height: number, mode: ResizeMode): { width: number; height: number } {
  if (mode !== 'keep-aspect') return { width, height };
  const side = Math.min(width, height);
  const k = side / Math.min(w, h);
  return { width: Math.min(Math.max(side, Math.round(w * k)), MAX_ASPECT * side), height: Math.min(Math.max(side, Math.round(h * k)), MAX_ASPECT * side) };
}

/** The integer rectangle `crop` takes for a requested (possibly fractional, overhanging) one. */
export function cropRect(img: { width: number; height: number }, r: Rect): { left: number; top: number; width: number; height: number } {
  const left = Math.max(0, Math.floor(r.x));
  const top = Math.max(0, Math.floor(r.y));
  const width = Math.max(1, Math.min(img.width - left, Math.ceil(r.width)));
  const height = Math.max(1, Math.min(img.height - top, Math.ceil(r.height)));
  return { left, top, width, height };
}

/**
 * The central `fraction` of each side (TF's central_crop, done before the resize): the rectangle a
 * model with Preprocessing.crop is fed from, on either host. Rounded like TF (offsets floored).
 */
export function centralCrop(img: { width: number; height: number }, fraction: number): Rect {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`central crop fraction must be in (0, 1], not ${fraction}`);
  const width = Math.max(1, Math.round(img.width * fraction));
  const height = Math.max(1, Math.round(img.height * fraction));
  return { x: Math.floor((img.width - width) / 2), y: Math.floor((img.height - height) / 2), width, height };
}

/** A photo as a model with Preprocessing.crop is fed from it, before the resize (the photo itself when it has none). */
export function modelCrop(img: RgbImage, p: { crop?: number }): RgbImage {
  return p.crop !== undefined && p.crop < 1 ? cropPixels(img, centralCrop(img, p.crop)) : img;
}

/** Copy a rectangle out (clamped as `cropRect` says). */
export function cropPixels(img: RgbImage, r: Rect): RgbImage {
  const { left, top, width, height } = cropRect(img, r);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(s, s + width * 3), y * width * 3);
  }
  return { data: out, width, height };
}

/**
 * Images of one size as one NHWC uint8 batch: what a model graph that normalises its own input
 * takes (a copy, so the batch's buffer can be handed to a worker thread).
 */
export function packPixels(images: RgbImage[]): { data: Uint8Array; dims: [number, number, number, number] } {
  const { width, height } = images[0]!;
  if (images.some((im) => im.width !== width || im.height !== height)) throw new Error('photos of different shapes cannot share a batch');
  const size = width * height * 3;
  const data = new Uint8Array(images.length * size);
  images.forEach((im, i) => data.set(im.data, i * size));
  return { data, dims: [images.length, height, width, 3] };
}

/** Mirror left-right, in memory (cheap; used for flip averaging). */
export function flipHorizontal(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  const row = img.width * 3;
  for (let y = 0; y < img.height; y++) {
    const base = y * row;
    for (let x = 0; x < img.width; x++) {
      const s = base + x * 3;
      const d = base + (img.width - 1 - x) * 3;
      out[d] = img.data[s]!;
      out[d + 1] = img.data[s + 1]!;
      out[d + 2] = img.data[s + 2]!;
    }
  }
  return { data: out, width: img.width, height: img.height };
}

/** Greyscale with OpenCV's BGR2GRAY weights (what the seed's Haar pipeline does). */
export function toGrey(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const g = new Uint8Array(n);
  for (let i = 0; i < n; i++) g[i] = Math.round(0.299 * img.data[i * 3]! + 0.587 * img.data[i * 3 + 1]! + 0.114 * img.data[i * 3 + 2]!);
  return g;
}
