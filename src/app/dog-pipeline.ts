import { cropRect, type Rect, type RgbImage } from '../data/pixels.js';
import type { CocoBox } from '../detectors/coco-decode.js';
import type { FaceBox } from '../detectors/face/types.js';
import { detectDog, dogBoxRescues } from '../detectors/imagenet-dog-rule.js';
import { personFaces } from '../detectors/person.js';
import { topK, type BackboneOutput, type ClassInfo, type ClassProbability } from '../models/probabilities.js';
import { embedWith, type BackboneHost } from '../models/views.js';
import { composeMessage, type ResultKind } from './messages.js';
import type { DogPlan } from './quality.js';
import type { EnsembleMember } from './tuning.js';
import { combineEnsemble, combineViews, dogViewPlan, viewImages, type Box, type ViewSpec } from './views.js';

/**
 * The dog-breed app: one pipeline, for every preset and every host. The server (DogApp: sharp,
 * onnxruntime-node), the batch worker and the browser's device mode (pure resize, onnxruntime-web)
 * all answer through `runDogPipeline`, so routing rules, thresholds, crops, views and messages are
 * one code. What runs, and with which numbers, is data: the plan (quality.ts `dogPlan`: the
 * preset's steps, the backbone's tuned values from tuning.ts, the user's overrides).
 *
 * One photo, step by step:
 * 1. the backbone on the photo (and its mirror image), while the face search runs beside it:
 *    YuNet, then the backbone on each face crop, whose dog mass is the face check (`searchFaces`);
 * 2. the dog rule on the photo's ImageNet probabilities (mass over the dog classes);
 * 3. [plan.breeds.confident > 0] the breed head on the centre view: sure enough, it answers alone;
 * 4. [plan.objects] YOLOX-nano, only where it has a question to answer: whose faces these are (the
 *    person evidence), whether the dog rule missed a dog (the dog-box rescue), where the dog is
 *    (the dog view);
 * 5. the route: dog, human, both or neither;
 * 6. the breed head: the dog's breed from the centre view or the plan's views (combined by the
 *    plan's rule), a person's resemblance from their face crop; then the message;
 * 6b. [plan.breeds.ensemble, a host with `ensemble`] a dog the centre view is unsure of is read by
 *    other backbones too (their views need no dog box, so they start as soon as the dog rule says
 *    dog, beside YOLOX), and their breed probabilities join the main backbone's by log-mean. Only
 *    'accurate' has it (the other presets never read more views). The browser's device mode has no
 *    `ensemble` and skips the step: it answers as a server with `ensemble: false` does.
 *
 * A host supplies only the model calls, each behind a small interface:
 * - `backbone`: fit an image to the backbone and run it on fitted views (models/views.ts adds the
 *   mirror images and averages);
 * - `detectFaces`: face boxes in the image's coordinates;
 * - `crop`: cut a rectangle out;
 * - `detectObjects`: COCO person, cat and dog boxes (YOLOX-nano), for a plan with `objects`;
 * - `breeds`: the breed head on views already embedded;
 * - `ensemble` (optional): another backbone's breed probabilities on views of the photo.
 * A new step is one more member here, one field of the plan, and one implementation per host.
 */
export type { ResultKind } from './messages.js';

export interface DogPipelineHost {
  backbone: BackboneHost;
  detectFaces(image: RgbImage): Promise<FaceBox[]>;
  crop(image: RgbImage, rect: Rect): Promise<RgbImage>;
  /** COCO person, cat and dog boxes in the image's coordinates (YOLOX-nano, its letterbox in its graph); asked only by a plan with `objects`. */
  detectObjects?(image: RgbImage): Promise<CocoBox[]>;
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
  /**
   * Step 6b: another backbone's (an ensemble member's) probabilities over `breeds.classes` for each
   * image, averaged with its mirror image when `flip`. Absent (the browser's device mode): the
   * step is skipped, and the main backbone answers alone.
   */
  ensemble?: {
    predict(backbone: string, images: RgbImage[], flip: boolean): Promise<Float32Array[]>;
  };
}

/** The answer for one image, before the host adds its decoding time. */
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
  /** The ensemble's backbones, when they read the dog's breed with the main backbone (step 6b); absent when the step did not run. */
  ensemble?: string[];
  /** Present only when the plan's values were not tuned for its backbone (they are `tunedFor`'s). */
  tuning?: { backbone: string; tuned: false; tunedFor: string };
  /**
   * From the start of the model work: until the photo's backbone outputs were ready (plus the breed
   * work after the route), and until the face search (detector + face checks) was done. The two
   * overlap, so they do not add up. `objectsMs`: YOLOX-nano (0 when it did not run).
   */
  timings: { backboneMs: number; facesMs: number; objectsMs: number };
}

