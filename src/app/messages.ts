import type { ClassProbability } from '../models/probabilities.js';

const pct = (p: number) => `${(p * 100).toFixed(1)}%`;
const article = (name: string) => (/^[aeiou]/i.test(name) ? 'an' : 'a');
const best = (b: ClassProbability[]) => (b[0] ? `${article(b[0].name)} ${b[0].name} (${pct(b[0].probability)})` : 'no breed in particular');

/** The text answer the seed's app gives. */
/** What the app found in a photo. */
export type ResultKind = 'dog' | 'human' | 'both' | 'neither';

export function composeMessage(kind: ResultKind, breeds: ClassProbability[], humanBreeds: ClassProbability[] | undefined, faces: number): string {
  switch (kind) {
    case 'dog':
      return `Dog detected. It looks like ${best(breeds)}.`;
    case 'human':
      return `Human detected${faces > 1 ? ` (${faces} faces)` : ''}. This person most resembles ${best(breeds)}.`;
    case 'both':
      return `Dog and human detected. The dog looks like ${best(breeds)}; the person most resembles ${best(humanBreeds ?? [])}.`;
    case 'neither':
      return 'No dog or human face was found in this image. Try a photo of a dog or of a person facing the camera.';
  }
}
