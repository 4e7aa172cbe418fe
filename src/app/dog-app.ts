import { YoloxDetector } from '../detectors/coco.js';
import { DEFAULT_QUALITY, dogPlan, FACE_SEARCH_DEFAULTS, DEFAULT_TOP_K, PRESETS, type DogPlan, type Quality } from './quality.js';
import { decodeInput, type DecodeLimits, type DecodedImage, type ImageInput, type RgbImage } from '../data/image.js';
import { cropRegion } from '../data/transform.js';
import { whenSessionRequested } from '../runtime/ort.js';
import type { DogDetectorOptions } from '../detectors/imagenet-dog-rule.js';
import { HaarFaceDetector, type HaarOptions } from '../detectors/face/haar.js';
import type { FaceBox, FaceDetector } from '../detectors/face/types.js';
import { YunetFaceDetector, type YunetOptions } from '../detectors/face/yunet.js';
import type { Backbone, BackboneOptions, BackboneOutput } from '../models/backbone.js';
import type { Classifier } from '../models/classifier.js';
import { ImageClassifier } from '../models/image-classifier.js';
import { embedWith } from '../models/views.js';
import { getDefaultStore, type ModelStore } from '../models/store.js';
import { registryEntry } from '../models/registry.js';
import type { ClassInfo } from '../models/probabilities.js';
import { DOG_APP_BACKBONE, type EnsembleMember } from './tuning.js';
import type { NamedBreeds } from './messages.js';
import { faceCropRect, round, runDogPipeline, type DogPipelineHost, type DogPipelineResult } from './dog-pipeline.js';

export type { ResultKind } from './dog-pipeline.js';

import { FACE_DETECTORS, type FaceDetectorName } from './face-detectors.js';

export { FACE_DETECTORS, type FaceDetectorName };

export interface DogAppOptions {
  /** A trained breed model (`imgclass train` output), an ensemble directory, or several (averaged); default: ImageNet's dog breeds. */
  modelDir?: string | string[];
  /**
   * Backbone for detection and, by default, breeds (a trained breed model brings its own). Its
   * tuned values (app/tuning.ts) set the dog rule, the face check, the person rule and the views
   * unless given here; a backbone without them runs on MobileNet v1's and its answers say so.
   */
  backbone?: string;
  faceDetector?: FaceDetectorName;
  haar?: HaarOptions;
  yunet?: YunetOptions;
  /** Over the backbone's tuned dog rule. */
  dog?: DogDetectorOptions;
  /** Average predictions over the image and its mirror image (2 backbone passes; steadier). Default: the backbone's tuning. */
  flipAverage?: boolean;
  /**
   * A face whose crop the backbone itself calls a dog (dog probability ≥ this) is a dog's face,
   * not a person's: face detectors fire on dog faces. 1 disables the check. Default: the backbone's tuning.
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
  /**
   * How many of a dog's breeds the message names: the fewest whose probabilities reach `mass`, at
   * most `max`, none after the first below `floor` (app/messages.ts). Default: the backbone's
   * tuning; `NAME_ONE` names the best only.
   */
  namedBreeds?: NamedBreeds;
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
  /** Cores each model's passes use (default: the machine's cores); the backbone runs that many single-threaded sessions (models/backbone.ts). */
  threads?: number;
  /**
   * Called once every model's graph is on its way to onnxruntime on its own thread (before they are
   * loaded): start-up work that would otherwise hold the main thread before that (`serve` importing
   * the HTTP server) can start then without delaying the models.
   */
  onSessionsRequested?: () => void;
  /**
   * The breed ensemble of 'accurate' (step 6b, dog-pipeline.ts): other backbones (the main
   * backbone's tuning names them) read a dog the centre view is unsure of. Default: on where the
   * tuning has one and the breeds are ImageNet's (a trained breed model has classes of its own);
   * false turns it off. Their model files are found at start (a missing one fails it); their
   * sessions load on the first dog that needs them, or at once with `warmUp()`.
   */
  ensemble?: boolean;
}

