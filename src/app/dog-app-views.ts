import type { RgbImage } from '../data/image.js';
import type { YoloxDetector } from '../detectors/coco.js';
import type { CocoBox } from '../detectors/coco-decode.js';
import { detectDog, dogBoxRescues, DOG_BOX_RESCUE, type DogDetectorOptions } from '../detectors/imagenet-dog-rule.js';
import type { FaceBox, FaceDetector } from '../detectors/face/types.js';
import { personFaces } from '../detectors/person.js';
import type { BackboneOutput } from '../models/backbone.js';
import type { ImageClassifier } from '../models/image-classifier.js';
import { topK, type ClassInfo, type ClassProbability } from '../models/probabilities.js';
import type { ResultKind } from './messages.js';
import { dogAnswer, timedFrom, type DogPipelineResult } from './dog-pipeline.js';
import type { QualityPolicy } from './quality.js';
import { combineViews, dogViewPlan, viewImages } from './views.js';

/**
 * The 'fast' and 'accurate' presets (app/quality.ts; measured by `npm run bench:breeds`): the
 * shared pipeline's steps plus YOLOX-nano, which says whose faces these are (a face inside a dog
 * box is the dog's) and where the dog is (a view around it, when the centre view is unsure).
 * Node only for now: the browser host has no YOLOX, so 'standard' stays the default everywhere.
 */
export interface ViewsAppParts {
  imagenet: ImageClassifier;
  faceDetector: FaceDetector;
  coco: YoloxDetector;
  classes: ClassInfo[];
  /** The breed head on views (embedded, or pixels for a head on pixels). */
  breedProbabilities(views: { image: RgbImage; output?: BackboneOutput }[]): Promise<Float32Array[]>;
  /** True when the breed head reads the ImageNet backbone's outputs (views can reuse its embeddings). */
  headOnBackbone: boolean;
  crop(image: RgbImage, f: FaceBox): Promise<RgbImage>;
}

export interface ViewsAppOptions {
  dog?: DogDetectorOptions;
  faceDogVeto: number;
  maxFaces: number;
  minFaceArea: number;
  topK: number;
}

/** The shared pipeline's answer (less the image size), with YOLOX's time too. */
export type ViewsAnswer = Omit<DogPipelineResult, 'width' | 'height' | 'timings'> & { timings: DogPipelineResult['timings'] & { objectsMs: number } };