/** The face box grown by half its size on each side: the head and some context, as the backbone expects. */
export function faceCropRect(f: FaceBox): Rect {
  const m = 0.5;
  return { x: f.x - f.width * m, y: f.y - f.height * m, width: f.width * (1 + 2 * m), height: f.height * (1 + 2 * m) };
}

export function routeKind(isDog: boolean, human: boolean): ResultKind {
  return isDog && human ? 'both' : isDog ? 'dog' : human ? 'human' : 'neither';
}

/** The whole app on one decoded photo, by the plan. */
export async function runDogPipeline(host: DogPipelineHost, image: RgbImage, plan: DogPlan): Promise<DogPipelineResult> {
  // 1. The photo's backbone pass and the face search start together: neither needs the other's
  // result, and on a host that runs models on their own threads (Node: a worker per session) the
  // face detector works while the backbone does, instead of after it. A host that cannot overlap
  // them simply runs them one after the other.
  const t1 = performance.now();
  const photo = embedWith(host.backbone, [image], plan.flipAverage);
  const [backbone, search] = await Promise.all([timedFrom(t1, photo), timedFrom(t1, searchFaces(host, image, plan, firstOf(photo)))]);
  const whole = backbone.value[0]!;
  const found = search.value;
  // 2. Photos that may hold a dog: the dog rule's threshold without a person, or (with YOLOX) the
  // band where a dog box decides.
  const byMassAlone = detectDog(whole.probabilities, plan.dog, false);
  const judge = byMassAlone.isDog;
  const mayBeDog = judge || (plan.objects !== null && byMassAlone.probability >= plan.objects.dogBoxRescue.mass);
  // 3. The centre view's breeds, when the plan has more views for a dog it is unsure of.
  const weighs = plan.breeds.confident > 0;
  const [centre] = mayBeDog && weighs ? await host.breeds.predict([{ image, output: whole }]) : [];
  const moreViews = centre !== undefined && Math.max(...centre) < plan.breeds.confident;
  // 4. YOLOX only where it has a question to answer: where the dog is, whether the backbone missed
  // a dog, whose faces these are.
  const ask = plan.objects !== null && ((mayBeDog && (moreViews || !judge || found.faces.length > 0)) || found.vetoed.some(Boolean));
  // A dog by its mass that needs more views: the views that need no dog box are embedded while
  // YOLOX looks (2 cores: 6.4 ms less at the median of such photos, measured interleaved). Rarely
  // wasted: only when a face found beside the dog raises the dog rule's threshold above its mass.
  const early = judge && moreViews ? settled(embedViews(host, image, whole, boxFree(plan.breeds.views), undefined, plan)) : undefined;
  // 6b starts here for the same photos and for the same reason: its views need no dog box either.
  const members = moreViews && host.ensemble && plan.breeds.ensemble?.length ? plan.breeds.ensemble : undefined;
  const earlyEnsemble = judge && members ? settled(ensembleOf(host, image, members, plan.flipAverage)) : undefined;
  const t3 = performance.now();
  const objects = ask ? await detectObjectsOf(host, image) : [];
  const objectsMs = ask ? performance.now() - t3 : 0; // YOLOX, with the early views beside it
  // 5. The route. Without YOLOX a face the crop check vetoed is a dog's; with it, its boxes judge.
  const keep = plan.objects
    ? personFaces(
        found.faces.map((box, i) => ({ box, vetoed: found.vetoed[i]! })),
        objects,
        judge,
        plan.objects.personRule,
      )
    : found.vetoed.map((v) => !v);
  const { faces, outputs: faceOutputs, crops: faceCrops } = pickFaces(found, keep);
  const t4 = performance.now();
  const human = faces.length > 0;
  const byMass = detectDog(whole.probabilities, plan.dog, human);
  const isDog = byMass.isDog || (plan.objects !== null && dogBoxRescues(byMass.probability, objects, plan.objects.dogBoxRescue));
  const kind = routeKind(isDog, human);
  // 6. The person's resemblance is read from their face, the dog's breed from the plan's views:
  // one head call for what is still to read. 6b, for a dog the rescue found, starts now, beside the views.
  const ensemble = isDog && members ? (earlyEnsemble ?? settled(ensembleOf(host, image, members, plan.flipAverage))) : undefined;
  const dogViews: BreedView[] = !isDog
    ? []
    : moreViews
      ? await breedViews(host, image, whole, objects, plan, early && (await early))
      : centre
        ? []
        : [{ image, output: whole }];
  const personView: EmbeddedView[] = human ? [{ image: faceCrops[0]!, output: faceOutputs[0]! }] : [];
  const read = [...dogViews, ...personView];
  const probs = read.length ? await host.breeds.predict(read) : [];
  const others = ensemble && (await ensemble);
  const dogProbs = !isDog
    ? undefined
    : moreViews
      ? withEnsemble(combineViews(probs.slice(0, dogViews.length), plan.breeds.rule, weightsOf(dogViews, plan)), others)
      : (centre ?? probs[0]);
  const personProbs = human ? probs[probs.length - 1] : undefined;
  const t5 = performance.now();
  return {
    ...dogAnswer(kind, { dog: dogProbs, person: personProbs }, host.breeds.classes, plan, faces, byMass.probability),
    width: image.width,
    height: image.height,
    ...(others ? { ensemble: members!.map((m) => m.backbone) } : {}),
    ...(plan.tuning.tuned ? {} : { tuning: { backbone: plan.tuning.backbone, tuned: false as const, tunedFor: plan.tuning.tunedFor } }),
    timings: { backboneMs: round(backbone.ms + (t5 - t4), 1), facesMs: round(search.ms, 1), objectsMs: round(objectsMs, 1) },
  };
}

