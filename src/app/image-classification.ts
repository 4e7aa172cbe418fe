import { decodeInput, type DecodeLimits, type ImageInput } from '../data/image.js';
import { flipHorizontal } from '../data/transform.js';
import { meanVectors } from '../detectors/dog.js';
import { loadBackbone, type Backbone } from '../models/backbone.js';
import { loadTrainedModel, topK, type Classifier, type ClassProbability } from '../models/classifier.js';
import type { ModelStore } from '../models/store.js';
import { calibrationsOf, unknownVerdict, type UnknownVerdict } from '../models/unknown.js';

export interface ImageClassificationOptions {
  /** A trained model directory, an ensemble directory, or several (averaged). */
  modelDir: string | string[];
  topK?: number;
  /** Average the model's probabilities over the photo and its mirror image (as `eval` does). */
  flipAverage?: boolean;
  limits?: Partial<DecodeLimits>;
  store?: ModelStore;
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
 * pipeline): photo → the model's own preprocessing → backbone (if it reads one) → head → top-k.
 * No dog or face routing: this is how a vehicles (or any) classifier is used.
 */
export class ImageClassificationPipeline {
  private constructor(
    private readonly backbone: Backbone | null,
    readonly classifier: Classifier,
    private readonly o: { topK: number; flipAverage: boolean; limits: Partial<DecodeLimits> },
    private readonly owned: boolean,
  ) {}

  static async create(o: ImageClassificationOptions): Promise<ImageClassificationPipeline> {
    const model = await loadTrainedModel(o.modelDir);
    const backbone = model.backbone ? await loadBackbone(model.backbone, { store: o.store, ...model.backboneOptions() }) : null;
    model.assertCompatible(backbone);
    return new ImageClassificationPipeline(backbone, model, { topK: o.topK ?? 5, flipAverage: o.flipAverage ?? true, limits: o.limits ?? {} }, true);
  }

  /** Share models another app already loaded (the web server's dog app); disposing leaves them alone. */
  static fromParts(backbone: Backbone | null, classifier: Classifier, o: { topK?: number; flipAverage?: boolean } = {}): ImageClassificationPipeline {
    return new ImageClassificationPipeline(classifier.backbone ? backbone : null, classifier, { topK: o.topK ?? 5, flipAverage: o.flipAverage ?? true, limits: {} }, false);
  }

  async classify(input: ImageInput): Promise<ImageClassificationResult> {
    const t0 = performance.now();
    const image = await decodeInput(input, this.o.limits);
    const t1 = performance.now();
    const views = this.o.flipAverage ? [image, flipHorizontal(image)] : [image];
    const outs = this.backbone ? await this.backbone.run(views) : null;
    const inputs = outs ? outs.map((backbone) => ({ backbone })) : views.map((im) => ({ image: im }));
    const probs = meanVectors(await this.classifier.predict(inputs));
    // the "unknown" hook: the backbone's ImageNet view (views averaged) against the manifest's calibration
    const imagenet = outs ? meanVectors(outs.map((o) => o.probabilities)) : null;
    const unknown = imagenet ? (unknownVerdict(calibrationsOf(this.classifier), imagenet) ?? undefined) : undefined;
    const t2 = performance.now();
    const ms = (v: number) => Math.round(v * 10) / 10;
    return { top: topK(probs, this.classifier.classes, this.o.topK), ...(unknown ? { unknown } : {}), timings: { decodeMs: ms(t1 - t0), modelMs: ms(t2 - t1), totalMs: ms(t2 - t0) } };
  }

  dispose(): void {
    if (!this.owned) return;
    this.backbone?.dispose();
    this.classifier.dispose();
  }
}
