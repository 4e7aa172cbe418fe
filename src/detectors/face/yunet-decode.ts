import type { RgbImage } from '../../data/pixels.js';
import { LETTERBOX_FEEDS, letterboxFeeds, type LetterboxFeeds, type ResizeTo } from '../letterbox.js';
import { clampBox, nms, type FaceBox } from './types.js';

/**
 * YuNet's input and output arithmetic, with no host dependency: the server (onnxruntime-node) and
 * the browser's device mode (onnxruntime-web) feed and decode with this one module, and run the
 * same graph, which letterboxes the pixels itself (yunet-graph.ts).
 *
 * YuNet's own input is 1×3×320×320 BGR 0–255; one anchor-free prior per cell at strides 8/16/32;
 * box = ((col + dx)·s, (row + dy)·s, e^dw·s, e^dh·s); score = sqrt(cls·obj). The image is
 * letterboxed (aspect kept, padded bottom-right) so boxes map back by one scale.
 */
export const YUNET_SIZE = 320;
export const YUNET_STRIDES = [8, 16, 32] as const;
export const YUNET_DEFAULTS = { scoreThreshold: 0.7, nmsIou: 0.3 } as const;

/** The inputs of YuNet with its preprocessing in the graph (yunet-graph.ts). */
export const YUNET_FEEDS = LETTERBOX_FEEDS;

/**
 * What each host feeds that graph for one image (letterbox.ts): its RGB pixels (shrunk by the host
 * first when larger than the letterbox), the letterbox size as Resize's `sizes` and the black
 * padding to 320² at the bottom and right as Pad's `pads`. The scale maps YuNet's boxes back to
 * the image (decodeYunet).
 */
export function yunetFeeds(image: RgbImage, shrink: ResizeTo): Promise<LetterboxFeeds> {
  return letterboxFeeds(image, YUNET_SIZE, shrink);
}

/** Faces in the original image's coordinates from YuNet's outputs (`cls_8`, `obj_8`, `bbox_8`, …). */
export function decodeYunet(
  outputs: Record<string, Float32Array>,
  scale: number,
  image: { width: number; height: number },
  o: { scoreThreshold?: number; nmsIou?: number } = {},
): FaceBox[] {
  const threshold = o.scoreThreshold ?? YUNET_DEFAULTS.scoreThreshold;
  const found: FaceBox[] = [];
  for (const s of YUNET_STRIDES) {
    const cls = outputs[`cls_${s}`]!;
    const obj = outputs[`obj_${s}`]!;
    const bbox = outputs[`bbox_${s}`]!;
    const cols = YUNET_SIZE / s;
    for (let i = 0; i < cls.length; i++) {
      const score = Math.sqrt(clamp01(cls[i]!) * clamp01(obj[i]!));
      if (score < threshold) continue;
      const row = Math.floor(i / cols);
      const col = i % cols;
      const cx = (col + bbox[i * 4]!) * s;
      const cy = (row + bbox[i * 4 + 1]!) * s;
      const bw = Math.exp(bbox[i * 4 + 2]!) * s;
      const bh = Math.exp(bbox[i * 4 + 3]!) * s;
      const box = clampBox((cx - bw / 2) / scale, (cy - bh / 2) / scale, bw / scale, bh / scale, image);
      if (box) found.push({ ...box, score });
    }
  }
  return nms(found, o.nmsIou ?? YUNET_DEFAULTS.nmsIou);
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