/** Step 6b: each member's breed probabilities on its views (members side by side), and each view's weight. */
async function ensembleOf(
  host: DogPipelineHost,
  image: RgbImage,
  members: readonly EnsembleMember[],
  flip: boolean,
): Promise<{ probs: Float32Array[]; weights: number[] }> {
  const per = await Promise.all(
    members.map(async (m) => {
      if (m.views.some((v) => v.kind === 'dog')) throw new Error(`ensemble member ${m.backbone}: a dog-box view cannot run before YOLOX`);
      return host.ensemble!.predict(m.backbone, await viewImages(image, m.views, undefined, host.crop), flip);
    }),
  );
  return { probs: per.flat(), weights: members.flatMap((m) => m.views.map(() => m.weight)) };
}

/** The main backbone's answer for an unsure dog, with the ensemble's when 6b ran. */
function withEnsemble(own: Float32Array, others: { probs: Float32Array[]; weights: number[] } | undefined): Float32Array {
  return others ? combineEnsemble(own, others.probs, others.weights) : own;
}

function detectObjectsOf(host: DogPipelineHost, image: RgbImage): Promise<CocoBox[]> {
  if (!host.detectObjects) throw new Error('this plan asks YOLOX-nano, and the host has no object detector');
  return host.detectObjects(image);
}

/** A view's pixels and, unless the head reads pixels only, its backbone outputs. */
interface EmbeddedView {
  image: RgbImage;
  output?: BackboneOutput;
}

/** A dog view and the spec it was cut by (absent: the whole photo, the centre view). */
type BreedView = EmbeddedView & { spec?: ViewSpec };

/** The plan's weights of the views a photo got (a view outside the plan's list, the fallback centre view, weighs 1). */
function weightsOf(views: readonly BreedView[], plan: DogPlan): number[] | undefined {
  const w = plan.breeds.weights;
  if (!w) return undefined;
  return views.map((v) => {
    const i = v.spec ? plan.breeds.views.indexOf(v.spec) : -1;
    return i >= 0 ? w[i]! : 1;
  });
}

const boxFree = (views: readonly ViewSpec[]): ViewSpec[] => views.filter((v) => v.kind !== 'dog');

/** A promise whose failure waits for the caller that awaits it (an early view nobody asks for must not be an unhandled rejection). */
function settled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * The views cut out by the host's crop and embedded (the whole-photo centre view is `whole`,
 * already embedded; nothing is embedded for a head that reads pixels only).
 */
