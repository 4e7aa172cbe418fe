import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from './image.js';

/**
 * Geometry on decoded RGB pixels. Each step is its own sharp pipeline on purpose: sharp runs
 * one resize and one extend per pipeline in a fixed order, whatever order they are chained in.
 */
const raw = (img: RgbImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });

async function toRgb(p: Sharp): Promise<RgbImage> {
  const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
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

export async function resize(img: RgbImage, width: number, height: number, mode: ResizeMode = 'squash'): Promise<RgbImage> {
  const size = resizedSize(img.width, img.height, width, height, mode);
  if (img.width === size.width && img.height === size.height) return img;
  // Bilinear matches Keras load_img's default interpolation ('nearest' in old Keras; bilinear in PIL-based tf.keras).
  return toRgb(raw(img).resize(size.width, size.height, { fit: mode === 'squash' ? 'fill' : 'cover', position: 'centre', kernel: 'linear' }));
}

/** Pad every side by `px` pixels, mirroring the border (keeps detectors from seeing an artificial edge). */
export async function padMirror(img: RgbImage, px: number): Promise<RgbImage> {
  if (px <= 0) return img;
  return toRgb(raw(img).extend({ top: px, bottom: px, left: px, right: px, extendWith: 'mirror' }));
}

/** Pad right and bottom with a constant colour up to width×height (letterboxing at the top-left). */
export async function padTo(img: RgbImage, width: number, height: number, value: number): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  return toRgb(raw(img).extend({ right: width - img.width, bottom: height - img.height, background: { r: value, g: value, b: value } }));
}

/** Crop a rectangle (clamped to the image). */
export async function crop(img: RgbImage, x: number, y: number, w: number, h: number): Promise<RgbImage> {
  const left = Math.max(0, Math.floor(x));
  const top = Math.max(0, Math.floor(y));
  const width = Math.max(1, Math.min(img.width - left, Math.ceil(w)));
  const height = Math.max(1, Math.min(img.height - top, Math.ceil(h)));
  return toRgb(raw(img).extract({ left, top, width, height }));
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

/** Encode RGB pixels (e.g. for thumbnails and reports). */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return raw(img).png().toBuffer();
}
