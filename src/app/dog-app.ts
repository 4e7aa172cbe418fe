import { decodeInput, type DecodeLimits, type DecodedImage, type ImageInput, type RgbImage } from '../data/image.js';
import { crop, flipHorizontal } from '../data/transform.js';
import { detectDog, meanVectors, DOG_DETECTOR_DEFAULTS, type DogDetectorOptions } from '../detectors/dog.js';
import { HaarFaceDetector, type HaarOptions } from '../detectors/face/haar.js';
import type { FaceBox, FaceDetector } from '../detectors/face/types.js';
import { YunetFaceDetector, type YunetOptions } from '../detectors/face/yunet.js';
import { loadBackbone, type Backbone, type BackboneOutput } from '../models/backbone.js';
import { ImagenetSubsetClassifier, loadTrainedModel, topK, type Classifier, type ClassProbability } from '../models/classifier.js';
import type { ModelStore } from '../models/store.js';
import { composeMessage } from './messages.js';

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
}

type AppDefaults = Required<Pick<DogAppOptions, 'faceDetector' | 'flipAverage' | 'faceDogVeto' | 'maxFaces' | 'minFaceArea' | 'topK'>>;
export const DOG_APP_DEFAULTS: AppDefaults = { faceDetector: 'yunet', flipAverage: true, faceDogVeto: 0.5, maxFaces: 4, minFaceArea: 0.005, topK: 5 };

export interface Timings {
  decodeMs: number;
  backboneMs: number;
  facesMs: number;
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
    readonly backbone: Backbone,
    readonly faceDetector: FaceDetector,
    readonly classifier: Classifier,
    readonly options: DogAppOptions & AppDefaults,
  ) {}

  static async create(options: DogAppOptions = {}): Promise<DogApp> {
    const opts = { ...DOG_APP_DEFAULTS, ...options };
    const store = opts.store;
    const trained = opts.modelDir?.length ? await loadTrainedModel(opts.modelDir) : undefined;
    const backboneName = opts.backbone ?? trained?.backbone ?? 'mobilenet_v1_0.75_224';
    const [backbone, faceDetector] = await Promise.all([
      loadBackbone(backboneName, { store, ...trained?.backboneOptions() }),
      opts.faceDetector === 'haar' ? HaarFaceDetector.create({ ...opts.haar, store }) : YunetFaceDetector.create({ ...opts.yunet, store }),
    ]);
    trained?.assertCompatible(backbone);
    const classifier = trained ?? (await ImagenetSubsetClassifier.dogBreeds(backboneName, store));
    return new DogApp(backbone, faceDetector, classifier, opts);
  }

  /** What is loaded (for `/api/models` and `--verbose`). */
  describe() {
    return {
      backbone: this.backbone.name,
      preprocessing: this.backbone.spec.preprocessing,
      faceDetector: this.faceDetector.name,
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
    const whole = await this.runBackbone(image);
    const t2 = performance.now();
    const { faces, faceOutputs } = await this.findHumanFaces(image);
    const t3 = performance.now();
    const human = faces.length > 0;
    const dog = detectDog(whole.probabilities, this.options.dog, human);
    const kind: ResultKind = dog.isDog && human ? 'both' : dog.isDog ? 'dog' : human ? 'human' : 'neither';
    const k = this.options.topK;
    let breeds: ClassProbability[] = [];
    let humanBreeds: ClassProbability[] | undefined;
    // The person's resemblance is read from their face, the dog's breed from the whole photo.
    const toPredict: BackboneOutput[] = [];
    if (dog.isDog) toPredict.push(whole);
    if (human) toPredict.push(faceOutputs[0]!);
    const probs = await this.classifier.predict(toPredict.map((b) => ({ backbone: b, image })));
    if (dog.isDog) breeds = topK(probs[0]!, this.classifier.classes, k);
    if (human) {
      const resemblance = topK(probs[probs.length - 1]!, this.classifier.classes, k);
      if (dog.isDog) humanBreeds = resemblance;
      else breeds = resemblance;
    }
    const t4 = performance.now();
    return {
      kind,
      message: composeMessage(kind, breeds, humanBreeds, faces.length),
      breeds,
      ...(humanBreeds ? { humanBreeds } : {}),
      faces,
      dogProbability: round(dog.probability, 4),
      width: image.width,
      height: image.height,
      timings: { decodeMs: round(t1 - t0, 1), backboneMs: round(t2 - t1, 1), facesMs: round(t3 - t2, 1), totalMs: round(t4 - t0, 1) },
    };
  }

  /** Backbone outputs for an image, averaged with its mirror image when flipAverage is on. */
  private async runBackbone(image: RgbImage): Promise<BackboneOutput> {
    return (await this.runBackboneMany([image]))[0]!;
  }

  private async runBackboneMany(images: RgbImage[]): Promise<BackboneOutput[]> {
    if (!this.options.flipAverage) return this.backbone.run(images);
    const outs = await this.backbone.run(images.flatMap((im) => [im, flipHorizontal(im)]));
    return images.map((_, i) => ({
      probabilities: meanVectors([outs[2 * i]!.probabilities, outs[2 * i + 1]!.probabilities]),
      features: meanVectors([outs[2 * i]!.features, outs[2 * i + 1]!.features]),
    }));
  }

  /** Faces from the detector, minus those whose crop the backbone calls a dog; largest first. */
  private async findHumanFaces(image: RgbImage): Promise<{ faces: FaceBox[]; faceOutputs: BackboneOutput[] }> {
    const minArea = this.options.minFaceArea * image.width * image.height;
    const candidates = (await this.faceDetector.detect(image))
      .filter((f) => f.width * f.height >= minArea)
      .sort((a, b) => b.width * b.height - a.width * a.height)
      .slice(0, this.options.maxFaces);
    if (candidates.length === 0) return { faces: [], faceOutputs: [] };
    const crops = await Promise.all(candidates.map((f) => cropFace(image, f)));
    const outputs = await this.runBackboneMany(crops);
    const faces: FaceBox[] = [];
    const faceOutputs: BackboneOutput[] = [];
    candidates.forEach((f, i) => {
      const onCrop = detectDog(outputs[i]!.probabilities, { ...this.options.dog, rule: 'mass' });
      if (onCrop.probability < this.options.faceDogVeto) {
        faces.push({ ...f, score: round(f.score, 4) });
        faceOutputs.push(outputs[i]!);
      }
    });
    return { faces, faceOutputs };
  }

  dispose(): void {
    this.backbone.dispose();
    this.faceDetector.dispose();
    this.classifier.dispose();
  }
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