/** The defaults that do not depend on the backbone (those that do are in app/tuning.ts, read through `app.plan`). */
type AppDefaults = Required<Pick<DogAppOptions, 'faceDetector' | 'maxFaces' | 'minFaceArea' | 'topK' | 'quality'>>;
export const DOG_APP_DEFAULTS: AppDefaults = { faceDetector: 'yunet', ...FACE_SEARCH_DEFAULTS, topK: DEFAULT_TOP_K, quality: DEFAULT_QUALITY };

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
 * The app on this host (Node: sharp, onnxruntime-node): decode, then the one dog pipeline
 * (dog-pipeline.ts) by the plan of its preset and backbone. Models load once in createDogApp.
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
    /** What the pipeline runs for each photo: the preset's steps with the backbone's values (quality.ts `dogPlan`). */
    readonly plan: DogPlan,
    /** The ensemble's backbones, each with ImageNet's dog-breed head (step 6b; none when the plan has none). */
    private readonly members: EnsembleMembers,
  ) {}

  /** Loads every model the options ask for (backbone, breed classifier, face detector, and YOLOX-nano for the 'fast' and 'accurate' presets) once; options given as `undefined` keep their defaults. */
  static async create(options: DogAppOptions = {}): Promise<DogApp> {
    // an option given as undefined (a CLI flag not set) keeps its default
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as DogAppOptions;
    const opts = { ...DOG_APP_DEFAULTS, ...given };
    const store = opts.store;
    // The ensemble's members speak ImageNet's breeds; a trained head's classes are its own.
    const ensemble = opts.ensemble !== false && !opts.modelDir?.length;
    const wanted = ensemble ? dogPlan(opts.quality, opts.backbone ?? DOG_APP_BACKBONE).breeds.ensemble : undefined;
    const loads = [
      // A breed head on pixels keeps its own flip policy unless told; one on the backbone shares the detection's.
      whenSessionRequested(() =>
        ImageClassifier.load({
          model: opts.modelDir,
          backbone: opts.backbone ?? DOG_APP_BACKBONE,
          flip: options.flipAverage,
          store,
          engine: opts.engine,
          threads: opts.threads,
        }),
      ),
      whenSessionRequested<FaceDetector>(() =>
        opts.faceDetector === 'haar' ? HaarFaceDetector.create({ ...opts.haar, store }) : YunetFaceDetector.create({ ...opts.yunet, store }),
      ),
      whenSessionRequested(async () => (PRESETS[opts.quality].objects ? YoloxDetector.create({ store, threads: opts.threads }) : null)),
    ] as const;
    if (options.onSessionsRequested) void Promise.all(loads.map((l) => l.requested)).then(options.onSessionsRequested);
    const [unit, faceDetector, coco, members] = await Promise.all([
      loads[0].loaded,
      loads[1].loaded,
      loads[2].loaded,
      EnsembleMembers.findFiles(wanted, store),
    ]);
    const imagenet = unit.backbone
      ? unit
      : await ImageClassifier.load({ backbone: opts.backbone ?? DOG_APP_BACKBONE, flip: opts.flipAverage, store, engine: opts.engine, threads: opts.threads });
    const plan = dogPlan(opts.quality, imagenet.backbone!.name, { ...opts, ensemble });
    // the unit's own flip policy (classify, eval) follows the plan's, as the pipeline embeds with it
    if (unit.backbone) unit.flip = plan.flipAverage;
    if (imagenet !== unit) imagenet.flip = plan.flipAverage;
    const ensembleMembers = new EnsembleMembers(members, { store, engine: opts.engine, threads: opts.threads }, unit.classes);
    return new DogApp(unit, imagenet, faceDetector, opts, coco, plan, ensembleMembers);
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
      /** Whether the values are the backbone's own (else whose they borrow). */
      tuning: this.plan.tuning,
      dogDetector: this.plan.dog,
      classifier: { name: this.classifier.name, classes: this.classifier.classes.length },
      flipAverage: this.plan.flipAverage,
      ...(this.plan.breeds.ensemble?.length ? { ensemble: this.plan.breeds.ensemble.map((m) => m.backbone) } : {}),
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
    // the same pipeline the browser's device mode runs, on this host's models
    const { timings, ...answer } = await runDogPipeline(this.host, image, this.plan);
    return { ...answer, timings: { decodeMs: round(t1 - t0, 1), ...timings, totalMs: round(performance.now() - t0, 1) } };
  }

  /**
   * The models as the shared pipeline (dog-pipeline.ts) calls them, on this host: sharp and
   * onnxruntime-node. YOLOX-nano is loaded for the presets that ask it.
   */
  private get host(): DogPipelineHost {
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
      ...(this.members.size ? { ensemble: { predict: (name, images, flip) => this.memberProbabilities(name, images, flip) } } : {}),
    });
  }
  private hostCache?: DogPipelineHost;

  /** The breed head on views already embedded (or on their pixels, for a head that reads pixels). */
  private async breedProbabilities(views: { image: RgbImage; output?: BackboneOutput }[]): Promise<Float32Array[]> {
    if (this.unit === this.imagenet) return this.unit.headProbabilities(views.map((v) => v.output ?? missingOutput()));
    return (await this.unit.classify(views.map((v) => v.image))).map((r) => r.probabilities);
  }

  /** An ensemble member's breed probabilities (its ImageNet dog-breed head), each image averaged with its mirror image when `flip`. */
  private async memberProbabilities(name: string, images: RgbImage[], flip: boolean): Promise<Float32Array[]> {
    const member = await this.members.get(name);
    return member.headProbabilities(await embedWith(member.backboneHost(), images, flip));
  }

  /**
   * Loads now what would otherwise load on first need, or not at all in a one-shot `predict`: the
   * breed ensemble's sessions (step 6b), and the backbone's single-threaded sessions side by side
   * (models/backbone.ts `warmUp`). `serve` and `worker` call it once ready, so that no request
   * waits for them. The answers are the same before and after.
   */
  async warmUp(): Promise<void> {
    await Promise.all([this.backbone.warmUp?.(), this.members.warmUp()]);
  }

  /** Releases every model's session; the app cannot be used afterwards. */
  dispose(): void {
    this.members.dispose();
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

/**
 * The breed ensemble's members (step 6b). Their model files are found when the app starts, so a
 * missing one fails the start and not a request; their sessions (a backbone each, ~0.2–0.4 s and
 * ~30 MB apiece) load on the first dog that needs them, or all at once with `warmUp()`. Loaded at
 * start they cost every start, a cold `predict` of a photo that never needs them too (#24).
 */
class EnsembleMembers {
  private readonly loading = new Map<string, Promise<ImageClassifier>>();

  constructor(
    readonly names: readonly string[],
    private readonly o: MemberLoadOptions,
    /** The app's breeds, which a member's probabilities must match class by class. */
    private readonly breeds: readonly ClassInfo[],
  ) {}

  /** The names of the members the plan names, once their files are found (in the model directory or the cache). */
  static async findFiles(wanted: readonly EnsembleMember[] | undefined, store: ModelStore = getDefaultStore()): Promise<string[]> {
    const names = [...new Set((wanted ?? []).map((m) => m.backbone))];
    await Promise.all(names.map((n) => store.resolve(registryEntry(n)).catch((e: unknown) => Promise.reject(memberError(n, e)))));
    return names;
  }

  get size(): number {
    return this.names.length;
  }

  /** A member, loaded on first call; its breeds checked against the app's. */
  get(name: string): Promise<ImageClassifier> {
    let m = this.loading.get(name);
    if (!m) {
      if (!this.names.includes(name)) return Promise.reject(new Error(`ensemble member ${name} is not in the plan`));
      m = ImageClassifier.load({ backbone: name, ...this.o }).then(
        (c) => {
          const same = c.classes.length === this.breeds.length && c.classes.every((x, k) => x.name === this.breeds[k]!.name);
          if (same) return c;
          c.dispose();
          throw new Error(`ensemble member ${name}: its breeds are not the app's`);
        },
        (e: unknown) => Promise.reject(memberError(name, e)),
      );
      // a failed load is tried again by the next photo that needs it
      m.catch(() => this.loading.delete(name));
      this.loading.set(name, m);
    }
    return m;
  }

  async warmUp(): Promise<void> {
    await Promise.all(this.names.map((n) => this.get(n)));
  }

  dispose(): void {
    for (const m of this.loading.values())
      m.then(
        (c) => c.dispose(),
        () => undefined,
      );
    this.loading.clear();
  }
}

type MemberLoadOptions = { store?: ModelStore | undefined; engine?: BackboneOptions['engine']; threads?: number | undefined };

/** The same error (its class and code), saying which model and how to do without it. */
function memberError(backbone: string, e: unknown): unknown {
  if (e instanceof Error) e.message = `ensemble member ${backbone}: ${e.message} (--no-ensemble or createDogApp({ ensemble: false }) runs without it)`;
  return e;
}

function missingOutput(): never {
  throw new Error('the breed head reads the backbone, and a view came without its backbone outputs');
}

/** Load every model once and return the app (the library's entry point). */
export function createDogApp(options: DogAppOptions = {}): Promise<DogApp> {
  return DogApp.create(options);
}
