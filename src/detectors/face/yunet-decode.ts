import type { RgbImage } from '../../data/pixels.js';
import { clampBox, nms, type FaceBox } from './types.js';

/**
 * YuNet's input and output arithmetic, with no host dependency: the server (onnxruntime-node,
 * sharp for the resize) and the browser's device mode (onnxruntime-web, the pure resize) letterbox,
 * pack and decode with this one module.
 *
 * Input 1×3×320×320 BGR 0–255; one anchor-free prior per cell at strides 8/16/32;
 * box = ((col + dx)·s, (row + dy)·s, e^dw·s, e^dh·s); score = sqrt(cls·obj). The image is
 * letterboxed (aspect kept, padded bottom-right) so boxes map back by one scale.
 */
export const YUNET_SIZE = 320;
export const YUNET_STRIDES = [8, 16, 32] as const;
export const YUNET_DEFAULTS = { scoreThreshold: 0.7, nmsIou: 0.3 } as const;

/** The letterbox: the scale and the size the image is resized to before padding to 320². */
export function yunetLetterbox(image: { width: number; height: number }): { scale: number; width: number; height: number } {
  const scale = YUNET_SIZE / Math.max(image.width, image.height);
  return { scale, width: Math.max(1, Math.round(image.width * scale)), height: Math.max(1, Math.round(image.height * scale)) };
}

/**
 * The resized image padded (black, bottom-right) and packed as planar BGR floats, in one pass
 * over the image's own pixels: the padding is the array's zeros.
 */
export function yunetInput(resized: RgbImage): Float32Array {
  const { width, height, data } = resized;
  if (width > YUNET_SIZE || height > YUNET_SIZE) throw new Error(`yunetInput: ${width}×${height} does not fit ${YUNET_SIZE}²`);
  const plane = YUNET_SIZE * YUNET_SIZE;
  const x = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let col = 0, o = y * YUNET_SIZE, s = y * width * 3; col < width; col++, o++, s += 3) {
      x[o] = data[s + 2]!; // B
      x[plane + o] = data[s + 1]!; // G
      x[2 * plane + o] = data[s]!; // R
    }
  }
  return x;
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
