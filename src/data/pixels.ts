import { takeBytes } from '../util/byte-pool.js';

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
  const out = takeBytes(width * height * 3);
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
  // sent to a worker session, which gives the buffer back for the next batch (util/byte-pool.ts)
  const data = takeBytes(images.length * size);
  images.forEach((im, i) => data.set(im.data, i * size));
  return { data, dims: [images.length, height, width, 3] };
}

/**
 * Mirror left-right, in memory (flip averaging: on every view the app reads). Four pixels at a
 * time as three 32-bit words where the rows allow it (a width divisible by 4, the data 4-byte
 * aligned, a little-endian machine): 0.05 ms for a 224×224 view against 0.15 ms byte by byte,
 * measured on the 2-core machine; the same bytes either way (test/preprocess.test.ts).
 */
export function flipHorizontal(img: RgbImage): RgbImage {
  const { data, width, height } = img;
  const out = takeBytes(data.length);
  if (width % 4 === 0 && data.byteOffset % 4 === 0 && LITTLE_ENDIAN)
    flipWords(new Uint32Array(data.buffer, data.byteOffset, data.length / 4), new Uint32Array(out.buffer, 0, data.length / 4), width, height);
  else flipBytes(data, out, width, height);
  return { data: out, width, height };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function flipBytes(data: Uint8Array, out: Uint8Array, width: number, height: number): void {
  const row = width * 3;
  for (let y = 0; y < height; y++) {
    const start = y * row;
    for (let s = start, d = start + row - 3; s < start + row; s += 3, d -= 3) {
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
}

/** Pixels p0..p3 (r0 g0 b0 r1 | g1 b1 r2 g2 | b2 r3 g3 b3, bytes of three words) become p3..p0 at the mirrored place. */
function flipWords(data: Uint32Array, out: Uint32Array, width: number, height: number): void {
  const row = (width * 3) / 4;
  for (let y = 0; y < height; y++) {
    const start = y * row;
    for (let s = start, d = start + row - 3; s < start + row; s += 3, d -= 3) {
      const w0 = data[s]!;
      const w1 = data[s + 1]!;
      const w2 = data[s + 2]!;
      out[d] = (w2 >>> 8) | (((w1 >>> 16) & 255) << 24);
      out[d + 1] = (w1 >>> 24) | ((w2 & 255) << 8) | ((w0 >>> 24) << 16) | ((w1 & 255) << 24);
      out[d + 2] = ((w1 >>> 8) & 255) | ((w0 & 0xffffff) << 8);
    }
  }
}

/** Greyscale with OpenCV's BGR2GRAY weights (what the seed's Haar pipeline does). */
export function toGrey(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const g = new Uint8Array(n);
  for (let i = 0; i < n; i++) g[i] = Math.round(0.299 * img.data[i * 3]! + 0.587 * img.data[i * 3 + 1]! + 0.114 * img.data[i * 3 + 2]!);
  return g;
}
