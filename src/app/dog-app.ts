import { YoloxDetector } from '../detectors/coco.js';
import { classifyWithViews, type ViewsPipelineHost } from './dog-app-views.js';
import { DEFAULT_QUALITY, QUALITY_PRESETS, type Quality } from './quality.js';
import { decodeInput, type DecodeLimits, type DecodedImage, type ImageInput, type RgbImage } from '../data/image.js';
import { cropRegion } from '../data/transform.js';
import { DOG_DETECTOR_DEFAULTS, type DogDetectorOptions } from '../detectors/imagenet-dog-rule.js';
import { HaarFaceDetector, type HaarOptions } from '../detectors/face/haar.js';
import type { FaceBox, FaceDetector } from '../detectors/face/types.js';
import { YunetFaceDetector, type YunetOptions } from '../detectors/face/yunet.js';
import type { Backbone, BackboneOptions, BackboneOutput } from '../models/backbone.js';
import type { Classifier } from '../models/classifier.js';
import { ImageClassifier } from '../models/image-classifier.js';
import type { ModelStore } from '../models/store.js';
import { DOG_PIPELINE_DEFAULTS, faceCropRect, round, runDogPipeline, type DogPipelineResult } from './dog-pipeline.js';

export type { ResultKind } from './dog-pipeline.js';

import { FACE_DETECTORS, type FaceDetectorName } from './face-detectors.js';

export { FACE_DETECTORS, type FaceDetectorName };

export interface DogAppOptions {
  /** A trained breed model (`imgclass train` output), an ensemble directory, or several (averaged); default: ImageNet's dog breeds. */
  modelDir?: string | string[];
  /** Backbone for detection and, by default, breeds. */
  backbone?: string;
  faceDetector?: FaceDetectorName;
  haar?: HaarOptions;
  yunet?: YunetOptions;
  dog?: DogDetectorOptions;
  /** Average predictions over the image and its mirror image (2 backbone passes; steadier). */
  flipAverage?: boolean;
  /**
   * A face whose crop the backbone itself calls a dog (dog probability ≥ this) is a dog's face,
   * not a person's: face detectors fire on dog faces. 1 disables the check.
   */
  faceDogVeto?: number;
  /** Faces checked per image (largest first). */
  maxFaces?: number;
  /**
   * Smallest face, as a fraction of the image area. Detectors' false faces on dogs and objects
   * are tiny (median 0.5% of the image on the shared photos); a person to compare with a breed is not.
   */
  minFaceArea?: number;
  topK?: number;
  limits?: Partial<DecodeLimits>;
  store?: ModelStore;
  /** Inference engine (default 'onnx'; 'tfjs' is the old TF.js wasm path, kept for comparison). */
  engine?: BackboneOptions['engine'];
  /**
   * 'accurate' (default): YOLOX-nano's evidence on whose faces these are, and more views of a dog
   * the centre view is unsure of; 'fast': the evidence only; 'standard': the shared pipeline
   * without YOLOX. Every
   * host (the browser's device mode too) runs each of them. See app/quality.ts and README ("Breeds
   * on photos MobileNet never saw").
   */
  quality?: Quality;
  /** ORT intra-op threads (default: the machine's cores). */
  threads?: number;
}

type AppDefaults = Required<Pick<DogAppOptions, 'faceDetector' | 'flipAverage' | 'faceDogVeto' | 'maxFaces' | 'minFaceArea' | 'topK' | 'quality'>>;
export const DOG_APP_DEFAULTS: AppDefaults = { faceDetector: 'yunet', ...DOG_PIPELINE_DEFAULTS, quality: DEFAULT_QUALITY };

export interface Timings {
  decodeMs: number;
  backboneMs: number;
  facesMs: number;
  /** YOLOX-nano ('fast' and 'accurate' presets; absent or 0 when it did not run). */
  objectsMs?: number;
  totalMs: number;
}

/** The answer for one image; the JSON shape of `imgclass predict --json` (less `file`). */
export interface DogAppResult extends Omit<DogPipelineResult, 'timings'> {
  timings: Timings;
}

/**
 * The seed's app as one pipeline: decode → backbone (probabilities + features) → dog rule →
 * face detector → face check → breed classifier → message. Models load once in createDogApp.
 */
export class DogApp {
  private constructor(
    /** Backbone + breed head + flip policy: the same unit `classify`, `eval` and the server use. */
    readonly unit: ImageClassifier,
    /**
     * The ImageNet view that finds dogs and checks faces: the unit itself when its head reads a
     * backbone, else (a breed CNN on pixels) the default backbone beside it.
     */
    private readonly imagenet: ImageClassifier,
    readonly faceDetector: FaceDetector,
    readonly options: DogAppOptions & AppDefaults,
    /** YOLOX-nano, for the 'fast' and 'accurate' presets only. */
    private readonly coco: YoloxDetector | null,
  ) {}

