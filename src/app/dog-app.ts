import { decodeInput, type DecodeLimits, type DecodedImage, type ImageInput, type RgbImage } from '../data/image.js';
import { crop } from '../data/transform.js';
import { YoloxDetector, type CocoBox } from '../detectors/coco.js';
import { detectDog, DOG_BOX_RESCUE, DOG_DETECTOR_DEFAULTS, dogBoxRescues, type DogDetectorOptions } from '../detectors/dog.js';
import { HaarFaceDetector, type HaarOptions } from '../detectors/face/haar.js';
import type { FaceBox, FaceDetector } from '../detectors/face/types.js';
import { YunetFaceDetector, type YunetOptions } from '../detectors/face/yunet.js';
import { personFaces } from '../detectors/person.js';
import type { Backbone, BackboneOptions, BackboneOutput } from '../models/backbone.js';
import { topK, type Classifier, type ClassProbability } from '../models/classifier.js';
import { ImageClassifier } from '../models/image-classifier.js';
import type { ModelStore } from '../models/store.js';
import { composeMessage } from './messages.js';
import { DEFAULT_QUALITY, QUALITY_PRESETS, type Quality, type QualityPolicy } from './quality.js';
import { combineViews, dogViewPlan, viewImages } from './views.js';

export type FaceDetectorName = 'yunet' | 'haar';
export type ResultKind = 'dog' | 'human' | 'both' | 'neither';

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
  /** ORT intra-op threads (default: the machine's cores). */
  threads?: number;
  /**
   * 'accurate' (default): the centre view's breed when it is sure, else a zoomed centre view and a
   * view around the dog YOLOX-nano finds; 'fast': the centre view only. See app/quality.ts.
   */
  quality?: Quality;
}

type AppDefaults = Required<Pick<DogAppOptions, 'faceDetector' | 'flipAverage' | 'faceDogVeto' | 'maxFaces' | 'minFaceArea' | 'topK' | 'quality'>>;
export const DOG_APP_DEFAULTS: AppDefaults = { faceDetector: 'yunet', flipAverage: true, faceDogVeto: 0.5, maxFaces: 4, minFaceArea: 0.005, topK: 5, quality: DEFAULT_QUALITY };

export interface Timings {
  decodeMs: number;
  backboneMs: number;
  facesMs: number;
  /** YOLOX-nano (0 when the photo needed none). */
  objectsMs: number;
  totalMs: number;
}

