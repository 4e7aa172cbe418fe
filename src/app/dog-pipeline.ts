import { cropRect, type Rect, type RgbImage } from '../data/pixels.js';
import { detectDog, DOG_DETECTOR_DEFAULTS, type DogDetectorOptions } from '../detectors/imagenet-dog-rule.js';
import type { FaceBox } from '../detectors/face/types.js';
import { topK, type BackboneOutput, type ClassInfo, type ClassProbability } from '../models/probabilities.js';
import { embedWith, type BackboneHost } from '../models/views.js';
import { composeMessage, type ResultKind } from './messages.js';

/**
 * The dog-breed app's decisions, with no host dependency: the server (DogApp: sharp,
 * onnxruntime-node) and the browser's device mode (pure resize, onnxruntime-web) both answer
 * through `runDogPipeline`, so routing rules, thresholds, crops and messages are one code.
 * A host supplies only the model calls, each behind a small interface:
 * - `backbone`: fit an image to the backbone and run it on fitted views (views.ts adds the mirror
 *   images and averages);
 * - `detectFaces`: face boxes in the image's coordinates;
 * - `crop`: cut a rectangle out;
 * - `breeds`: the breed head on views already embedded.
 * A new step (another detector, more views) is one more member here and one implementation per host:
 * the 'fast' and 'accurate' presets (dog-app-views.ts) add `detectObjects` (YOLOX-nano).
 */
export type { ResultKind } from './messages.js';

export interface DogPipelineHost {
  backbone: BackboneHost;
  detectFaces(image: RgbImage): Promise<FaceBox[]>;
  crop(image: RgbImage, rect: Rect): Promise<RgbImage>;
  breeds: {
    classes: ClassInfo[];
    /**
     * Class probabilities for views already embedded (their pixels too, for a head that reads
     * pixels). A view's `output` is absent only when `readsPixels` says the head does not need it.
     */
    predict(views: { image: RgbImage; output?: BackboneOutput }[]): Promise<Float32Array[]>;
    /** The head reads pixels only (a breed CNN of its own): views it alone reads need no backbone pass. */
    readsPixels?: boolean;
  };
}

export interface DogPipelineOptions {
  dog?: DogDetectorOptions;
  /** Average predictions over the image and its mirror image (2 backbone passes; steadier). */
  flipAverage: boolean;
  /**
   * A face whose crop the backbone itself calls a dog (dog probability ≥ this) is a dog's face,
   * not a person's: face detectors fire on dog faces. 1 disables the check. The default is the dog
   * rule's threshold with a person in view (0.6): a portrait's face crop is the photo itself, so
   * the check and the dog rule read one number, and they must read it alike (at 0.5, a portrait at
   * 0.5–0.6 dog lost its face and was answered "dog"; README, "A person only where there is one").
   */
  faceDogVeto: number;
  /** Faces checked per image (largest first). */
  maxFaces: number;
  /**
   * Smallest face, as a fraction of the image area. Detectors' false faces on dogs and objects
   * are tiny (median 0.5% of the image on the shared photos); a person to compare with a breed is not.
   */
  minFaceArea: number;
  topK: number;
}

export const DOG_PIPELINE_DEFAULTS: DogPipelineOptions = {
  flipAverage: true,
  faceDogVeto: DOG_DETECTOR_DEFAULTS.thresholdWithPerson,
  maxFaces: 4,
  minFaceArea: 0.005,
  topK: 5,
};

/** The answer for one image, before the host adds its timings. */
export interface DogPipelineResult {
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
  /**
   * From the start of the model work: until the photo's backbone outputs were ready, and until the
   * face search (detector + face checks) was done. The two overlap, so they do not add up.
   */
  timings: { backboneMs: number; facesMs: number };
}

/** The face box grown by half its size on each side: the head and some context, as the backbone expects. */
export function faceCropRect(f: FaceBox): Rect {
  const m = 0.5;
  return { x: f.x - f.width * m, y: f.y - f.height * m, width: f.width * (1 + 2 * m), height: f.height * (1 + 2 * m) };
}

export function routeKind(isDog: boolean, human: boolean): ResultKind {
  return isDog && human ? 'both' : isDog ? 'dog' : human ? 'human' : 'neither';
}

/**
 * decoded image → [backbone (probabilities + features) ‖ face detector → face check] → dog rule →
 * breed head (dog: whole photo; person: their face crop) → message.
 */
export async function runDogPipeline(host: DogPipelineHost, image: RgbImage, o: DogPipelineOptions): Promise<DogPipelineResult> {
  // The photo's backbone pass and the face search (detector, then the backbone on each face crop)
  // start together: neither needs the other's result, and on a host that runs models on their own
  // threads (Node: a worker per session) the face detector works while the backbone does, instead
  // of after it. A host that cannot overlap them simply runs them one after the other.
  const t1 = performance.now();
  const photo = embedWith(host.backbone, [image], o.flipAverage);
  const [backbone, search] = await Promise.all([timedFrom(t1, photo), timedFrom(t1, searchFaces(host, image, o, firstOf(photo)))]);
  const whole = backbone.value[0]!;
  // a face whose crop the backbone calls a dog is a dog's face (the presets with YOLOX may overrule that)
  const {
    faces,
    outputs: faceOutputs,
    crops: faceCrops,
  } = pickFaces(
    search.value,
    search.value.vetoed.map((v) => !v),
  );
  const human = faces.length > 0;
  const dog = detectDog(whole.probabilities, o.dog, human);
  const kind = routeKind(dog.isDog, human);
  // The person's resemblance is read from their face, the dog's breed from the whole photo: one head call for both.
  const views: { image: RgbImage; output: BackboneOutput }[] = [];
  if (dog.isDog) views.push({ image, output: whole });
  if (human) views.push({ image: faceCrops[0]!, output: faceOutputs[0]! });
  const probs = views.length > 0 ? await host.breeds.predict(views) : [];
  return {
    ...dogAnswer(
      kind,
      { dog: dog.isDog ? probs[0] : undefined, person: human ? probs[probs.length - 1] : undefined },
      host.breeds.classes,
      o.topK,
      faces,
      dog.probability,
    ),
    width: image.width,
    height: image.height,
    timings: { backboneMs: round(backbone.ms, 1), facesMs: round(search.ms, 1) },
  };
}