export async function classifyWithViews(parts: ViewsAppParts, image: RgbImage, policy: QualityPolicy, o: ViewsAppOptions): Promise<ViewsAnswer> {
  // the photo's backbone pass and the face search overlap, as in the shared pipeline
  const t1 = performance.now();
  const [backbone, search] = await Promise.all([timedFrom(t1, parts.imagenet.embed([image])), timedFrom(t1, findFaces(parts, image, o))]);
  const whole = backbone.value[0]!;
  const found = search.value;
  const t3 = performance.now();
  // Photos that may hold a dog (the mass rule's threshold, or the band where a dog box decides):
  // the centre view's breeds, and whether they are sure enough alone.
  const dogMass = detectDog(whole.probabilities, o.dog, false);
  const judge = dogMass.isDog;
  const mayBeDog = judge || dogMass.probability >= DOG_BOX_RESCUE.mass;
  const [centre] = mayBeDog ? await parts.breedProbabilities([{ image, output: whole }]) : [];
  const moreViews = centre !== undefined && Math.max(...centre) < policy.confident;
  // YOLOX only where it has a question to answer: where the dog is, whether the backbone missed
  // a dog, whose faces these are.
  const ask = (mayBeDog && (moreViews || !judge || found.faces.length > 0)) || found.vetoed.some(Boolean);
  const objects = ask ? await parts.coco.detect(image) : [];
  const keep = personFaces(
    found.faces.map((box, i) => ({ box, vetoed: found.vetoed[i]! })),
    objects,
    judge,
    policy.personRule,
  );
  const faces = found.faces.filter((_, i) => keep[i]);
  const faceOutputs = found.faceOutputs.filter((_, i) => keep[i]);
  const faceCrops = found.faceCrops.filter((_, i) => keep[i]);
  const t4 = performance.now();
  const human = faces.length > 0;
  const byMass = detectDog(whole.probabilities, o.dog, human);
  const dog = { ...byMass, isDog: byMass.isDog || dogBoxRescues(byMass.probability, objects) };
  const kind: ResultKind = dog.isDog && human ? 'both' : dog.isDog ? 'dog' : human ? 'human' : 'neither';
  let breeds: ClassProbability[] = [];
  let humanBreeds: ClassProbability[] | undefined;
  // The person's resemblance is read from their face, the dog's breed from the preset's views.
  if (dog.isDog) {
    const probs = moreViews
      ? await dogBreedProbabilities(parts, image, whole, objects, policy)
      : (centre ?? (await parts.breedProbabilities([{ image, output: whole }]))[0]!);
    breeds = topK(probs, parts.classes, o.topK);
  }
  if (human) {
    const [probs] = await parts.breedProbabilities([{ image: faceCrops[0]!, output: faceOutputs[0]! }]);
    const resemblance = topK(probs!, parts.classes, o.topK);
    if (dog.isDog) humanBreeds = resemblance;
    else breeds = resemblance;
  }
  const t5 = performance.now();
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    ...dogAnswer(kind, breeds, humanBreeds, faces, dog.probability),
    timings: { backboneMs: r(backbone.ms + (t5 - t4)), facesMs: r(search.ms), objectsMs: r(t4 - t3) },
  };
}

/** The dog's breed probabilities: the preset's views (the centre view already embedded), combined by its rule. */
async function dogBreedProbabilities(
  parts: ViewsAppParts,
  image: RgbImage,
  whole: BackboneOutput,
  objects: CocoBox[],
  policy: QualityPolicy,
): Promise<Float32Array> {
  const plan = dogViewPlan(policy, objects);
  const images = await viewImages(image, plan.views, plan.dog);
  const fresh = plan.views.map((v, i) => (v.kind === 'centre' && v.crop === 1 ? -1 : i)).filter((i) => i >= 0);
  const embedded = parts.headOnBackbone && fresh.length ? await parts.imagenet.embed(fresh.map((i) => images[i]!)) : [];
  const outputs = images.map((_, i) => (fresh.includes(i) ? embedded[fresh.indexOf(i)] : whole));
  return combineViews(await parts.breedProbabilities(images.map((im, i) => ({ image: im, output: outputs[i] }))), policy.rule);
}

/**
 * Faces from the detector, largest first, each checked by the backbone: `vetoed` when it calls
 * the crop a dog (a dog's face, unless a person box around it says otherwise).
 */
async function findFaces(parts: ViewsAppParts, image: RgbImage, o: ViewsAppOptions) {
  const minArea = o.minFaceArea * image.width * image.height;
  const candidates = (await parts.faceDetector.detect(image))
    .filter((f) => f.width * f.height >= minArea)
    .sort((a, b) => b.width * b.height - a.width * a.height)
    .slice(0, o.maxFaces);
  if (candidates.length === 0) return { faces: [] as FaceBox[], faceOutputs: [] as BackboneOutput[], faceCrops: [] as RgbImage[], vetoed: [] as boolean[] };
  const crops = await Promise.all(candidates.map((f) => parts.crop(image, f)));
  const outputs = await parts.imagenet.embed(crops);
  return {
    faces: candidates.map((f) => ({ ...f, score: Math.round(f.score * 1e4) / 1e4 })),
    faceOutputs: outputs,
    faceCrops: crops,
    vetoed: outputs.map((out) => detectDog(out.probabilities, { ...o.dog, rule: 'mass' }).probability >= o.faceDogVeto),
  };
}