/** The answer for one image; the JSON shape of `imgclass predict --json` (less `file`). */
export interface DogAppResult {
  kind: ResultKind;
  message: string;
  /** For a dog: its breeds. For a human alone: the breeds the person resembles. */
  breeds: ClassProbability[];
  /** For both: the breeds the person resembles (the dog's are in `breeds`). */
  humanBreeds?: ClassProbability[];
  faces: FaceBox[];
  dogProbability: number;
  width: number;
  height: number;
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
    /** Where the dog is (its view) and whether a face has a person around it. */
    private readonly coco: YoloxDetector,
    readonly options: DogAppOptions & AppDefaults,
  ) {}

  private get policy(): QualityPolicy {
    return QUALITY_PRESETS[this.options.quality];
  }

  static async create(options: DogAppOptions = {}): Promise<DogApp> {
    const opts = { ...DOG_APP_DEFAULTS, ...options };
    const store = opts.store;
    const [unit, faceDetector, coco] = await Promise.all([
      // A breed head on pixels keeps its own flip policy unless told; one on the backbone shares the detection's.
      ImageClassifier.load({ model: opts.modelDir, backbone: opts.backbone, flip: options.flipAverage, store, engine: opts.engine, threads: opts.threads }),
      opts.faceDetector === 'haar' ? HaarFaceDetector.create({ ...opts.haar, store }) : YunetFaceDetector.create({ ...opts.yunet, store }),
      YoloxDetector.create({ store, threads: opts.threads }),
    ]);
    if (unit.backbone) unit.flip = opts.flipAverage;
    const imagenet = unit.backbone ? unit : await ImageClassifier.load({ backbone: opts.backbone, flip: opts.flipAverage, store, engine: opts.engine, threads: opts.threads });
    return new DogApp(unit, imagenet, faceDetector, coco, opts);
  }

  /** The backbone that finds dogs (and feeds the breed head, unless that reads pixels). */
  get backbone(): Backbone {
    return this.imagenet.backbone!;
  }
  get classifier(): Classifier {
    return this.unit.head;
  }

  /** What is loaded (for `/api/models` and `--verbose`). */
  describe() {
    return {
      backbone: this.backbone.name,
      preprocessing: this.backbone.spec.preprocessing,
      faceDetector: this.faceDetector.name,
      objectDetector: this.coco.name,
      quality: this.options.quality,
      dogDetector: { ...DOG_DETECTOR_DEFAULTS, ...this.options.dog },
      classifier: { name: this.classifier.name, classes: this.classifier.classes.length },
      flipAverage: this.options.flipAverage,
    };
  }

  async decode(input: ImageInput): Promise<DecodedImage> {
    return decodeInput(input, this.options.limits);
  }

  async classify(input: ImageInput): Promise<DogAppResult> {
    const t0 = performance.now();
    const image = await this.decode(input);
    const t1 = performance.now();
    const [whole] = (await this.imagenet.embed([image])) as [BackboneOutput];
    const t2 = performance.now();
    const found = await this.findHumanFaces(image);
    const t3 = performance.now();
    // Photos that may hold a dog (the mass rule's threshold, or the band where a dog box decides):
    // the centre view's breeds, and whether they are sure enough alone.
    const dogMass = detectDog(whole.probabilities, this.options.dog, false);
    const judge = dogMass.isDog;
    const mayBeDog = judge || dogMass.probability >= DOG_BOX_RESCUE.mass;
    const [centre] = mayBeDog ? await this.breedProbabilities([{ image, output: whole }]) : [];
    const moreViews = centre !== undefined && Math.max(...centre) < this.policy.confident;
    // YOLOX only where it has a question to answer: where the dog is, whether the backbone missed
    // a dog, whose faces these are.
    const ask = (mayBeDog && (moreViews || !judge || found.faces.length > 0)) || found.vetoed.some(Boolean);
    const objects = ask ? await this.coco.detect(image) : [];
    const { faces, faceOutputs, faceCrops } = keepPersonFaces(found, objects, judge, this.policy);
    const t4 = performance.now();
    const human = faces.length > 0;
    const byMass = detectDog(whole.probabilities, this.options.dog, human);
    const dog = { ...byMass, isDog: byMass.isDog || dogBoxRescues(byMass.probability, objects) };
    const kind: ResultKind = dog.isDog && human ? 'both' : dog.isDog ? 'dog' : human ? 'human' : 'neither';
    const k = this.options.topK;
    let breeds: ClassProbability[] = [];
    let humanBreeds: ClassProbability[] | undefined;
    // The person's resemblance is read from their face, the dog's breed from the quality's views.
    if (dog.isDog) breeds = topK(moreViews ? await this.dogBreedProbabilities(image, whole, objects) : centre!, this.classifier.classes, k);
    if (human) {
      const [probs] = await this.breedProbabilities([{ image: faceCrops[0]!, output: faceOutputs[0]! }]);
      const resemblance = topK(probs!, this.classifier.classes, k);
      if (dog.isDog) humanBreeds = resemblance;
      else breeds = resemblance;
    }
    const t5 = performance.now();
    return {
      kind,
      message: composeMessage(kind, breeds, humanBreeds, faces.length),
      breeds,
      ...(humanBreeds ? { humanBreeds } : {}),
      faces,
      dogProbability: round(dog.probability, 4),
      width: image.width,
      height: image.height,
      timings: { decodeMs: round(t1 - t0, 1), backboneMs: round(t2 - t1 + (t5 - t4), 1), facesMs: round(t3 - t2, 1), objectsMs: round(t4 - t3, 1), totalMs: round(t5 - t0, 1) },
    };
  }


  /** The breed head on views already embedded (or on their pixels, for a head that reads pixels). */
  private async breedProbabilities(views: { image: RgbImage; output?: BackboneOutput }[]): Promise<Float32Array[]> {
    if (this.unit === this.imagenet) return this.unit.headProbabilities(views.map((v) => v.output!));
    return (await this.unit.classify(views.map((v) => v.image))).map((r) => r.probabilities);
  }

  /** The dog's breed probabilities: the quality's views (the centre view already embedded), combined by its rule. */
  private async dogBreedProbabilities(image: RgbImage, whole: BackboneOutput, objects: CocoBox[]): Promise<Float32Array> {
    const plan = dogViewPlan(this.policy, objects);
    const images = await viewImages(image, plan.views, plan.dog);
    const fresh = plan.views.map((v, i) => (v.kind === 'centre' && v.crop === 1 ? -1 : i)).filter((i) => i >= 0);
    const embedded = this.unit === this.imagenet && fresh.length ? await this.imagenet.embed(fresh.map((i) => images[i]!)) : [];
    const outputs = images.map((_, i) => (fresh.includes(i) ? embedded[fresh.indexOf(i)] : whole));
    return combineViews(await this.breedProbabilities(images.map((im, i) => ({ image: im, output: outputs[i] }))), this.policy.rule);
  }

  /**
   * Faces from the detector, largest first, each checked by the backbone: `vetoed` when it calls
   * the crop a dog (a dog's face, unless a person box around it says otherwise).
   */
  private async findHumanFaces(image: RgbImage): Promise<FoundFaces> {
    const minArea = this.options.minFaceArea * image.width * image.height;
    const candidates = (await this.faceDetector.detect(image))
      .filter((f) => f.width * f.height >= minArea)
      .sort((a, b) => b.width * b.height - a.width * a.height)
      .slice(0, this.options.maxFaces);
    if (candidates.length === 0) return { faces: [], faceOutputs: [], faceCrops: [], vetoed: [] };
    const crops = await Promise.all(candidates.map((f) => cropFace(image, f)));
    const outputs = await this.imagenet.embed(crops);
    const faces: FaceBox[] = [];
    const faceOutputs: BackboneOutput[] = [];
    const faceCrops: RgbImage[] = [];
    const vetoed: boolean[] = [];
    candidates.forEach((f, i) => {
      const onCrop = detectDog(outputs[i]!.probabilities, { ...this.options.dog, rule: 'mass' });
      faces.push({ ...f, score: round(f.score, 4) });
      faceOutputs.push(outputs[i]!);
      faceCrops.push(crops[i]!);
      vetoed.push(onCrop.probability >= this.options.faceDogVeto);
    });
    return { faces, faceOutputs, faceCrops, vetoed };
  }

  dispose(): void {
    this.unit.dispose();
    if (this.imagenet !== this.unit) this.imagenet.dispose();
    this.faceDetector.dispose();
    this.coco.dispose();
  }
}

