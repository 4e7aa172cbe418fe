import type { DogBoxRescue, DogDetectorOptions, DogRuleOptions } from '../detectors/imagenet-dog-rule.js';
import type { PersonEvidenceOptions } from '../detectors/person.js';
import type { Quality } from './preset-names.js';
import type { NamedBreeds } from './messages.js';
import { backboneTuning, type BreedViewsTuning } from './tuning.js';

/**
 * How much the app spends on a photo: its presets, as data. Each preset says which steps of the
 * one dog pipeline (dog-pipeline.ts) run; the numbers the steps read are the backbone's
 * (tuning.ts). `dogPlan` puts the two together into the plan the pipeline follows; the server, the
 * batch worker and the browser's device mode (which is served the server's plan) all run it.
 *
 * - 'accurate' (the default): YOLOX-nano's evidence on whose faces these are and on dogs the dog
 *   rule missed; the centre view, which the dog rule reads anyway, answers alone when it is sure of
 *   the breed, else the breed comes from the backbone's tuned views (for MobileNet v1: ImageNet's
 *   0.875 zoom and the square around YOLOX's dog, each with its mirror image, by log-mean). About
 *   half of the dog photos are sure at once, so the median photo costs little more than 'fast'.
 *   Where the backbone's tuning has one (MobileNet-EdgeTPU), its breed ensemble reads the unsure
 *   dogs too (step 6b of dog-pipeline.ts; `ensemble: false` leaves it out, and device mode, whose
 *   host has none, answers without it).
 * - 'fast': the YOLOX evidence, the centre view only.
 * - 'standard': neither; no YOLOX, the cheapest.
 *
 * Why 'accurate' is the default (MobileNet v1): on the report half it is +4.8 points of breed
 * top-1 over the others, and its person rule answers dog photos without people "dog" 98.2% of the
 * time (standard: 96.9%) while finding 98.1% of LFW's faces, for a median of 4.4–5.5 bare passes a
 * photo against 4.1–4.7 (README, "Which preset is the default"; docs/pipeline.md).
 */
export { QUALITIES, DEFAULT_QUALITY, type Quality } from './preset-names.js';

/** The steps a preset adds to the pipeline's fixed ones (backbone, face search, dog rule, breeds). */
export interface PresetSteps {
  /** YOLOX-nano on the photos that ask it: the person evidence and the dog-box rescue. */
  objects: boolean;
  /** More views of a dog the centre view is unsure of (the backbone's tuned views). */
  moreViews: boolean;
}

/** Which steps each preset runs. */
export const PRESETS: Readonly<Record<Quality, PresetSteps>> = {
  standard: { objects: false, moreViews: false },
  fast: { objects: true, moreViews: false },
  accurate: { objects: true, moreViews: true },
};

/**
 * The values that do not depend on the backbone: how many faces are checked and how small one may
 * be (YuNet's false faces on dogs and objects are tiny: median 0.5% of the image on the shared
 * photos; a person to compare with a breed is not), and how many breeds an answer lists.
 */
export const FACE_SEARCH_DEFAULTS = { maxFaces: 4, minFaceArea: 0.005 } as const;
export const DEFAULT_TOP_K = 5;

/** Everything one photo's run of the pipeline reads: which steps run, and with which numbers. */
export interface DogPlan {
  quality: Quality;
  /** The backbone the values are for; `tuned` false: none were chosen for it, `tunedFor`'s are used. */
  tuning: { backbone: string; tuned: boolean; tunedFor: string };
  /** Each view averaged with its mirror image. */
  flipAverage: boolean;
  faces: {
    /** Faces checked per image (largest first). */
    maxFaces: number;
    /** Smallest face, as a fraction of the image area. */
    minFaceArea: number;
    /** A face whose crop the backbone calls a dog (dog mass ≥ this) is a dog's face. 1 disables the check. */
    dogVeto: number;
  };
  dog: DogRuleOptions;
  /** YOLOX-nano's step and the rules that read its boxes; null: the preset runs no YOLOX. */
  objects: { personRule: PersonEvidenceOptions; dogBoxRescue: DogBoxRescue } | null;
  /** The breed's views: the centre view alone when `confident` is 0 or it is at least that sure. */
  breeds: BreedViewsTuning;
  /** How many of a dog's breeds the message names (app/messages.ts). */
  namedBreeds: NamedBreeds;
  topK: number;
}

/** What a user may set over a plan (DogAppOptions' names); unset values are the preset's and the backbone's. */
export interface DogPlanOverrides {
  dog?: DogDetectorOptions;
  flipAverage?: boolean;
  faceDogVeto?: number;
  maxFaces?: number;
  minFaceArea?: number;
  topK?: number;
  /** How many of a dog's breeds the message names; `NAME_ONE` names the best only. */
  namedBreeds?: NamedBreeds;
  /** false: no ensemble step (6b) even where the backbone's tuning has one; the main backbone answers alone. */
  ensemble?: boolean;
}

/** The centre view alone (the breed views of 'standard' and 'fast'). */
const CENTRE_ONLY: BreedViewsTuning = { views: [{ kind: 'centre', crop: 1 }], rule: 'mean', dogScore: 1, confident: 0 };

/** The plan for a preset on a backbone: the preset's steps, the backbone's values, the user's overrides. */
export function dogPlan(quality: Quality, backbone: string, o: DogPlanOverrides = {}): DogPlan {
  const { tuning: t, tuned, tunedFor } = backboneTuning(backbone);
  const steps = PRESETS[quality];
  return {
    quality,
    tuning: { backbone, tuned, tunedFor },
    flipAverage: o.flipAverage ?? t.flipAverage,
    faces: {
      maxFaces: o.maxFaces ?? FACE_SEARCH_DEFAULTS.maxFaces,
      minFaceArea: o.minFaceArea ?? FACE_SEARCH_DEFAULTS.minFaceArea,
      dogVeto: o.faceDogVeto ?? t.faceDogVeto,
    },
    dog: { ...t.dog, ...definedOnly(o.dog ?? {}) },
    objects: steps.objects ? { personRule: t.personRule, dogBoxRescue: t.dogBoxRescue } : null,
    breeds: steps.moreViews ? (o.ensemble === false ? withoutEnsemble(t.breeds) : t.breeds) : CENTRE_ONLY,
    namedBreeds: o.namedBreeds ?? t.namedBreeds,
    topK: o.topK ?? DEFAULT_TOP_K,
  };
}

/** The breed views less their ensemble (`ensemble: false`). */
function withoutEnsemble({ ensemble: _, ...breeds }: BreedViewsTuning): BreedViewsTuning {
  return breeds;
}

/** An options object less the keys given as undefined (a CLI flag not set keeps the default). */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
