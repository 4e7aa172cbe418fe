import type { DogBoxRescue, DogDetectorOptions } from '../detectors/imagenet-dog-rule.js';
import type { PersonEvidenceOptions } from '../detectors/person.js';
import type { NamedBreeds } from './messages.js';
import type { CombineRule, ViewSpec } from './views.js';

/**
 * Every number of the dog app that depends on the backbone, per backbone, in one place. Each
 * backbone spreads its ImageNet probability its own way (a portrait draws more or less dog mass, a
 * breed is sure at another level, another crop suits its training), so its thresholds and views
 * are chosen for it, by `BENCH_BACKBONE=<name> npm run bench:breeds` on the tuning half of the
 * unseen Imagewoof photos (even ids, and the even halves of LFW and the negatives) and reported on
 * the other half (docs/pipeline.md, "How a backbone is tuned"). Host independent: the server, the
 * batch worker and the browser's device mode read the same table through `dogPlan` (quality.ts).
 *
 * A backbone without an entry runs on the values of `FALLBACK_TUNING` and its answers say so
 * (`tuning.tuned: false`): they work, but nobody measured them on it.
 */
export interface BreedViewsTuning {
  /** Views the breed is read from when the centre view is not sure ('accurate'). */
  views: ViewSpec[];
  /** The views' weights in the combination (absent: equal). */
  weights?: number[];
  rule: CombineRule;
  /** A dog-box view is used only when YOLOX's best dog box scores at least this. */
  dogScore: number;
  /** The centre view answers alone when its top breed has at least this probability (0: always). */
  confident: number;
  /**
   * Other backbones that also read an unsure dog (step 6b of dog-pipeline.ts, 'accurate' only):
   * their breed probabilities join this backbone's combined views by log-mean (a weighted
   * geometric mean: a breed must be plausible to every network, so one network's confident
   * mistake is outvoted). Absent: this backbone answers alone.
   */
  ensemble?: EnsembleMember[];
}

/** One more backbone for an unsure dog's breed (`BreedViewsTuning.ensemble`). */
export interface EnsembleMember {
  /** A registry name (models/registry.ts), resolved from the local model directory like the main backbone. */
  backbone: string;
  /**
   * Its views, each with its mirror image when the plan's `flipAverage` is on. Views that need no
   * dog box only, so the member can run while YOLOX looks.
   */
  views: ViewSpec[];
  /** The weight of each of its views in the log-mean; the main backbone's combined views weigh 1. */
  weight: number;
}

/** The values the dog pipeline's steps read for one backbone: dog rule, person rule, dog-box rescue, breed views. */
export interface BackboneTuning {
  /** What chose these values: the command, the machine, the date (docs/pipeline.md has its tables). */
  source: string;
  /** Each view averaged with its mirror image (2 backbone passes a view; steadier). */
  flipAverage: boolean;
  /** The dog rule on the photo's ImageNet probabilities (mass over the dog classes). */
  dog: Required<DogDetectorOptions>;
  /**
   * A face whose crop the backbone itself calls a dog (dog mass ≥ this) is a dog's face, not a
   * person's: face detectors fire on dog faces. 1 disables the check.
   */
  faceDogVeto: number;
  /** Whose faces these are, from YOLOX-nano's boxes ('fast' and 'accurate'). */
  personRule: PersonEvidenceOptions;
  /** A dog the dog rule missed but YOLOX-nano sees ('fast' and 'accurate'). */
  dogBoxRescue: DogBoxRescue;
  /** The 'accurate' preset's breed views. */
  breeds: BreedViewsTuning;
  /** How many breeds a dog's answer names: one when the backbone is sure, a few when it is not. */
  namedBreeds: NamedBreeds;
}

/**
 * MobileNet v1 0.75's values, chosen by bench:breeds (and bench:routing for the dog rule) on the
 * tuning halves; their reasons, in the README's "Breeds" and "A person only where there is one":
 * - the dog rule: mass ≥ 0.3, ≥ 0.6 with a person's face in view (a portrait alone draws up to
 *   ~0.5 dog mass); the wild dogs count (Imagewoof's dingo);
 * - the face check at 0.6, the dog rule's threshold with a person: a portrait's face crop is the
 *   photo itself, so the check and the rule read one number and must read it alike;
 * - the person evidence (person box ≥ 0.3 vouches, dog/cat box ≥ 0.3 explains, 60% of the face
 *   inside) and the rescue (dog mass ≥ 0.1 and a YOLOX dog box ≥ 0.5);
 * - the views: the centre view alone when its top breed is ≥ 0.7, else ImageNet's 0.875 zoom
 *   and the square around YOLOX's dog (+10%, box ≥ 0.1), each with its mirror, by log-mean;
 * - the breeds named (2026-12-07): its three best breeds hold the right one for 88.2% of the tuning
 *   half only, so no value reaches 90%; the fewest reaching 0.95 (at most three) hold it most often
 *   of the values whose single answers are right ≥ 90% of the time. Report half: 88.6%, 2.41 named.
 */
const MOBILENET_V1: BackboneTuning = {
  source: 'npm run bench:breeds and bench:routing, 2-core x86-64, 2026-11-22 (README "Breeds", "Routing")',
  flipAverage: true,
  dog: { rule: 'mass', threshold: 0.3, thresholdWithPerson: 0.6, wildDogs: true },
  faceDogVeto: 0.6,
  personRule: { personScore: 0.3, animalScore: 0.3, inside: 0.6 },
  dogBoxRescue: { mass: 0.1, score: 0.5 },
  breeds: {
    views: [
      { kind: 'centre', crop: 0.875 },
      { kind: 'dog', margin: 0.1 },
    ],
    rule: 'log-mean',
    dogScore: 0.1,
    confident: 0.7,
  },
  namedBreeds: { mass: 0.95, max: 3, floor: 0 },
};

