import type { ClassProbability } from '../models/probabilities.js';

const pct = (p: number) => `${(p * 100).toFixed(1)}%`;
const article = (name: string) => (/^[aeiou]/i.test(name) ? 'an' : 'a');
const named = (b: ClassProbability) => `${article(b.name)} ${b.name} (${pct(b.probability)})`;
const best = (b: ClassProbability[]) => (b[0] ? named(b[0]) : 'no breed in particular');

/**
 * How many of a dog's top breeds the answer names: the fewest, best first, whose probabilities
 * add up to `mass`, at most `max`, and none after the first below `floor`. A sure answer names one
 * breed; an unsure one names the few the right breed is most likely among, so the words say what
 * the numbers know (on the unseen photos the first breed is right about three times in four, the
 * first three more than nine in ten).
 * The values are the backbone's (app/tuning.ts), chosen on the tuning half by bench:breeds.
 */
export interface NamedBreeds {
  /** Probability the named breeds must reach together (1: always `max`; 0: always one). */
  mass: number;
  /** The most breeds an answer names. */
  max: number;
  /** A breed after the first is named only with at least this probability (a 3% runner-up says nothing). */
  floor: number;
}

/** Name one breed only: the answer before unsure dogs named more (and for a person's resemblance). */
export const NAME_ONE: NamedBreeds = { mass: 0, max: 1, floor: 1 };

/** The number of breeds to name from `probabilities`, sorted best first (0 when there are none). */
export function namedBreedCount(probabilities: readonly number[], rule: NamedBreeds): number {
  const n = Math.min(Math.max(1, rule.max), probabilities.length);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    if (k > 0 && probabilities[k]! < rule.floor) return k;
    sum += probabilities[k]!;
    if (sum >= rule.mass) return k + 1;
  }
  return n;
}

/** "a beagle (91.0%)", or "a Norfolk terrier (48.0%), or perhaps a Norwich terrier (30.2%) or a Border terrier (9.1%)". */
function dogBreedWords(breeds: ClassProbability[], rule: NamedBreeds): string {
  const k = namedBreedCount(
    breeds.map((b) => b.probability),
    rule,
  );
  if (k <= 1) return best(breeds);
  const others = breeds.slice(1, k).map(named);
  const last = others.pop()!;
  return `${named(breeds[0]!)}, or perhaps ${others.length ? `${others.join(', ')} or ` : ''}${last}`;
}

/** What the app found in a photo. */
export type ResultKind = 'dog' | 'human' | 'both' | 'neither';

/**
 * The text answer the seed's app gives. `breeds` are the dog's breeds (kind 'dog' or 'both') or
 * the person's resemblance ('human'); `rule` says how many of a dog's breeds to name.
 */
export function composeMessage(
  kind: ResultKind,
  breeds: ClassProbability[],
  humanBreeds: ClassProbability[] | undefined,
  faces: number,
  rule: NamedBreeds = NAME_ONE,
): string {
  switch (kind) {
    case 'dog':
      return `Dog detected. It looks like ${dogBreedWords(breeds, rule)}.`;
    case 'human':
      return `Human detected${faces > 1 ? ` (${faces} faces)` : ''}. This person most resembles ${best(breeds)}.`;
    case 'both':
      return `Dog and human detected. The dog looks like ${dogBreedWords(breeds, rule)}; the person most resembles ${best(humanBreeds ?? [])}.`;
    case 'neither':
      return 'No dog or human face was found in this image. Try a photo of a dog or of a person facing the camera.';
  }
}
