import type { RgbImage } from '../data/image.js';
import { resizeFor, type Preprocessing } from '../data/preprocess.js';
import { meanVectors } from '../util/vectors.js';
import { loadBackbone, type Backbone, type BackboneOptions, type BackboneOutput } from './backbone.js';
import { ImagenetSubsetClassifier, loadTrainedModel, type Classifier, type TrainedModel } from './classifier.js';
import type { ClassInfo } from './model-dir.js';
import { DEFAULT_BACKBONE } from './registry.js';
import type { ModelStore } from './store.js';
import { averageViews, embedWith, viewsOf, type BackboneHost } from './views.js';

export { averageViews } from './views.js';

/**
 * The one inference unit (keras-hub's task, transformers.js' pipeline model): a backbone with
 * its preprocessing, a head, and the flip policy, loaded and used as one object by the dog app,
 * `classify`, `eval`, the server, the batch worker and `export` alike.
 *
 * Flip averaging is defined here and nowhere else: the image is fitted to the model's input
 * (resize/crop), that view and its mirror image go through the backbone, their outputs (features
 * and ImageNet probabilities) are averaged, and the head reads the average once. A model that
 * reads pixels has no backbone, so its own outputs are averaged. (Mirroring after fitting keeps
 * a centre crop's odd pixel where an exported graph, which receives the fitted image, puts it.)
 */
export interface ImageClassifierOptions {
  /** A trained model directory, an ensemble directory, or several (averaged). Default: ImageNet's dog breeds. */
  model?: string | string[];
  /** The backbone when no trained model names one. */
  backbone?: string;
  /**
   * Average over the photo and its mirror image. Default: on, except for a CNN on pixels trained
   * without mirrored images (it may tell left from right, and averaging would erase that).
   */
  flip?: boolean;
  store?: ModelStore;
  engine?: BackboneOptions['engine'];
  threads?: number;
}

export class ImageClassifier {
  constructor(
    readonly backbone: Backbone | null,
    readonly head: Classifier,
    public flip: boolean,
  ) {}

  static async load(o: ImageClassifierOptions = {}): Promise<ImageClassifier> {
    const trained: TrainedModel | undefined = o.model?.length ? await loadTrainedModel(o.model, { threads: o.threads }) : undefined;
    const backboneName = trained ? trained.backbone : (o.backbone ?? DEFAULT_BACKBONE);
    // ImageNet's class names are read while the backbone's session loads on its thread, not after
    const [backbone, head] = await Promise.all([
      backboneName ? loadBackbone(backboneName, { store: o.store, engine: o.engine, threads: o.threads, ...trained?.backboneOptions() }) : null,
      trained ?? ImagenetSubsetClassifier.dogBreeds(backboneName!, o.store),
    ]);
    trained?.assertCompatible(backbone);
    return new ImageClassifier(backbone, head, o.flip ?? (trained ? trained.mirrorInvariant : true));
  }

  get classes(): ClassInfo[] {
    return this.head.classes;
  }

  /** Backbone outputs per image, averaged over each image and its mirror image when flip is on. */
  async embed(images: RgbImage[]): Promise<BackboneOutput[]> {
    return embedWith(this.backboneHost(), images, this.flip);
  }

  /** The backbone as the shared pipeline code drives it (views.ts): sharp fits, onnxruntime-node runs. */
  backboneHost(): BackboneHost {
    const backbone = this.backbone ?? fail('this model reads pixels; it has no backbone');
    return { fit: (im) => resizeFor(im, backbone.spec.preprocessing), run: (views) => backbone.run(views) };
  }

  /** The head's class probabilities for backbone outputs already embedded. */
  headProbabilities(outputs: BackboneOutput[]): Promise<Float32Array[]> {
    return this.head.predict(outputs.map((backbone) => ({ backbone })));
  }

  /** Class probabilities for each image, and the backbone outputs the head read (if any). */
  async classify(images: RgbImage[]): Promise<{ probabilities: Float32Array; backbone?: BackboneOutput }[]> {
    if (this.backbone) {
      const outputs = await this.embed(images);
      const probs = await this.headProbabilities(outputs);
      return probs.map((probabilities, i) => ({ probabilities, backbone: outputs[i]! }));
    }
    const views = await modelViews(images, this.head.preprocessing ?? fail(`${this.head.name} reads neither a backbone nor pixels`), this.flip);
    const probs = await this.head.predict(views.map((image) => ({ image })));
    const per = this.flip ? images.map((_, i) => meanVectors([probs[2 * i]!, probs[2 * i + 1]!])) : probs;
    return per.map((probabilities) => ({ probabilities }));
  }

  /**
   * Class probabilities from cached backbone outputs of each photo and its mirror image (the
   * feature cache's rows), by the same rule as `classify`.
   */
  classifyCached(rows: { direct: BackboneOutput; mirrored: BackboneOutput }[]): Promise<Float32Array[]> {
    return this.headProbabilities(rows.map((r) => (this.flip ? averageViews([r.direct, r.mirrored]) : r.direct)));
  }

  /** Readies the backbone for many photos (its sessions side by side: models/backbone.ts `warmUp`); the answers do not change. */
  async warmUp(): Promise<void> {
    await this.backbone?.warmUp?.();
  }

  dispose(): void {
    this.backbone?.dispose();
    this.head.dispose();
  }
}

/** What a model reads of each image: the image fitted to its input, then (flip) its mirror image. */
export async function modelViews(images: RgbImage[], p: Preprocessing, flip: boolean): Promise<RgbImage[]> {
  return viewsOf(await Promise.all(images.map((im) => resizeFor(im, p))), flip);
}

function fail(msg: string): never {
  throw new Error(msg);
}
