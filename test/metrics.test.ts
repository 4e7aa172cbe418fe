import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confusionMatrix, evaluate, topLosses } from '../src/evaluation/metrics.js';
import { stratifiedKFold, stratifiedSplit } from '../src/data/split.js';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-9, `${msg ?? ''} ${a} ≠ ${b}`);

test('metrics match values computed by hand', () => {
  // 3 classes, 8 samples. true: 0 0 0 1 1 1 2 2 ; pred: 0 0 1 1 1 2 2 0
  const yTrue = [0, 0, 0, 1, 1, 1, 2, 2];
  const pred = [0, 0, 1, 1, 1, 2, 2, 0];
  const probs = pred.map((p) => [0, 1, 2].map((c) => (c === p ? 0.8 : 0.1)));
  const e = evaluate(yTrue, probs, ['a', 'b', 'c']);
  assert.deepEqual(e.confusion, [
    [2, 1, 0],
    [0, 2, 1],
    [1, 0, 1],
  ]);
  close(e.accuracy, 5 / 8);
  // a: P = 2/3, R = 2/3 ; b: P = 2/3, R = 2/3 ; c: P = 1/2, R = 1/2
  close(e.perClass.a!.precision, 2 / 3);
  close(e.perClass.c!.recall, 1 / 2);
  close(e.perClass.c!.f1, 1 / 2);
  assert.equal(e.perClass.b!.support, 3);
  close(e.macro.f1, (2 / 3 + 2 / 3 + 1 / 2) / 3);
  close(e.weighted.f1, (3 * (2 / 3) + 3 * (2 / 3) + 2 * (1 / 2)) / 8);
  close(e.logLoss, -(5 * Math.log(0.8) + 3 * Math.log(0.1)) / 8);
  // top-2: wrong answers put the true class at 0.1, tied with the third: ties count against → rank 2
  close(e.topK.top3!, 1);
  const worst = topLosses(
    yTrue,
    probs,
    yTrue.map((_, i) => `f${i}`),
    ['a', 'b', 'c'],
    2,
  );
  assert.equal(worst.length, 2);
  assert.ok(worst.every((w) => w.actual !== w.predicted));
});

test('a class never predicted has precision 0 (zero_division=0), not NaN', () => {
  const e = evaluate(
    [0, 1],
    [
      [0.9, 0.1],
      [0.9, 0.1],
    ],
    ['x', 'y'],
  );
  assert.equal(e.perClass.y!.precision, 0);
  assert.equal(e.perClass.y!.f1, 0);
  assert.deepEqual(confusionMatrix([0, 1], [0, 0], 2), [
    [1, 0],
    [1, 0],
  ]);
});

test('stratified split keeps class proportions and is seeded', () => {
  const labels = [...new Array(80).fill(0), ...new Array(20).fill(1)];
  const s = stratifiedSplit(labels, { valid: 0.1, test: 0.2 }, 7);
  assert.equal(s.test.filter((i) => labels[i] === 1).length, 4);
  assert.equal(s.test.filter((i) => labels[i] === 0).length, 16);
  assert.equal(s.valid.length, 10);
  assert.equal(new Set([...s.train, ...s.valid, ...s.test]).size, 100);
  assert.deepEqual(stratifiedSplit(labels, { valid: 0.1, test: 0.2 }, 7), s);
  assert.notDeepEqual(stratifiedSplit(labels, { valid: 0.1, test: 0.2 }, 8).test, s.test);
});

test('stratified k-fold: disjoint validation parts covering everything, proportions kept', () => {
  const labels = [...new Array(40).fill(0), ...new Array(16).fill(1), ...new Array(8).fill(2)];
  const folds = stratifiedKFold(labels, 8, 1);
  assert.equal(folds.length, 8);
  const seen = folds.flatMap((f) => f.valid).sort((a, b) => a - b);
  assert.deepEqual(
    seen,
    labels.map((_, i) => i),
  );
  for (const f of folds) {
    assert.equal(f.valid.length, 8);
    assert.equal(f.valid.filter((i) => labels[i] === 2).length, 1);
    assert.equal(f.train.length + f.valid.length, 64);
    assert.ok(f.valid.every((i) => !f.train.includes(i)));
  }
});