interface FoundFaces {
  faces: FaceBox[];
  faceOutputs: BackboneOutput[];
  faceCrops: RgbImage[];
  vetoed: boolean[];
}

/** The faces that are people's by the person rule (detectors/person.ts); without YOLOX's boxes, those the crop check passed. */
function keepPersonFaces(found: FoundFaces, objects: CocoBox[], judge: boolean, policy: QualityPolicy): Omit<FoundFaces, 'vetoed'> {
  const keep = personFaces(found.faces.map((box, i) => ({ box, vetoed: found.vetoed[i]! })), objects, judge, policy.personRule);
  return { faces: found.faces.filter((_, i) => keep[i]), faceOutputs: found.faceOutputs.filter((_, i) => keep[i]), faceCrops: found.faceCrops.filter((_, i) => keep[i]) };
}
/** The face box grown by half its size on each side: the head and some context, as the backbone expects. */
export function cropFace(image: RgbImage, f: FaceBox): Promise<RgbImage> {
  const m = 0.5;
  return crop(image, f.x - f.width * m, f.y - f.height * m, f.width * (1 + 2 * m), f.height * (1 + 2 * m));
}

/** Load every model once and return the app (the library's entry point). */
export function createDogApp(options: DogAppOptions = {}): Promise<DogApp> {
  return DogApp.create(options);
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