  /** Loads every model the options ask for (backbone, breed classifier, face detector, and YOLOX-nano for the 'fast' and 'accurate' presets) once; options given as `undefined` keep their defaults. */
  static async create(options: DogAppOptions = {}): Promise<DogApp> {
    // an option given as undefined (a CLI flag not set) keeps its default
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as DogAppOptions;
    const opts = { ...DOG_APP_DEFAULTS, ...given };
    const store = opts.store;
    const [unit, faceDetector, coco] = await Promise.all([
      // A breed head on pixels keeps its own flip policy unless told; one on the backbone shares the detection's.
      ImageClassifier.load({ model: opts.modelDir, backbone: opts.backbone, flip: options.flipAverage, store, engine: opts.engine, threads: opts.threads }),
      opts.faceDetector === 'haar' ? HaarFaceDetector.create({ ...opts.haar, store }) : YunetFaceDetector.create({ ...opts.yunet, store }),
      opts.quality === 'standard' ? null : YoloxDetector.create({ store, threads: opts.threads }),
    ]);
    if (unit.backbone) unit.flip = opts.flipAverage;
    const imagenet = unit.backbone
      ? unit
      : await ImageClassifier.load({ backbone: opts.backbone, flip: opts.flipAverage, store, engine: opts.engine, threads: opts.threads });
    return new DogApp(unit, imagenet, faceDetector, opts, coco);
  }

  /** The backbone that finds dogs (and feeds the breed head, unless that reads pixels). */
  get backbone(): Backbone {
    return this.imagenet.backbone!;
  }
  get classifier(): Classifier {
    return this.unit.head;
  }
  /** YOLOX-nano, loaded for the presets that ask it ('fast', 'accurate'); null for 'standard'. */
  get objectDetector(): YoloxDetector | null {
    return this.coco;
  }

  /** What is loaded (for `/api/models` and `--verbose`). */
  describe() {
    return {
      backbone: this.backbone.name,
      preprocessing: this.backbone.spec.preprocessing,
      faceDetector: this.faceDetector.name,
      quality: this.options.quality,
      ...(this.coco ? { objectDetector: this.coco.name } : {}),
      dogDetector: { ...DOG_DETECTOR_DEFAULTS, ...this.options.dog },
      classifier: { name: this.classifier.name, classes: this.classifier.classes.length },
      flipAverage: this.options.flipAverage,
    };
  }

  /** Decodes an input (a path, image bytes, or an already decoded image) within the app's limits, as `classify` does. */
  async decode(input: ImageInput): Promise<DecodedImage> {
    return decodeInput(input, this.options.limits);
  }

  /** Answers one photo: dog, human, both or neither, with breeds, faces and timings. Bad input throws an `ImgclassError` with a stable `code`. */
  async classify(input: ImageInput): Promise<DogAppResult> {
    const t0 = performance.now();
    const image = await this.decode(input);
    const t1 = performance.now();
    // the same pipelines the browser's device mode runs, on this host's models
    const { timings, ...answer } =
      this.options.quality === 'standard'
        ? await runDogPipeline(this.host, image, this.options)
        : await classifyWithViews(this.host, image, QUALITY_PRESETS[this.options.quality], this.options);
    return { ...answer, timings: { decodeMs: round(t1 - t0, 1), ...timings, totalMs: round(performance.now() - t0, 1) } };
  }

  /**
   * The models as the shared pipelines (dog-pipeline.ts, dog-app-views.ts) call them, on this host:
   * sharp and onnxruntime-node. YOLOX-nano is loaded for the presets that ask it.
   */
  private get host(): ViewsPipelineHost {
    return (this.hostCache ??= {
      backbone: this.imagenet.backboneHost(),
      detectFaces: (image) => this.faceDetector.detect(image),
      // sharp's extract: the same pixels as the browser's cropPixels (test/resample.test.ts)
      crop: (image, r) => cropRegion(image, r),
      detectObjects: (image) => {
        if (!this.coco) throw new Error(`quality '${this.options.quality}' loads no object detector`);
        return this.coco.detect(image);
      },
      breeds: { classes: this.classifier.classes, predict: (views) => this.breedProbabilities(views), readsPixels: this.unit !== this.imagenet },
    });
  }
  private hostCache?: ViewsPipelineHost;

  /** The breed head on views already embedded (or on their pixels, for a head that reads pixels). */
  private async breedProbabilities(views: { image: RgbImage; output?: BackboneOutput }[]): Promise<Float32Array[]> {
    if (this.unit === this.imagenet) return this.unit.headProbabilities(views.map((v) => v.output ?? missingOutput()));
    return (await this.unit.classify(views.map((v) => v.image))).map((r) => r.probabilities);
  }

  /** Releases every model's session; the app cannot be used afterwards. */
  dispose(): void {
    this.unit.dispose();
    if (this.imagenet !== this.unit) this.imagenet.dispose();
    this.faceDetector.dispose();
    this.coco?.dispose();
  }
}

/** The face box grown by half its size on each side: the head and some context, as the backbone expects. */
export function cropFace(image: RgbImage, f: FaceBox): Promise<RgbImage> {
  return cropRegion(image, faceCropRect(f));
}

function missingOutput(): never {
  throw new Error('the breed head reads the backbone, and a view came without its backbone outputs');
}

/** Load every model once and return the app (the library's entry point). */
export function createDogApp(options: DogAppOptions = {}): Promise<DogApp> {
  return DogApp.create(options);
}
