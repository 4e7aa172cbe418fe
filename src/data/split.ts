import { rng, shuffled } from '../util/random.js';

/** Indices grouped by label, each group in a seeded random order. */
function byClass(labels: readonly number[], seed: number): number[][] {
  const groups = new Map<number, number[]>();
  labels.forEach((l, i) => groups.set(l, [...(groups.get(l) ?? []), i]));
  const random = rng(seed);
  return [...groups.keys()].sort((a, b) => a - b).map((l) => shuffled(groups.get(l)!, random));
}

export { DEFAULT_HELD_OUT, DEFAULT_SPLIT_SEED } from './split-defaults.js';

/**
 * Stratified split: every class is divided in the same proportions (rounded per class), so a
 * small class still lands in every part. Returns index lists, each sorted.
 */
export function stratifiedSplit(
  labels: readonly number[],
  fractions: { valid: number; test: number },
  seed = 42,
): { train: number[]; valid: number[]; test: number[] } {
  const out = { train: [] as number[], valid: [] as number[], test: [] as number[] };
  for (const idx of byClass(labels, seed)) {
    const nTest = Math.round(idx.length * fractions.test);
    const nValid = Math.round(idx.length * fractions.valid);
    out.test.push(...idx.slice(0, nTest));
    out.valid.push(...idx.slice(nTest, nTest + nValid));
    out.train.push(...idx.slice(nTest + nValid));
  }
  const sort = (a: number[]) => a.sort((x, y) => x - y);
  return { train: sort(out.train), valid: sort(out.valid), test: sort(out.test) };
}

/**
 * Stratified k-fold (scikit-learn's StratifiedKFold with shuffle): each class is dealt round-robin
 * over the folds, so every fold's class proportions match the whole. Fold i validates on part i
 * and trains on the rest.
 */
export function stratifiedKFold(labels: readonly number[], k: number, seed = 42): { train: number[]; valid: number[] }[] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`k-fold needs k ≥ 2, got ${k}`);
  const parts: number[][] = Array.from({ length: k }, () => []);
  let offset = 0;
  for (const idx of byClass(labels, seed)) {
    idx.forEach((i, j) => parts[(j + offset) % k]!.push(i));
    offset += idx.length; // continue dealing where the last class stopped: folds stay even in size
  }
  return parts.map((valid, f) => ({
    valid: [...valid].sort((a, b) => a - b),
    train: parts.flatMap((p, g) => (g === f ? [] : p)).sort((a, b) => a - b),
  }));
}
