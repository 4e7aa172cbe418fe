import { createSession, ort, type OrtSession } from '../../runtime/ort.js';
import type { RgbImage } from '../../data/image.js';
import { resize } from '../../data/transform.js';
import { getDefaultStore, type ModelStore } from '../../models/store.js';
import type { FaceBox, FaceDetector } from './types.js';
import { decodeYunet, YUNET_DEFAULTS, YUNET_SIZE, yunetInput, yunetLetterbox } from './yunet-decode.js';

export interface YunetOptions {
  /** `yunet_n` (default, 75k params) or `yunet_s`. */
  model?: 'yunet_n' | 'yunet_s';
  /** Minimum score sqrt(cls·obj) for a face. */
  scoreThreshold?: number;
  nmsIou?: number;
  store?: ModelStore;
}

/**
 * YuNet (libfacedetection) through onnxruntime-node; the letterbox, packing and decoding are
 * yunet-decode.ts, shared with the browser's device mode.
 */
export class YunetFaceDetector implements FaceDetector {
  readonly name = 'yunet';
  private constructor(
    private readonly session: OrtSession,
    private readonly scoreThreshold: number,
    private readonly nmsIou: number,
  ) {}

  static async create(options: YunetOptions = {}): Promise<YunetFaceDetector> {
    const file = await (options.store ?? getDefaultStore()).resolve(options.model ?? 'yunet_n');
    const session = await createSession(file, { threads: 1 });
    return new YunetFaceDetector(session, options.scoreThreshold ?? YUNET_DEFAULTS.scoreThreshold, options.nmsIou ?? YUNET_DEFAULTS.nmsIou);
  }

  async detect(image: RgbImage): Promise<FaceBox[]> {
    const box = yunetLetterbox(image);
    const x = yunetInput(await resize(image, box.width, box.height));
    const out = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor('float32', x, [1, 3, YUNET_SIZE, YUNET_SIZE]) });
    const outputs = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
    return decodeYunet(outputs, box.scale, image, { scoreThreshold: this.scoreThreshold, nmsIou: this.nmsIou });
  }

  dispose(): void {
    void this.session.release();
  }
}
