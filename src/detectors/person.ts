import { COCO_CLASSES, type CocoBox } from './coco-decode.js';

/**
 * Whether a face a face detector found is a person's, from the COCO boxes of the same photo.
 * YuNet fires on dog muzzles (a beagle's or a dachshund's face looks like a face to it); the
 * backbone's check on the face crop catches most of those, not all. The COCO detector sees the
 * whole animal or the whole person, which a face crop cannot:
 * - a `person` box holding the face vouches for it (a person holding a dog stays "both");
 * - else a `dog` (or `cat`) box holding the face explains it as the animal's face: dropped;
 * - else the face stands (no evidence either way: a tight face crop such as LFW's, where the
 *   detector may see no person, must still be a person).
 * Pure, so the browser version and the tests apply the same rule. Thresholds: each backbone's
 * (app/tuning.ts), chosen on the tuning half by `npm run bench:breeds` with the backbone's face check.
 */
export interface PersonEvidenceOptions {
  /** Lowest score of a person box that vouches for a face inside it. */
  personScore: number;
  /** Lowest score of a dog or cat box that explains a face inside it. */
  animalScore: number;
  /** Share of the face's area that must lie inside a box for the box to hold the face. */
  inside: number;
}

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Share of `inner`'s area that lies inside `outer` (0..1). */
export function areaInside(inner: Rect, outer: Rect): number {
  const w = Math.min(inner.x + inner.width, outer.x + outer.width) - Math.max(inner.x, outer.x);
  const h = Math.min(inner.y + inner.height, outer.y + outer.height) - Math.max(inner.y, outer.y);
  const a = inner.width * inner.height;
  return w > 0 && h > 0 && a > 0 ? (w * h) / a : 0;
}

export type PersonEvidence = 'person-box' | 'animal-box' | 'none';

/** The evidence about one face: a person box holds it, else an animal box holds it, else none. */
export function personEvidence(face: Rect, boxes: readonly CocoBox[], o: PersonEvidenceOptions): PersonEvidence {
  const holds = (b: CocoBox, min: number) => b.score >= min && areaInside(face, b) >= o.inside;
  if (boxes.some((b) => b.classId === COCO_CLASSES.person && holds(b, o.personScore))) return 'person-box';
  if (boxes.some((b) => (b.classId === COCO_CLASSES.dog || b.classId === COCO_CLASSES.cat) && holds(b, o.animalScore))) return 'animal-box';
  return 'none';
}

/** A face counts as a person unless an animal box explains it and no person box vouches for it. */
export function isPersonFace(face: Rect, boxes: readonly CocoBox[], o: PersonEvidenceOptions): boolean {
  return personEvidence(face, boxes, o) !== 'animal-box';
}

/** What the app knows of one face when it decides: its box, and whether the backbone's crop check vetoed it (called its crop a dog). */
export interface FaceCandidate {
  box: Rect;
  vetoed: boolean;
}

/**
 * Which faces are people's. `judge`: the photo may hold a dog (the backbone's dog mass reaches the
 * dog rule's threshold), so the animal evidence applies; elsewhere, COCO boxes on a tight face crop
 * (LFW) are unreliable (YOLOX calls some faces dogs or cats) and only a person box may add a face.
 * `boxes` is empty when YOLOX did not run: then every face the crop check passed stands.
 *
 * A face the crop check vetoed (its crop looks like a dog to the backbone) stands again when a
 * person box holds it: one threshold (`personScore`) for a person box vouching for a face, vetoed
 * or not. The crop check errs on faces that fill a tight crop (LFW's portraits read as 0.55–0.75
 * dog), while a dog's own face reads 0.9–1.0 and sits in a dog box, not a person's. An earlier
 * rule demanded a person box ≥ 0.5 for a vetoed face; no tuning photo lies between 0.3 and 0.5, and
 * one threshold is the simpler rule (README, "A person only where there is one").
 */
export function personFaces(faces: readonly FaceCandidate[], boxes: readonly CocoBox[], judge: boolean, o: PersonEvidenceOptions): boolean[] {
  return faces.map((f) => {
    const evidence = personEvidence(f.box, boxes, o);
    if (f.vetoed) return evidence === 'person-box';
    return !judge || evidence !== 'animal-box';
  });
}
