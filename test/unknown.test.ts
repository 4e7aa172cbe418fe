import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chooseThreshold,
  falseUnknownRate,
  imagenetProfile,
  profileMass,
  rejectionRate,
  unknownVerdict,
  type UnknownCalibration,
} from '../src/models/unknown.js';

const probs = (pairs: [number, number][], n = 10) => {
  const p = new Float32Array(n);
  for (const [i, v] of pairs) p[i] = v;
  return p;
};

test("the ImageNet profile is the fewest classes carrying the asked share of the training photos' mean probability", () => {
  const train = [
    probs([
      [3, 0.7],
      [5, 0.2],
      [8, 0.1],
    ]),
    probs([
      [3, 0.5],
      [5, 0.4],
      [9, 0.1],
    ]),
  ];
  // mean: 3 → 0.6, 5 → 0.3, 8 → 0.05, 9 → 0.05
  assert.deepEqual(imagenetProfile(train, 0.5), [3]);
  assert.deepEqual(imagenetProfile(train, 0.8), [3, 5]);
  assert.deepEqual(imagenetProfile(train, 0.93), [3, 5, 8]);
  assert.ok(
    Math.abs(
      profileMass(
        probs([
          [3, 0.2],
          [5, 0.1],
          [7, 0.7],
        ]),
        [3, 5],
      ) - 0.3,
    ) < 1e-6,
  );
});

test('the threshold keeps false unknowns on held-out photos at the target, and sits in the gap when out-of-class photos are given', () => {
  const inClass = [0.02, 0.3, 0.5, 0.8, 0.9, 0.92, 0.95, 0.97, 0.98, 0.99];
  // 10% target: one photo may be called unknown → the threshold is the second lowest score
  const t = chooseThreshold(inClass, null, 0.1);
  assert.equal(t, 0.3);
  assert.equal(falseUnknownRate(inClass, t), 0.1);
  // separable out-of-class scores: the geometric middle between both sides' limits
  const out = [0.001, 0.002, 0.004, 0.01, 0.05];
  const g = chooseThreshold(inClass, out, 0.1);
  assert.ok(g > 0.01 && g < 0.3, `threshold ${g}`);
  assert.ok(falseUnknownRate(inClass, g) <= 0.1 && rejectionRate(out, g) >= 0.8);
  // overlapping: the sum of both error rates is minimised, never above the in-class limit
  const overlap = chooseThreshold(inClass, [0.4, 0.6, 0.85, 0.9, 0.93], 0.1);
  assert.ok(overlap <= 0.3);
});

test("the verdict: one calibration compares the profile mass, an ensemble averages its members' log margins", () => {
  const cal = (indices: number[], threshold: number): UnknownCalibration => ({
    method: 'imagenet-profile',
    imagenetIndices: indices,
    coverage: 0.95,
    threshold,
    targetFalseUnknownRate: 0.025,
    measured: { validation: { n: 1, falseUnknownRate: 0 } },
  });
  const photo = probs([
    [1, 0.6],
    [2, 0.3],
    [4, 0.1],
  ]);
  assert.equal(unknownVerdict([], photo), null);
  assert.deepEqual(unknownVerdict([cal([1], 0.5)], photo), { unknown: false, score: profileMass(photo, [1]), threshold: 0.5 });
  assert.equal(unknownVerdict([cal([4], 0.5)], photo)!.unknown, true);
  // margins log(0.6/0.3) = +0.69 and log(0.1/0.5) = −1.61: the mean is negative → unknown
  assert.equal(unknownVerdict([cal([1], 0.3), cal([4], 0.5)], photo)!.unknown, true);
  assert.equal(unknownVerdict([cal([1], 0.3), cal([2], 0.2)], photo)!.unknown, false);
});
