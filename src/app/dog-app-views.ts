import type { RgbImage } from '../data/pixels.js';
import type { CocoBox } from '../detectors/coco-decode.js';
import { detectDog, dogBoxRescues, DOG_BOX_RESCUE } from '../detectors/imagenet-dog-rule.js';
import { personFaces } from '../detectors/person.js';
import type { BackboneOutput } from '../models/probabilities.js';
import { embedWith } from '../models/views.js';
import {
  dogAnswer,
  firstOf,
  pickFaces,
  round,
  routeKind,
  searchFaces,
  timedFrom,
  type DogPipelineHost,
  type DogPipelineOptions,
  type DogPipelineResult,
} from './dog-pipeline.js';
import type { QualityPolicy } from './quality.js';
import { combineViews, dogViewPlan, viewImages, type Box, type ViewSpec } from './views.js';

/**
 * The 'fast' and 'accurate' presets (app/quality.ts; measured by `npm run bench:breeds`): the
 * shared pipeline's steps plus YOLOX-nano, which says whose faces these are (a face inside a dog
 * box is the dog's) and where the dog is (a view around it, when the centre view is unsure).
 * Host independent, like dog-pipeline.ts: the server (sharp, onnxruntime-node) and the browser's
 * device mode (pure crops, onnxruntime-web) run this one function, each supplying the shared
 * pipeline's host calls plus `detectObjects`.
 */
export interface ViewsPipelineHost extends DogPipelineHost {
  /** COCO person, cat and dog boxes in the image's coordinates (YOLOX-nano, its letterbox in its graph). */
  detectObjects(image: RgbImage): Promise<CocoBox[]>;
}

/** The shared pipeline's answer, with YOLOX's time too (0 when it did not run). */
export type ViewsPipelineResult = Omit<DogPipelineResult, 'timings'> & { timings: DogPipelineResult['timings'] & { objectsMs: number } };

export async function classifyWithViews(host: ViewsPipelineHost, image: RgbImage, policy: QualityPolicy, o: DogPipelineOptions): Promise<ViewsPipelineResult> {
  // the photo's backbone pass and the face search overlap, as in the shared pipeline
  const t1 = performance.now();
  const photo = embedWith(host.backbone, [image], o.flipAverage);
  const [backbone, search] = await Promise.all([timedFrom(t1, photo), timedFrom(t1, searchFaces(host, image, o, firstOf(photo)))]);
  const whole = backbone.value[0]!;
  const found = search.value;
  // Photos that may hold a dog (the mass rule's threshold, or the band where a dog box decides):
  // the centre view's breeds, and whether they are sure enough alone.
  const dogMass = detectDog(whole.probabilities, o.dog, false);
  const judge = dogMass.isDog;
  const mayBeDog = judge || dogMass.probability >= DOG_BOX_RESCUE.mass;
  const [centre] = mayBeDog ? await host.breeds.predict([{ image, output: whole }]) : [];
  const moreViews = centre !== undefined && Math.max(...centre) < policy.confident;
  // YOLOX only where it has a question to answer: where the dog is, whether the backbone missed
  // a dog, whose faces these are.
  const ask = (mayBeDog && (moreViews || !judge || found.faces.length > 0)) || found.vetoed.some(Boolean);
  // A dog by its mass that needs more views: the views that need no dog box are embedded while
  // YOLOX looks (2 cores: 6.4 ms less at the median of such photos, measured interleaved). Rarely
  // wasted: only when a face found beside the dog raises the dog rule's threshold above its mass.
  const early = judge && moreViews ? settled(embedViews(host, image, whole, boxFree(policy.views), undefined, o)) : undefined;
  const t3 = performance.now();
  const objects = ask ? await host.detectObjects(image) : [];
  const objectsMs = ask ? performance.now() - t3 : 0; // YOLOX, with the early views beside it; 0 when it was not asked
  const keep = personFaces(
    found.faces.map((box, i) => ({ box, vetoed: found.vetoed[i]! })),
    objects,
    judge,
    policy.personRule,
  );
  const { faces, outputs: faceOutputs, crops: faceCrops } = pickFaces(found, keep);
  const t4 = performance.now();
  const human = faces.length > 0;
  const byMass = detectDog(whole.probabilities, o.dog, human);
  const dog = { ...byMass, isDog: byMass.isDog || dogBoxRescues(byMass.probability, objects) };
  const kind = routeKind(dog.isDog, human);
  // The person's resemblance is read from their face, the dog's breed from the preset's views.
  const dogProbs = dog.isDog
    ? moreViews
      ? await dogBreedProbabilities(host, image, whole, objects, policy, o, early && (await early))
      : (centre ?? (await host.breeds.predict([{ image, output: whole }]))[0]!)
    : undefined;
  const personProbs = human ? (await host.breeds.predict([{ image: faceCrops[0]!, output: faceOutputs[0]! }]))[0]! : undefined;
  const t5 = performance.now();
  return {
    ...dogAnswer(kind, { dog: dogProbs, person: personProbs }, host.breeds.classes, o.topK, faces, dog.probability),
    width: image.width,
    height: image.height,
    timings: { backboneMs: round(backbone.ms + (t5 - t4), 1), facesMs: round(search.ms, 1), objectsMs: round(objectsMs, 1) },
  };
}

/** A view's pixels and, unless the head reads pixels only, its backbone outputs. */
interface EmbeddedView {
  image: RgbImage;
  output?: BackboneOutput;
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
  host: ViewsPipelineHost,
  image: RgbImage,
  whole: BackboneOutput,
  views: readonly ViewSpec[],
  dog: Box | undefined,
  o: DogPipelineOptions,
): Promise<EmbeddedView[]> {
  const images = await viewImages(image, views, dog, host.crop);
  const fresh = views.map((v, i) => (v.kind === 'centre' && v.crop === 1 ? -1 : i)).filter((i) => i >= 0);
  const embedded =
    !host.breeds.readsPixels && fresh.length
      ? await embedWith(
          host.backbone,
          fresh.map((i) => images[i]!),
          o.flipAverage,
        )
      : [];
  return images.map((im, i) => ({ image: im, output: fresh.includes(i) ? embedded[fresh.indexOf(i)] : whole }));
}

/**
 * The dog's breed probabilities: the preset's views, combined by its rule. `early`: the views that
 * need no dog box, when they were embedded while YOLOX looked; the others are embedded now.
 */
async function dogBreedProbabilities(
  host: ViewsPipelineHost,
  image: RgbImage,
  whole: BackboneOutput,
  objects: CocoBox[],
  policy: QualityPolicy,
  o: DogPipelineOptions,
  early?: EmbeddedView[],
): Promise<Float32Array> {
  const plan = dogViewPlan(policy, objects);
  const ready = early ? boxFree(policy.views) : [];
  const rest = plan.views.filter((v) => !ready.includes(v));
  const later = await embedViews(host, image, whole, rest, plan.dog, o);
  const views = plan.views.map((v) => (ready.includes(v) ? early![ready.indexOf(v)]! : later[rest.indexOf(v)]!));
  return combineViews(await host.breeds.predict(views), policy.rule);
}
