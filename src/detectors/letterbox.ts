import type { RgbImage } from '../data/pixels.js';

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
  /** A copy of the RGB pixels, 1×H×W×3 uint8 (a copy, because a worker session takes ownership of its inputs). */
  pixels: Uint8Array;
  dims: number[];
  /** Resize's `sizes` (N, C, H, W). */
  size: BigInt64Array;
  /** Pad's `pads`: nothing at the top and left, up to side² at the bottom and right. */
  pads: BigInt64Array;
  /** Maps the detector's boxes back to the image. */
  scale: number;
}

/** What a host feeds a letterboxing graph for one image. */
export function letterboxFeeds(image: RgbImage, side: number): LetterboxFeeds {
  if (image.width < 1 || image.height < 1 || image.data.length !== image.width * image.height * 3) {
    throw new Error(`letterbox: expected ${image.width}×${image.height}×3 RGB bytes, got ${image.data.length}`);
  }
  const box = letterbox(image, side);
  return {
    pixels: image.data.slice(),
    dims: [1, image.height, image.width, 3],
    size: BigInt64Array.from([1n, 3n, BigInt(box.height), BigInt(box.width)]),
    pads: BigInt64Array.from([0n, 0n, 0n, 0n, 0n, 0n, BigInt(side - box.height), BigInt(side - box.width)]),
    scale: box.scale,
  };
}