/**
 * MobileNet-EdgeTPU 1.0 (8-bit TFLite, converted to ONNX with its 8 bits kept), as bench:breeds
 * chose on the tuning half (docs/pipeline.md, "Measured"):
 * - the dog rule: mass ≥ 0.2 alone, ≥ 0.7 with a person's face in view, and the face check at 0.7
 *   (the sweep's best on the tuning half: 100% of dogs with nobody → "dog", 99.7% of LFW, 98.0% of
 *   negatives; v1's values read the same on the report half);
 * - the rescue from a dog mass of 0.05 (YOLOX's box score, 0.5, and the person evidence are YOLOX's
 *   own and stay);
 * - the views: the centre view alone when its top breed is ≥ 0.5, else the 0.875 zoom and the dog
 *   box (+10%) by mean. On this backbone more views barely pay: the tuning half gains 3 photos over
 *   the centre view, the report half loses one (76.0% against 76.4%), both within the halves'
 *   sampling noise (~2 photos); the centre view is sure of most photos, so few pay for them;
 * - the ensemble (step 6b, 2026-12-06): on those unsure dogs (27% of the tuning half), MobileNetV2
 *   quant's centre view (weight 1) and MobileNet v1 0.75's centre and 0.875 views (0.25 each) join
 *   the views by log-mean. The best of 33 member, weight and threshold combinations on the tuning
 *   half: 76.5% → 77.8% there, 76.0% → 77.3% on the report half (top-3 91.3% → 92.6%). Members of
 *   other families err differently from EdgeTPU; more weight on v1, the weakest, loses.
 * - the breeds named (2026-12-07): the fewest whose probabilities reach 0.85, at most three, none
 *   after the first below 0.1: of the values at which, on the tuning half, the named breeds hold
 *   the right one for ≥ 90% of the dogs (90.0%) and a breed named alone is right ≥ 90% of the time
 *   (95.4%), the one that names the fewest (1.69 on average). Report half: 89.5% and 92.1%, 1.65
 *   breeds named (the first breed alone: 77.3%).
 */
const MOBILENET_EDGETPU: BackboneTuning = {
  source: 'BENCH_BACKBONE=mobilenet_edgetpu_224_1.0 npm run bench:breeds, 2-core x86-64 (shared, loaded), 2026-12-05 (docs/pipeline.md)',
  flipAverage: true,
  dog: { rule: 'mass', threshold: 0.2, thresholdWithPerson: 0.7, wildDogs: true },
  faceDogVeto: 0.7,
  personRule: { personScore: 0.3, animalScore: 0.3, inside: 0.6 },
  dogBoxRescue: { mass: 0.05, score: 0.5 },
  breeds: {
    views: [
      { kind: 'centre', crop: 0.875 },
      { kind: 'dog', margin: 0.1 },
    ],
    rule: 'mean',
    dogScore: 0.1,
    confident: 0.5,
    ensemble: [
      { backbone: 'mobilenet_v2_1.0_224_quant', views: [{ kind: 'centre', crop: 1 }], weight: 1 },
      {
        backbone: 'mobilenet_v1_0.75_224',
        views: [
          { kind: 'centre', crop: 1 },
          { kind: 'centre', crop: 0.875 },
        ],
        weight: 0.25,
      },
    ],
  },
  namedBreeds: { mass: 0.85, max: 3, floor: 0.1 },
};

/** Each tuned backbone's values, chosen by `npm run bench:breeds` on the tuning half of the unseen Imagewoof photos (docs/pipeline.md). */
export const BACKBONE_TUNING: Readonly<Record<string, BackboneTuning>> = {
  'mobilenet_v1_0.75_224': MOBILENET_V1,
  'mobilenet_edgetpu_224_1.0': MOBILENET_EDGETPU,
};

/**
 * The dog app's backbone unless told otherwise (a trained breed model brings its own):
 * MobileNet-EdgeTPU, +11.8 points of breed top-1 on the centre view over MobileNet v1 0.75 on the
 * report half (docs/pipeline.md). MobileNet v1 stays available by name (`--backbone
 * mobilenet_v1_0.75_224`, `createDogApp({ backbone })`). The toolkit's default (models/registry.ts
 * DEFAULT_BACKBONE) is the toolkit's business; this one must have its own entry above
 * (test/app.test.ts).
 */
export const DOG_APP_BACKBONE: string = 'mobilenet_edgetpu_224_1.0';

/** The backbone whose values an untuned backbone borrows. */
export const FALLBACK_TUNING = 'mobilenet_v1_0.75_224';

/** The values for a backbone, and whether they were tuned on it (else `tunedFor` names whose they are). */
export function backboneTuning(backbone: string): { tuning: BackboneTuning; tuned: boolean; tunedFor: string } {
  const own = BACKBONE_TUNING[backbone];
  if (own) return { tuning: own, tuned: true, tunedFor: backbone };
  return { tuning: BACKBONE_TUNING[FALLBACK_TUNING]!, tuned: false, tunedFor: FALLBACK_TUNING };
}
