import type { Sharp } from 'sharp';
import { loadSharp, sharpRequested } from '../runtime/sharp.js';
import { cropPixels, resizedSize, type Rect, type ResizeMode, type RgbImage } from './pixels.js';
import { nativePixels } from './native-pixels.js';
import { resizeLike as resizeLikeIn, useResampleKernels, type Kernel } from './resample.js';

let kernelsChosen = false;

/** The pure resize, its inner loops in C where they were built (data/native-pixels.ts, loaded on first use): the same bytes. */
function resizeLike(img: RgbImage, width: number, height: number, mode: ResizeMode, kernel?: Kernel): RgbImage {
  if (!kernelsChosen) {
    useResampleKernels(nativePixels());
    kernelsChosen = true;
  }
  return resizeLikeIn(img, width, height, mode, kernel);
}

// Pure pixel arithmetic lives in pixels.ts (shared with the browser); re-exported for callers.
export { MAX_ASPECT, RESIZE_MODES, flipHorizontal, resizedSize, toGrey, type ResizeMode } from './pixels.js';

/**
 * Geometry on decoded RGB pixels. Each step is its own sharp pipeline on purpose: sharp runs
 * one resize and one extend per pipeline in a fixed order, whatever order they are chained in.
 */
const raw = async (img: RgbImage): Promise<Sharp> => (await loadSharp())(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });

async function toRgb(p: Sharp): Promise<RgbImage> {
  const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

export async function resize(img: RgbImage, width: number, height: number, mode: ResizeMode = 'squash'): Promise<RgbImage> {
  const size = resizedSize(img.width, img.height, width, height, mode);
  if (img.width === size.width && img.height === size.height) return img;
  // A fit at scale 1 (a photo whose shorter side is already the model's) is only a crop: sharp's
  // offset, cut in JavaScript (resample.ts), the same pixels without a libvips pipeline (~0.8 ms).
  if (mode !== 'squash' && Math.min(img.width / size.width, img.height / size.height) === 1) return resizeLike(img, width, height, mode);
  if (pureResizePays(img)) return resizeLike(img, width, height, mode);
  // Bilinear matches Keras load_img's default interpolation ('nearest' in old Keras; bilinear in PIL-based tf.keras).
  return toRgb((await raw(img)).resize(size.width, size.height, { fit: mode === 'squash' ? 'fill' : 'cover', position: 'centre', kernel: 'linear' }));
}

/**
 * Whether the pure resize (resample.ts: sharp's bytes exactly, test/resample.test.ts) should run
 * instead of sharp. It costs no libvips set-up (~0.8 ms a call) and no sharp at all in a process
 * that has not loaded it (its import: 70–150 ms of a cold `predict`), but it runs on this thread.
 * Measured warm on the 2-core machine, its loops in TypeScript: 90² → 224² 0.65 ms against 2.0 ms
 * for sharp, 298×224 → 320×240 1.0 against 2.8 ms, 640×427 → 224² 2.0 against 1.45 ms, 1024×768
 * → 224² 4.4 against 2.0 ms; with the native loops (data/native-pixels.ts) 640×427 → 224² 0.64 ms
 * and 1024×683 → 224² 0.98 ms (docs/startup.md, sixth round). So: small images always; larger
 * ones, up to 1024² pixels (the decode cap's longer side, squared), with the native loops, or while
 * sharp has not been asked for (a server without them loads it once ready and then shrinks large
 * photos with it).
 */
function pureResizePays(img: RgbImage): boolean {
  const pixels = img.width * img.height;
  return pixels <= PURE_RESIZE_PIXELS || (pixels <= 1024 * 1024 && (nativePixels() !== null || !sharpRequested()));
}

/** Up to this many input pixels (400²) the pure resize beats sharp's even when sharp is loaded. */
const PURE_RESIZE_PIXELS = 160_000;

/** To exactly width×height (the letterboxes' shrink: aspect already kept by the caller). */
export const resizeExactly = (img: RgbImage, width: number, height: number): Promise<RgbImage> => resize(img, width, height, 'squash');

/** Pad every side by `px` pixels, mirroring the border (keeps detectors from seeing an artificial edge). */
export async function padMirror(img: RgbImage, px: number): Promise<RgbImage> {
  if (px <= 0) return img;
  return toRgb((await raw(img)).extend({ top: px, bottom: px, left: px, right: px, extendWith: 'mirror' }));
}

/** Pad right and bottom with a constant colour up to width×height (letterboxing at the top-left). */
export async function padTo(img: RgbImage, width: number, height: number, value: number): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  return toRgb((await raw(img)).extend({ right: width - img.width, bottom: height - img.height, background: { r: value, g: value, b: value } }));
}

/** Crop a rectangle (clamped to the image). */
export async function crop(img: RgbImage, x: number, y: number, w: number, h: number): Promise<RgbImage> {
  return cropRegion(img, { x, y, width: w, height: h });
}

/**
 * `crop` with the rectangle as one value: the shape the shared pipelines' hosts take. Copying rows
 * is all an extract does, so it is pixels.ts's cropPixels (sharp's extract gave the same pixels,
 * after ~0.8 ms of pipeline set-up).
 */
export async function cropRegion(img: RgbImage, r: Rect): Promise<RgbImage> {
  return cropPixels(img, r);
}

/** Encode RGB pixels (e.g. for thumbnails and reports). */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return (await raw(img)).png().toBuffer();
}
