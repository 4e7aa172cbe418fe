import type { RgbImage } from '../data/pixels.js';
import { copyBytes } from '../util/byte-pool.js';

/**
 * The letterbox feeds of a detector graph that letterboxes its own input (letterbox-graph.ts:
 * YuNet at 320², YOLOX-nano at 416²), with no host dependency: the server (onnxruntime-node) and
 * the browser's device mode (onnxruntime-web) compute them with this one function, so both hosts
 * hand the graph the same sizes and the boxes map back by the same scale.
 */
export const LETTERBOX_FEEDS = { pixels: 'pixels', size: 'letterbox_size', pads: 'letterbox_pads' } as const;

/** The letterbox: the scale and the size the image is resized to before it is padded to side². */
export function letterbox(image: { width: number; height: number }, side: number): { scale: number; width: number; height: number } {
  const scale = side / Math.max(image.width, image.height);
  return { scale, width: Math.max(1, Math.round(image.width * scale)), height: Math.max(1, Math.round(image.height * scale)) };
}

export interface LetterboxFeeds {
  /** The RGB pixels (or the host's shrunk copy), 1×H×W×3 uint8; never the caller's buffer, which a worker session would take. */
  pixels: Uint8Array;
  dims: number[];
  /** Resize's `sizes` (N, C, H, W). */
  size: BigInt64Array;
  /** Pad's `pads`: nothing at the top and left, up to side² at the bottom and right. */
  pads: BigInt64Array;
  /** Maps the detector's boxes back to the image. */
  scale: number;
}

/** The host's resize to an exact size (sharp in Node; its pure emulation, data/resample.ts, in the browser). */
export type ResizeTo = (image: RgbImage, width: number, height: number) => Promise<RgbImage>;

/**
 * What a host feeds a letterboxing graph for one image.
 *
 * The graph only enlarges (its Resize has no antialiasing filter); a photo larger than its
 * letterbox is shrunk by the host first (`shrink`), always: shrinking needs a filter as wide as the
 * factor, and ORT's antialiased Resize with the Cast and Transpose in front of it cost 16 ms on a
 * 1024×768 photo (YuNet itself: 5–6 ms), where libvips shrinks it in about 2 ms. Both are a
 * triangle filter at half-pixel centres, so the pixels differ by rounding only, and the graph's
 * Resize then has nothing left to do.
 */
export async function letterboxFeeds(image: RgbImage, side: number, shrink: ResizeTo): Promise<LetterboxFeeds> {
  if (image.width < 1 || image.height < 1 || image.data.length !== image.width * image.height * 3) {
    throw new Error(`letterbox: expected ${image.width}×${image.height}×3 RGB bytes, got ${image.data.length}`);
  }
  const box = letterbox(image, side);
  const src = box.scale < 1 ? await shrink(image, box.width, box.height) : image;
  return {
    pixels: src === image ? copyBytes(image.data) : src.data,
    dims: [1, src.height, src.width, 3],
    size: BigInt64Array.from([1n, 3n, BigInt(box.height), BigInt(box.width)]),
    pads: BigInt64Array.from([0n, 0n, 0n, 0n, 0n, 0n, BigInt(side - box.height), BigInt(side - box.width)]),
    scale: box.scale,
  };
}

/** How a host makes onnxruntime tensors (onnxruntime-node and -web have the same constructor, but are different modules). */
export interface TensorMaker<T> {
  uint8(data: Uint8Array, dims: readonly number[]): T;
  int64(data: BigInt64Array, dims: readonly number[]): T;
}

/** The feeds as the graph's three named inputs, in the host's tensors. */
export function letterboxTensors<T>(x: LetterboxFeeds, make: TensorMaker<T>): Record<string, T> {
  return {
    [LETTERBOX_FEEDS.pixels]: make.uint8(x.pixels, x.dims),
    [LETTERBOX_FEEDS.size]: make.int64(x.size, [4]),
    [LETTERBOX_FEEDS.pads]: make.int64(x.pads, [8]),
  };
}
