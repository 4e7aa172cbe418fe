import type { RgbImage } from '../data/pixels.js';
import { nms } from './face/types.js';
import { LETTERBOX_FEEDS, letterboxFeeds, type LetterboxFeeds, type ResizeTo } from './letterbox.js';

/**
 * YOLOX-nano's input and output arithmetic, with no host dependency: the server (onnxruntime-node,
 * coco.ts) and the browser's device mode (onnxruntime-web) feed and decode with this one module,
 * and run the same graph, which letterboxes the pixels itself (coco-graph.ts).
 *
 * YOLOX's own input is 1×3×416×416, BGR, raw 0–255, the photo letterboxed at the top-left with grey
 * 114 (YOLOX's own `preproc`). Output [1, 3549, 85]: per grid cell over strides 8/16/32, (dx, dy,
 * log w, log h, objectness, 80 class scores), sigmoids already applied to the scores; score = obj · cls.
 */
export const COCO_CLASSES = { person: 0, cat: 15, dog: 16 } as const;

/** A detected object in the pixel coordinates of the image given to the detector. */
export interface CocoBox {
  x: number;
  y: number;
  width: number;
  height: number;
  /** objectness · class score, 0..1. */
  score: number;
  /** COCO class index (0 person, 16 dog, …). */
  classId: number;
}

export const YOLOX_SIZE = 416;
export const YOLOX_PAD = 114;
const YOLOX_STRIDES = [8, 16, 32] as const;
/** Values per grid cell: box (4), objectness, 80 class scores. */
const YOLOX_CELL = 85;
export const YOLOX_CELLS = YOLOX_STRIDES.reduce((n, s) => n + (YOLOX_SIZE / s) ** 2, 0);

export interface YoloxDecodeOptions {
  /** Lowest obj·cls kept; low on purpose, callers apply their own thresholds per use. */
  scoreThreshold: number;
  nmsIou: number;
  /** COCO classes reported. */
  classes: readonly number[];
}

/** What the dog app reads: person, cat and dog boxes from 0.1 up. */
export const YOLOX_DEFAULTS: YoloxDecodeOptions = { scoreThreshold: 0.1, nmsIou: 0.45, classes: [COCO_CLASSES.person, COCO_CLASSES.cat, COCO_CLASSES.dog] };

/** The inputs of YOLOX with its preprocessing in the graph (coco-graph.ts). */
export const YOLOX_FEEDS = LETTERBOX_FEEDS;

/**
 * What each host feeds that graph for one image (letterbox.ts): its RGB pixels (shrunk by the host
 * first when larger than the letterbox), the letterbox size as Resize's `sizes` and the grey padding to 416² at the bottom and right as Pad's
 * `pads`. The scale maps YOLOX's boxes back to the image (decodeYolox).
 */
export function yoloxFeeds(image: RgbImage, shrink: ResizeTo): Promise<LetterboxFeeds> {
  return letterboxFeeds(image, YOLOX_SIZE, shrink);
}

/**
 * Grid-decode YOLOX's raw output into boxes in image pixels (clamped to the image), best class per
 * cell among `classes`, then non-maximum suppression per class. Pure, so it is tested without ORT.
 */
export function decodeYolox(out: Float32Array, geometry: { scale: number; width: number; height: number }, o: YoloxDecodeOptions): CocoBox[] {
  if (out.length !== YOLOX_CELLS * YOLOX_CELL) throw new Error(`YOLOX output has ${out.length} values; expected ${YOLOX_CELLS}×${YOLOX_CELL}`);
  const found: CocoBox[] = [];
  let cell = 0;
  for (const s of YOLOX_STRIDES) {
    const n = YOLOX_SIZE / s;
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++, cell++) {
        const b = cell * YOLOX_CELL;
        const obj = out[b + 4]!;
        if (obj < o.scoreThreshold) continue;
        let best = -1;
        let bestScore = o.scoreThreshold;
        for (const c of o.classes) {
          const score = obj * out[b + 5 + c]!;
          if (score >= bestScore) [best, bestScore] = [c, score];
        }
        if (best < 0) continue;
        const cx = ((out[b]! + col) * s) / geometry.scale;
        const cy = ((out[b + 1]! + row) * s) / geometry.scale;
        const w = (Math.exp(out[b + 2]!) * s) / geometry.scale;
        const h = (Math.exp(out[b + 3]!) * s) / geometry.scale;
        const x1 = Math.max(0, cx - w / 2);
        const y1 = Math.max(0, cy - h / 2);
        const x2 = Math.min(geometry.width, cx + w / 2);
        const y2 = Math.min(geometry.height, cy + h / 2);
        if (x2 - x1 < 1 || y2 - y1 < 1) continue;
        found.push({ x: x1, y: y1, width: x2 - x1, height: y2 - y1, score: bestScore, classId: best });
      }
    }
  }
  return o.classes
    .flatMap(
      (c) =>
        nms(
          found.filter((f) => f.classId === c),
          o.nmsIou,
        ) as CocoBox[],
    )
    .sort((a, b) => b.score - a.score);
}
