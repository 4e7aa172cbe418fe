import { ort } from '../../runtime/onnx.js';
import type { RgbImage } from '../../data/image.js';
import { padTo, resize } from '../../data/transform.js';
import { getDefaultStore, type ModelStore } from '../../models/store.js';
import { clampBox } from './haar.js';
import { nms, type FaceBox, type FaceDetector } from './types.js';

export interface YunetOptions {
  /** `yunet_n` (default, 75k params) or `yunet_s`. */
  model?: 'yunet_n' | 'yunet_s';
  /** Minimum score sqrt(cls·obj) for a face. */
  scoreThreshold?: number;
  nmsIou?: number;
  store?: ModelStore;
}

const SIZE = 320;
const STRIDES = [8, 16, 32] as const;

/**
 * YuNet (libfacedetection) through onnxruntime: input 1×3×320×320 BGR 0–255, one anchor-free
 * prior per cell at strides 8/16/32; box = ((col + dx)·s, (row + dy)·s, e^dw·s, e^dh·s).
 * The image is letterboxed (aspect kept, padded bottom-right) so boxes map back by one scale.
 */
export class YunetFaceDetector implements FaceDetector {
  readonly name = 'yunet';
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly scoreThreshold: number,
    private readonly nmsIou: number,
  ) {}

  static async create(options: YunetOptions = {}): Promise<YunetFaceDetector> {
    const file = await (options.store ?? getDefaultStore()).resolve(options.model ?? 'yunet_n');
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
    return new YunetFaceDetector(session, options.scoreThreshold ?? 0.7, options.nmsIou ?? 0.3);
  }

  async detect(image: RgbImage): Promise<FaceBox[]> {
    const scale = SIZE / Math.max(image.width, image.height);
    const w = Math.max(1, Math.round(image.width * scale));
    const h = Math.max(1, Math.round(image.height * scale));
    const boxed = await padTo(await resize(image, w, h), SIZE, SIZE, 0);
    const plane = SIZE * SIZE;
    const x = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      x[i] = boxed.data[i * 3 + 2]!; // B
      x[plane + i] = boxed.data[i * 3 + 1]!; // G
      x[2 * plane + i] = boxed.data[i * 3]!; // R
    }
    const out = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor('float32', x, [1, 3, SIZE, SIZE]) });
    const found: FaceBox[] = [];
    for (const s of STRIDES) {
      const cls = out[`cls_${s}`]!.data as Float32Array;
      const obj = out[`obj_${s}`]!.data as Float32Array;
      const bbox = out[`bbox_${s}`]!.data as Float32Array;
      const cols = SIZE / s;
      for (let i = 0; i < cls.length; i++) {
        const score = Math.sqrt(clamp01(cls[i]!) * clamp01(obj[i]!));
        if (score < this.scoreThreshold) continue;
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
    return nms(found, this.nmsIou);
  }

  dispose(): void {
    void this.session.release();
  }
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
