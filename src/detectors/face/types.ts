import type { RgbImage } from '../../data/pixels.js';

/** A face rectangle in the pixel coordinates of the image given to `detect`. */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Detector confidence in 0..1 (Haar has none: 1). */
  score: number;
}

/** A face detector the dog app can use (YuNet, Haar, or your own). */
export interface FaceDetector {
  readonly name: string;
  /** Face boxes in the pixel coordinates of `image`. */
  detect(image: RgbImage): Promise<FaceBox[]>;
  /** Releases the detector's resources. */
  dispose(): void;
}

/** Intersection over union of two boxes. */
export function iou(a: FaceBox, b: FaceBox): number {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width);
  const y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy non-maximum suppression: highest score first, drop boxes overlapping a kept one. */
export function nms(boxes: FaceBox[], iouThreshold: number): FaceBox[] {
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const kept: FaceBox[] = [];
  for (const b of sorted) if (kept.every((k) => iou(k, b) <= iouThreshold)) kept.push(b);
  return kept;
}

/** Clamp a box to the image; null if it lies (almost) entirely in the mirrored padding. */
export function clampBox(x: number, y: number, w: number, h: number, image: { width: number; height: number }) {
  const x1 = Math.max(0, x);
  const y1 = Math.max(0, y);
  const x2 = Math.min(image.width, x + w);
  const y2 = Math.min(image.height, y + h);
  if ((x2 - x1) * (y2 - y1) < 0.5 * w * h) return null; // mostly a reflection, not the real face
  return { x: Math.round(x1), y: Math.round(y1), width: Math.round(x2 - x1), height: Math.round(y2 - y1) };
}
