import { decodeInput, type DecodeLimits, type ImageInput } from '../data/image.js';
import { topK, type ClassProbability } from '../models/classifier.js';
import { ImageClassifier, type ImageClassifierOptions } from '../models/image-classifier.js';
import { calibrationsOf, unknownVerdict, type UnknownVerdict } from '../models/unknown.js';

export interface ImageClassificationOptions extends Omit<ImageClassifierOptions, 'model' | 'flip'> {
  /** A trained model directory, an ensemble directory, or several (averaged). */
  modelDir: string | string[];
  topK?: number;
  /** Average over the photo and its mirror image (the unit's flip policy; default on). */
  flipAverage?: boolean;
  limits?: Partial<DecodeLimits>;
}

export interface ImageClassificationResult {
  /** The most probable classes, best first. */
  top: ClassProbability[];
  /** The model's "unknown" answer (trained feature models): whether the photo is none of its classes. */
  unknown?: UnknownVerdict;
  timings: { decodeMs: number; modelMs: number; totalMs: number };
}

/**
 * Plain image classification with any trained model (transformers.js' image-classification
 * pipeline): photo → decode → the inference unit (preprocessing, backbone, head, flip) → top-k.
 * No dog or face routing: this is how a vehicles (or any) classifier is used.
 */
export class ImageClassificationPipeline {
  private constructor(
    readonly unit: ImageClassifier,
    private readonly o: { topK: number; limits: Partial<DecodeLimits> },
    private readonly owned: boolean,
  ) {}

  static async create(o: ImageClassificationOptions): Promise<ImageClassificationPipeline> {
    const unit = await ImageClassifier.load({ ...o, model: o.modelDir, flip: o.flipAverage });
    return new ImageClassificationPipeline(unit, { topK: o.topK ?? 5, limits: o.limits ?? {} }, true);
  }

  /** Share a unit another app already loaded (the web server's dog app); disposing leaves it alone. */
  static fromUnit(unit: ImageClassifier, o: { topK?: number; limits?: Partial<DecodeLimits> } = {}): ImageClassificationPipeline {
    return new ImageClassificationPipeline(unit, { topK: o.topK ?? 5, limits: o.limits ?? {} }, false);
  }

  get classifier() {
    return this.unit.head;
  }

  async classify(input: ImageInput): Promise<ImageClassificationResult> {
    const t0 = performance.now();
    const image = await decodeInput(input, this.o.limits);
    const t1 = performance.now();
    const [r] = await this.unit.classify([image]);
    // the "unknown" hook: the backbone's ImageNet view (as the head read it) against the manifest's calibration
    const unknown = r!.backbone ? (unknownVerdict(calibrationsOf(this.unit.head), r!.backbone.probabilities) ?? undefined) : undefined;
    const t2 = performance.now();
    const ms = (v: number) => Math.round(v * 10) / 10;
    return {
      top: topK(r!.probabilities, this.unit.classes, this.o.topK),
      ...(unknown ? { unknown } : {}),
      timings: { decodeMs: ms(t1 - t0), modelMs: ms(t2 - t1), totalMs: ms(t2 - t0) },
    };
  }

  /** Readies the model for many photos (ImageClassifier `warmUp`); the answers do not change. */
  warmUp(): Promise<void> {
    return this.unit.warmUp();
  }

  dispose(): void {
    if (this.owned) this.unit.dispose();
  }
}
