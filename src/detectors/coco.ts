import type { RgbImage } from '../data/image.js';
import { padTo, resize } from '../data/transform.js';
import { getDefaultStore, type ModelStore } from '../models/store.js';
import { createSession, ort, type OrtSession } from '../runtime/ort.js';
import { nms } from './face/types.js';

/**
 * YOLOX-nano, the registry's COCO detector, through onnxruntime. The app asks it two things of a
 * photo in one pass: where the dog is (a view cropped around it lets MobileNet see a small dog in
 * a large scene at full resolution) and whether a face YuNet found belongs to a person (YuNet
 * fires on dog muzzles; a COCO `person` box around the face, or no dog box under it, says which).
 *
 * Input 1×3×416×416, BGR, raw 0–255, the photo letterboxed at the top-left with grey 114 (YOLOX's
 * own `preproc`). Output [1, 3549, 85]: per grid cell over strides 8/16/32, (dx, dy, log w, log h,
 * objectness, 80 class scores), sigmoids already applied to the scores; score = obj · cls.
 */
export const COCO_CLASSES = { person: 0, cat: 15, dog: 16 } as const;

/** A detected object in the pixel coordinates of the image given to `detect`. */
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

export interface CocoDetectorOptions {
  /** Lowest obj·cls kept; low on purpose, callers apply their own thresholds per use. */
  scoreThreshold?: number;
  nmsIou?: number;
  /** COCO classes reported (default person, cat and dog: what the dog app reads). */
  classes?: readonly number[];
  /** ORT intra-op threads (default: the machine's cores). */
  threads?: number;
  store?: ModelStore;
}

export const YOLOX_SIZE = 416;
const YOLOX_STRIDES = [8, 16, 32] as const;
const YOLOX_PAD = 114;
const DEFAULT_CLASSES = [COCO_CLASSES.person, COCO_CLASSES.cat, COCO_CLASSES.dog];

/** The network's input for an image: BGR planes of the letterboxed photo, and the scale applied. */
export async function yoloxInput(image: RgbImage): Promise<{ data: Float32Array; scale: number }> {
  const scale = YOLOX_SIZE / Math.max(image.width, image.height);
  const w = Math.max(1, Math.round(image.width * scale));
  const h = Math.max(1, Math.round(image.height * scale));
  const boxed = await padTo(await resize(image, w, h), YOLOX_SIZE, YOLOX_SIZE, YOLOX_PAD);
  const plane = YOLOX_SIZE * YOLOX_SIZE;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    data[i] = boxed.data[i * 3 + 2]!; // B
    data[plane + i] = boxed.data[i * 3 + 1]!; // G
    data[2 * plane + i] = boxed.data[i * 3]!; // R
  }
  return { data, scale };
}

/**
 * Grid-decode YOLOX's raw output into boxes in image pixels (clamped to the image), best class per
 * cell among `classes`, then non-maximum suppression per class. Pure, so it is tested without ORT.
 */
export function decodeYolox(
  out: Float32Array,
  geometry: { scale: number; width: number; height: number },
  o: { scoreThreshold: number; nmsIou: number; classes: readonly number[] },
): CocoBox[] {
  const stride = 85;
  const found: CocoBox[] = [];
  let cell = 0;
  for (const s of YOLOX_STRIDES) {
    const n = YOLOX_SIZE / s;
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++, cell++) {
        const b = cell * stride;
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

export class YoloxDetector {
  readonly name = 'yolox_nano';
  private constructor(
    private readonly session: OrtSession,
    private readonly o: Required<Omit<CocoDetectorOptions, 'store' | 'threads'>>,
  ) {}

  static async create(options: CocoDetectorOptions = {}): Promise<YoloxDetector> {
    const file = await (options.store ?? getDefaultStore()).resolve('yolox_nano');
    const session = await createSession(file, { threads: options.threads });
    return new YoloxDetector(session, {
      scoreThreshold: options.scoreThreshold ?? 0.1,
      nmsIou: options.nmsIou ?? 0.45,
      classes: options.classes ?? DEFAULT_CLASSES,
    });
  }

  async detect(image: RgbImage): Promise<CocoBox[]> {
    const { data, scale } = await yoloxInput(image);
    const out = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor('float32', data, [1, 3, YOLOX_SIZE, YOLOX_SIZE]) });
    return decodeYolox(out[this.session.outputNames[0]!]!.data as Float32Array, { scale, width: image.width, height: image.height }, this.o);
  }

  dispose(): void {
    void this.session.release();
  }
}
