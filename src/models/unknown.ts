/**
 * The "unknown" answer of a trained classifier: is this photo one of the model's classes at all?
 *
 * A softmax head always answers one of its classes (the vehicles model calls a dog "Truck" at
 * 78%), and its top probability separates poorly (AUROC 0.90 on vehicles vs dogs, faces and other
 * objects). The backbone's own ImageNet view separates much better (AUROC 0.98): the ImageNet
 * classes the training photos activate (for vehicles: minibus, trailer truck, moped, sports car …)
 * form the model's *profile*, and a photo of its classes puts most of its ImageNet probability
 * there, while a dog or a face puts almost none. The score is that mass; below a threshold
 * calibrated on held-out photos of the classes (and on out-of-class photos when given) the answer
 * is "unknown". Pure functions only: the calibration travels in the model's manifest.
 */
export interface UnknownCalibration {
  method: 'imagenet-profile';
  /** ImageNet class indices covering `coverage` of the training photos' mean ImageNet probability. */
  imagenetIndices: number[];
  coverage: number;
  /** A photo whose profile mass is below this is "unknown". */
  threshold: number;
  /** The false-unknown rate aimed at on the held-out (validation) photos. */
  targetFalseUnknownRate: number;
  /** What the threshold does on the photos it was chosen on, and on the untouched test photos. */
  measured: {
    validation: { n: number; falseUnknownRate: number };
    test?: { n: number; falseUnknownRate: number };
    outOfClass?: { n: number; rejectionRate: number; source: string };
  };
}

export const DEFAULT_PROFILE_COVERAGE = 0.95;
export const DEFAULT_FALSE_UNKNOWN_TARGET = 0.025;

/** A photo's ImageNet view as the app sees it with flip averaging: the photo and its mirror image, averaged. */
export function imagenetView(row: { probabilities: Float32Array; flipProbabilities: Float32Array }): Float32Array {
  const out = new Float32Array(row.probabilities.length);
  for (let i = 0; i < out.length; i++) out[i] = (row.probabilities[i]! + row.flipProbabilities[i]!) / 2;
  return out;
}

/** The ImageNet classes that carry `coverage` of the mean ImageNet probability over the training photos. */
export function imagenetProfile(trainingProbabilities: ArrayLike<number>[], coverage = DEFAULT_PROFILE_COVERAGE): number[] {
  if (trainingProbabilities.length === 0) return [];
  const n = trainingProbabilities[0]!.length;
  const mean = new Float64Array(n);
  for (const p of trainingProbabilities) for (let i = 0; i < n; i++) mean[i]! += p[i]! / trainingProbabilities.length;
  const order = [...mean.keys()].sort((a, b) => mean[b]! - mean[a]!);
  const total = mean.reduce((a, b) => a + b, 0);
  const out: number[] = [];
  let acc = 0;
  for (const i of order) {
    out.push(i);
    acc += mean[i]!;
    if (acc >= coverage * total) break;
  }
  return out.sort((a, b) => a - b);
}

/** How much of a photo's ImageNet probability falls on the model's profile (0 … 1). */
export function profileMass(imagenetProbabilities: ArrayLike<number>, indices: readonly number[]): number {
  let m = 0;
  for (const i of indices) m += imagenetProbabilities[i] ?? 0;
  return m;
}

const rate = (scores: number[], t: number, below: boolean) => scores.filter((s) => (below ? s < t : s >= t)).length / Math.max(1, scores.length);

/**
 * The threshold. From the held-out photos of the classes alone: the highest that calls at most
 * `target` of them unknown. With out-of-class photos too: if a threshold exists that also lets at
 * most `target` of those through, take the geometric middle of that gap (margin on both sides);
 * otherwise the one that minimises the two error rates' sum (Youden's J), never above the first.
 */
export function chooseThreshold(inClass: number[], outOfClass: number[] | null, target = DEFAULT_FALSE_UNKNOWN_TARGET): number {
  const floor = 1e-6;
  const sorted = [...inClass].sort((a, b) => a - b);
  // the largest t with (#in < t) / n ≤ target: just above the k-th lowest score, k = ⌊target·n⌋
  const k = Math.floor(target * sorted.length + 1e-9);
  const tIn = Math.max(floor, sorted[Math.min(k, sorted.length - 1)] ?? floor);
  if (!outOfClass || outOfClass.length === 0) return tIn;
  const out = [...outOfClass].sort((a, b) => b - a);
  // the smallest t with (#out ≥ t) / m ≤ target: just above the (j+1)-th highest out-of-class score
  const j = Math.floor(target * out.length + 1e-9);
  const tOut = Math.max(floor, (out[Math.min(j, out.length - 1)] ?? 0) * 1.0001);
  if (tOut <= tIn) return Math.sqrt(tIn * tOut);
  let best = tIn;
  let bestErr = Infinity;
  for (const t of [...new Set([...inClass, ...outOfClass].map((s) => Math.max(floor, s)))].filter((t) => t <= tIn)) {
    const err = rate(inClass, t, true) + rate(outOfClass, t, false);
    if (err < bestErr - 1e-12) [best, bestErr] = [t, err];
  }
  return best;
}

export function falseUnknownRate(inClass: number[], threshold: number): number {
  return rate(inClass, threshold, true);
}

export function rejectionRate(outOfClass: number[], threshold: number): number {
  return rate(outOfClass, threshold, true);
}

export interface UnknownVerdict {
  unknown: boolean;
  /** Profile mass (one model) or the geometric mean of score/threshold margins (ensemble, then 1 = on the threshold). */
  score: number;
  threshold: number;
}

/**
 * The verdict for one photo. An ensemble's members each carry their own calibration: the photo is
 * unknown when the members' log margins log(score/threshold) average below zero.
 */
export function unknownVerdict(calibrations: readonly UnknownCalibration[], imagenetProbabilities: ArrayLike<number>): UnknownVerdict | null {
  if (calibrations.length === 0) return null;
  if (calibrations.length === 1) {
    const c = calibrations[0]!;
    const score = profileMass(imagenetProbabilities, c.imagenetIndices);
    return { unknown: score < c.threshold, score, threshold: c.threshold };
  }
  const logMargin =
    calibrations.reduce((a, c) => a + Math.log(Math.max(1e-9, profileMass(imagenetProbabilities, c.imagenetIndices)) / c.threshold), 0) / calibrations.length;
  return { unknown: logMargin < 0, score: Math.exp(logMargin), threshold: 1 };
}

/**
 * The calibrations a loaded classifier carries (its manifest's, or each ensemble member's); empty
 * when any member has none (pixel models, models trained before this existed). Duck-typed so the
 * classifier classes need no change.
 */
export function calibrationsOf(classifier: unknown): UnknownCalibration[] {
  const c = classifier as { manifest?: { unknown?: UnknownCalibration }; members?: { manifest?: { unknown?: UnknownCalibration } }[] };
  const list = c.members ? c.members.map((m) => m.manifest?.unknown) : [c.manifest?.unknown];
  return list.every((x): x is UnknownCalibration => Boolean(x && x.method === 'imagenet-profile')) ? list : [];
}