/** What the face search found: every candidate face, its crop, the backbone's outputs on the crop, and the crop check's verdict. */
export interface FaceSearch {
  faces: FaceBox[];
  outputs: BackboneOutput[];
  crops: RgbImage[];
  /** The backbone calls the face's crop a dog (dog probability ≥ faceDogVeto): a dog's face, unless other evidence says otherwise. */
  vetoed: boolean[];
}

/**
 * Faces from the detector, largest first (at most `maxFaces`, none smaller than `minFaceArea`),
 * each cropped with its context and checked by the backbone. Every preset searches so; they differ
 * in which faces they keep (the crop check alone, or with YOLOX's evidence).
 *
 * `whole`: the photo's own backbone outputs, on their way. A face whose crop with its context is
 * the whole photo (every LFW portrait, where the face fills the frame) is checked on those: the
 * same pixels, so the same outputs, without a second pass. A getter, called only when such a face
 * is found, so that a failed pass never leaves a promise nobody awaits (an unhandled rejection
 * ends the process).
 */
export async function searchFaces(host: DogPipelineHost, image: RgbImage, o: DogPipelineOptions, whole?: () => Promise<BackboneOutput>): Promise<FaceSearch> {
  const minArea = o.minFaceArea * image.width * image.height;
  const candidates = (await host.detectFaces(image))
    .filter((f) => f.width * f.height >= minArea)
    .sort((a, b) => b.width * b.height - a.width * a.height)
    .slice(0, o.maxFaces);
  if (candidates.length === 0) return { faces: [], outputs: [], crops: [], vetoed: [] };
  const rects = candidates.map((f) => faceCropRect(f));
  const isWhole = rects.map((r) => whole !== undefined && coversImage(image, r));
  const crops = await Promise.all(rects.map((r, i) => (isWhole[i] ? image : host.crop(image, r))));
  const fresh = crops.filter((_, i) => !isWhole[i]);
  const [embedded, wholeOutput] = await Promise.all([
    fresh.length ? embedWith(host.backbone, fresh, o.flipAverage) : [],
    isWhole.some(Boolean) ? whole!() : undefined,
  ]);
  let next = 0;
  const outputs = crops.map((_, i) => (isWhole[i] ? wholeOutput! : embedded[next++]!));
  return {
    faces: candidates.map((f) => ({ ...f, score: round(f.score, 4) })),
    outputs,
    crops,
    vetoed: outputs.map((out) => detectDog(out.probabilities, { ...o.dog, rule: 'mass' }).probability >= o.faceDogVeto),
  };
}

/** Whether a crop of `r` (clamped as every host's crop clamps it) is the whole image. */
function coversImage(image: RgbImage, r: Rect): boolean {
  const c = cropRect(image, r);
  return c.left === 0 && c.top === 0 && c.width === image.width && c.height === image.height;
}

/** The faces a rule keeps (`keep[i]` for the search's face i), with their crops and outputs, in the search's order. */
export function pickFaces(s: FaceSearch, keep: readonly boolean[]): Omit<FaceSearch, 'vetoed'> {
  const idx = s.faces.map((_, i) => (keep[i] ? i : -1)).filter((i) => i >= 0);
  return { faces: idx.map((i) => s.faces[i]!), outputs: idx.map((i) => s.outputs[i]!), crops: idx.map((i) => s.crops[i]!) };
}

/** The first of a batch's outputs, when asked for (the photo's own, for the face search). */
export const firstOf =
  (outputs: Promise<BackboneOutput[]>): (() => Promise<BackboneOutput>) =>
  () =>
    outputs.then((x) => x[0]!);

/** A step's value and the milliseconds from `t0` until it was ready (steps that overlap are timed from one start). */
export function timedFrom<T>(t0: number, step: Promise<T>): Promise<{ value: T; ms: number }> {
  return step.then((value) => ({ value, ms: performance.now() - t0 }));
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * The answer's words and numbers, the same for every preset and host: kind, message, breeds
 * (the dog's from `probs.dog`; a person's resemblance from `probs.person`, their face), faces.
 */
export function dogAnswer(
  kind: ResultKind,
  probs: { dog?: Float32Array | undefined; person?: Float32Array | undefined },
  classes: ClassInfo[],
  k: number,
  faces: FaceBox[],
  dogProbability: number,
) {
  const dogBreeds = probs.dog ? topK(probs.dog, classes, k) : undefined;
  const resemblance = probs.person ? topK(probs.person, classes, k) : undefined;
  const breeds = dogBreeds ?? resemblance ?? [];
  const humanBreeds = dogBreeds ? resemblance : undefined;
  return {
    kind,
    message: composeMessage(kind, breeds, humanBreeds, faces.length),
    breeds,
    ...(humanBreeds ? { humanBreeds } : {}),
    faces,
    dogProbability: round(dogProbability, 4),
  };
}
