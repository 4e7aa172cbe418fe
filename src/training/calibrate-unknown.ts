import type { FeatureRow } from '../features/bottleneck.js';
import {
  chooseThreshold,
  imagenetView,
  DEFAULT_FALSE_UNKNOWN_TARGET,
  DEFAULT_PROFILE_COVERAGE,
  falseUnknownRate,
  imagenetProfile,
  profileMass,
  rejectionRate,
  type UnknownCalibration,
} from '../models/unknown.js';

/**
 * Calibrate the "unknown" answer of a feature model from the rows `train` already has: the profile
 * from the training photos, the threshold from the validation photos (held out from the weights)
 * and, when given, out-of-class photos; then measured, untouched, on the test photos.
 */
export function calibrateUnknown(
  rows: Record<'train' | 'valid' | 'test', FeatureRow[]>,
  outOfClass: { rows: FeatureRow[]; source: string } | null,
  o: { target?: number; coverage?: number } = {},
): UnknownCalibration | null {
  if (rows.train.length === 0 || rows.valid.length === 0) return null;
  const target = o.target ?? DEFAULT_FALSE_UNKNOWN_TARGET;
  const coverage = o.coverage ?? DEFAULT_PROFILE_COVERAGE;
  const indices = imagenetProfile(rows.train.map(imagenetView), coverage);
  const score = (rs: FeatureRow[]) => rs.map((r) => profileMass(imagenetView(r), indices));
  const valid = score(rows.valid);
  const out = outOfClass ? score(outOfClass.rows) : null;
  const threshold = chooseThreshold(valid, out, target);
  const test = score(rows.test);
  return {
    method: 'imagenet-profile',
    imagenetIndices: indices,
    coverage,
    threshold,
    targetFalseUnknownRate: target,
    measured: {
      validation: { n: valid.length, falseUnknownRate: falseUnknownRate(valid, threshold) },
      ...(test.length ? { test: { n: test.length, falseUnknownRate: falseUnknownRate(test, threshold) } } : {}),
      ...(out && outOfClass ? { outOfClass: { n: out.length, rejectionRate: rejectionRate(out, threshold), source: outOfClass.source } } : {}),
    },
  };
}
