import { IMAGENET_DOG_RANGE, IMAGENET_WILD_DOGS } from '../models/imagenet-dogs.js';

/**
 * The app's dog rule: whether a photo shows a dog, read from the backbone's 1000 ImageNet class
 * probabilities (no detector of its own), and the rescue of a dog that rule missed by a COCO dog
 * box (`dogBoxRescues`). Pure, so the browser bundle and the tests apply the same rule.
 * (Formerly `detectors/dog.ts`, which is kept as an alias.)
 * - 'argmax' is the seed's rule: the top class lies in 151–268.
 * - 'mass' sums the probability over 151–268 and compares it with a threshold. A photo whose
 *   probability is spread over several similar breeds (each below some non-dog class) is still
 *   a dog; this is what rescues most of the seed rule's misses.
 * Dingo (273), dhole (274) and African hunting dog (275) lie outside 151–268; `wildDogs`
 * adds them to the range (Imagewoof's dingo class needs it).
 */
export type DogRule = 'argmax' | 'mass';

/** Which dog rule to apply to a photo's ImageNet probabilities, and its thresholds. */
export interface DogDetectorOptions {
  rule?: DogRule;
  /** For 'mass': minimum total dog probability. */
  threshold?: number;
  /**
   * For 'mass', when a person's face is in the photo: human faces draw some dog probability by
   * themselves (a portrait scores up to ~0.5), so a dog beside a person must be surer.
   */
  thresholdWithPerson?: number;
  wildDogs?: boolean;
}

/** The rule with every value given (each backbone's: app/tuning.ts). */
export type DogRuleOptions = Required<DogDetectorOptions>;

export interface DogVerdict {
  isDog: boolean;
  /** Total probability on the dog classes (reported as `dogProbability`). */
  probability: number;
}

export function dogClassIndices(wildDogs: boolean): number[] {
  const idx: number[] = [];
  for (let i = IMAGENET_DOG_RANGE.first; i <= IMAGENET_DOG_RANGE.last; i++) idx.push(i);
  if (wildDogs) idx.push(...IMAGENET_WILD_DOGS);
  return idx;
}

/** Whether ImageNet probabilities say "dog", and the dog probability the rule read (`personPresent` raises the 'mass' rule's threshold). */
export function detectDog(probabilities: Float32Array, o: DogRuleOptions, personPresent = false): DogVerdict {
  const idx = dogClassIndices(o.wildDogs);
  let mass = 0;
  for (const i of idx) mass += probabilities[i]!;
  if (o.rule === 'mass') return { isDog: mass >= (personPresent ? o.thresholdWithPerson : o.threshold), probability: mass };
  let top = 0;
  for (let i = 1; i < probabilities.length; i++) if (probabilities[i]! > probabilities[top]!) top = i;
  return { isDog: idx.includes(top), probability: mass };
}

/**
 * A dog YOLOX-nano finds (a COCO `dog` box at least `score` sure) on a photo whose ImageNet dog
 * mass is at least `mass` is a dog too: the mass rule misses dogs whose probability is spread
 * over non-dog classes (a puppy on a sofa, a dog seen from behind). The values depend on the
 * backbone's mass (app/tuning.ts; measured in bench:breeds).
 */
export interface DogBoxRescue {
  mass: number;
  score: number;
}

export function dogBoxRescues(mass: number, boxes: readonly { classId: number; score: number }[], o: DogBoxRescue): boolean {
  return mass >= o.mass && boxes.some((b) => b.classId === 16 && b.score >= o.score);
}