async function embedViews(
  host: DogPipelineHost,
  image: RgbImage,
  whole: BackboneOutput,
  views: readonly ViewSpec[],
  dog: Box | undefined,
  plan: DogPlan,
): Promise<EmbeddedView[]> {
  const images = await viewImages(image, views, dog, host.crop);
  const fresh = views.map((v, i) => (v.kind === 'centre' && v.crop === 1 ? -1 : i)).filter((i) => i >= 0);
  const embedded =
    !host.breeds.readsPixels && fresh.length
      ? await embedWith(
          host.backbone,
          fresh.map((i) => images[i]!),
          plan.flipAverage,
        )
      : [];
  return images.map((im, i) => ({ image: im, output: fresh.includes(i) ? embedded[fresh.indexOf(i)] : whole }));
}

/**
 * The dog's views, embedded, in the order the plan gives them (less the dog view when YOLOX found
 * no dog box sure enough). `early`: the views that need no dog box, when they were embedded while
 * YOLOX looked; the others are embedded now.
 */
async function breedViews(
  host: DogPipelineHost,
  image: RgbImage,
  whole: BackboneOutput,
  objects: CocoBox[],
  plan: DogPlan,
  early?: EmbeddedView[],
): Promise<BreedView[]> {
  const chosen = dogViewPlan(plan.breeds, objects);
  const ready = early ? boxFree(plan.breeds.views) : [];
  const rest = chosen.views.filter((v) => !ready.includes(v));
  const later = await embedViews(host, image, whole, rest, chosen.dog, plan);
  return chosen.views.map((v) => ({ ...(ready.includes(v) ? early![ready.indexOf(v)]! : later[rest.indexOf(v)]!), spec: v }));
}

/** What the face search found: every candidate face, its crop, the backbone's outputs on the crop, and the crop check's verdict. */
export interface FaceSearch {
  faces: FaceBox[];
  outputs: BackboneOutput[];
  crops: RgbImage[];
  /** The backbone calls the face's crop a dog (dog mass ≥ the plan's `faces.dogVeto`): a dog's face, unless other evidence says otherwise. */
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
export async function searchFaces(
  host: DogPipelineHost,
  image: RgbImage,
  plan: Pick<DogPlan, 'faces' | 'dog' | 'flipAverage'>,
  whole?: () => Promise<BackboneOutput>,
): Promise<FaceSearch> {
  const minArea = plan.faces.minFaceArea * image.width * image.height;
  const candidates = (await host.detectFaces(image))
    .filter((f) => f.width * f.height >= minArea)
    .sort((a, b) => b.width * b.height - a.width * a.height)
    .slice(0, plan.faces.maxFaces);
  if (candidates.length === 0) return { faces: [], outputs: [], crops: [], vetoed: [] };
  const rects = candidates.map((f) => faceCropRect(f));
  const isWhole = rects.map((r) => whole !== undefined && coversImage(image, r));
  const crops = await Promise.all(rects.map((r, i) => (isWhole[i] ? image : host.crop(image, r))));
  const fresh = crops.filter((_, i) => !isWhole[i]);
  const [embedded, wholeOutput] = await Promise.all([
    fresh.length ? embedWith(host.backbone, fresh, plan.flipAverage) : [],
    isWhole.some(Boolean) ? whole!() : undefined,
  ]);
  let next = 0;
  const outputs = crops.map((_, i) => (isWhole[i] ? wholeOutput! : embedded[next++]!));
  return {
    faces: candidates.map((f) => ({ ...f, score: round(f.score, 4) })),
    outputs,
    crops,
    vetoed: outputs.map((out) => detectDog(out.probabilities, { ...plan.dog, rule: 'mass' }).probability >= plan.faces.dogVeto),
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
  plan: Pick<DogPlan, 'topK' | 'namedBreeds'>,
  faces: FaceBox[],
  dogProbability: number,
) {
  // the message may name up to namedBreeds.max breeds even when the answer lists fewer
  const k = Math.max(plan.topK, plan.namedBreeds.max);
  const dogBreeds = probs.dog ? topK(probs.dog, classes, k) : undefined;
  const resemblance = probs.person ? topK(probs.person, classes, k) : undefined;
  const breeds = dogBreeds ?? resemblance ?? [];
  const humanBreeds = dogBreeds ? resemblance : undefined;
  return {
    kind,
    message: composeMessage(kind, breeds, humanBreeds, faces.length, plan.namedBreeds),
    breeds: breeds.slice(0, plan.topK),
    ...(humanBreeds ? { humanBreeds: humanBreeds.slice(0, plan.topK) } : {}),
    faces,
    dogProbability: round(dogProbability, 4),
  };
}
