import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createDogApp, type DogApp } from '../src/app/dog-app.js';
import { loadDataset } from '../src/data/dataset.js';
import { argmax } from '../src/evaluation/metrics.js';
import { EXPORT_INPUT, EXPORT_OUTPUT } from '../src/models/export.js';
import { loadTrainedModel } from '../src/models/classifier.js';
import { ort } from '../src/runtime/ort-binding.js';
import { createSession } from '../src/runtime/ort.js';
import { buildServer } from '../src/server/server.js';
import { launchChromium } from '../support/chromium.js';
import { meterServer, type Served } from '../support/served.js';
import { classFolderSubset, trainInPage, type PageTrainResult } from '../support/train-device.js';
import { sharedDataDir } from './shared.js';

// Device-mode training in Debian's Chromium: four classes of real vehicle photos trained in the
// tab (backbone on onnxruntime-web, head on TF.js), the held-out report, and the ONNX export the
// tab built, run here on onnxruntime-node. No request may carry a photo.
const vehicles = path.join(sharedDataDir(), 'vehicles');
const classes = classFolderSubset(vehicles, 30);

let app: DogApp;
let server: FastifyInstance;
let base: string;
let browser: Browser;
let served: Served[];
let result: PageTrainResult;
/** The same photos again in the same tab, Stop pressed after the third epoch. */
let stopped: PageTrainResult;
/** The page's network log. */
const log: { method: string; url: string; body: number }[] = [];

before(async () => {
  app = await createDogApp();
  server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web') });
  served = meterServer(server);
  base = await server.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchChromium();
  const page = await browser.newPage();
  page.on('request', (r) => log.push({ method: r.method(), url: r.url(), body: r.postDataBuffer()?.length ?? 0 }));
  // any same-origin page: the server's headers make it cross-origin isolated, as the app's page is
  await page.goto(`${base}/api/health`);
  result = await trainInPage(page, classes);
  stopped = await trainInPage(page, classes, {}, 3);
  await page.close();
});
after(async () => {
  await browser?.close();
  await server?.close();
  app?.dispose();
});

test('the tab trains on the seeded split the CLI makes, with Keras-style epochs and early stopping', async () => {
  const r = result.report;
  // the same photos as a folder-per-class data set: loadDataset's split must be the tab's
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-train-device-'));
  for (const c of classes) {
    await mkdir(path.join(dir, c.name));
    for (const f of c.files) await symlink(f, path.join(dir, c.name, path.basename(f)));
  }
  const ds = await loadDataset(dir);
  const rel = (f: string) => path.relative(dir, f);
  assert.deepEqual(
    r.classes,
    ds.classes.map((c) => c.name),
  );
  assert.deepEqual(r.counts, { train: ds.splits.train.length, valid: ds.splits.valid.length, test: ds.splits.test.length });
  assert.deepEqual(
    r.predictions.map((p) => p.file),
    ds.splits.test.map((f) => rel(f.file)),
    'the held-out photos are the CLI split’s test part',
  );
  assert.deepEqual(
    r.predictions.map((p) => p.label),
    ds.splits.test.map((f) => f.label),
  );
  // epochs: one event per finished epoch, the best one kept
  const epochs = result.events.filter((e) => e.type === 'epoch');
  assert.equal(epochs.length, r.history.length);
  assert.ok(r.history.length >= 1 && r.history.length <= 20);
  const bestLoss = Math.min(...r.history.map((h) => h.valLoss));
  assert.equal(r.best.valLoss, bestLoss);
  assert.match(epochs[0]!.line, /^Epoch {1,2}1\/20 {2}loss \d\.\d{4} {2}acc \d\.\d{4} {2}val_loss \d\.\d{4} {2}val_acc \d\.\d{4}/);
  if (r.stoppedEarly) assert.equal(r.history.length - r.best.epoch, 8, 'early stopping: patience 8');
  const stages = result.events.filter((e) => e.type === 'stage').map((e) => (e as { stage: string }).stage);
  assert.deepEqual(stages, ['loading', 'features', 'training', 'evaluating', 'exporting']);
  console.log(
    `device training: ${r.counts.train}/${r.counts.valid}/${r.counts.test} photos, ${r.history.length} epochs (best ${r.best.epoch}), ` +
      `TF.js ${r.tfBackend}, ORT threads ${r.ortThreads}; ms ${JSON.stringify(Object.fromEntries(Object.entries(r.timings).map(([k, v]) => [k, Math.round(v)])))}`,
  );
});

test('the held-out report is sane: accuracy well above chance, per-class figures, confusion matrix, unknown threshold', () => {
  const t = result.report.test;
  assert.equal(t.n, result.report.counts.test);
  assert.ok(t.accuracy >= 0.6, `accuracy ${t.accuracy} on ${t.n} held-out photos (chance 0.25)`);
  assert.equal(t.confusion.length, 4);
  assert.equal(
    t.confusion.flat().reduce((a, b) => a + b, 0),
    t.n,
  );
  for (const c of result.report.classes) assert.ok(t.perClass[c]!.support > 0, c);
  // every mistake is a top loss (up to 10), worst first
  const wrong = result.report.predictions.filter((p) => argmax(p.probabilities) !== p.label).length;
  assert.equal(t.topLosses.length, Math.min(10, wrong));
  const u = result.report.unknown!;
  assert.ok(u.threshold > 0 && u.threshold < 1 && u.imagenetIndices.length > 0);
  assert.ok(t.unknown && t.unknown.n === t.n);
  console.log(`held-out accuracy ${(t.accuracy * 100).toFixed(1)}% on ${t.n} photos; unknown threshold ${u.threshold.toPrecision(3)}`);
});

test("the tab's ONNX export answers the held-out photos on onnxruntime-node as the tab's model did", async () => {
  const bytes = Buffer.from(result.onnxBase64, 'base64');
  const session = await createSession(new Uint8Array(bytes));
  let maxDiff = 0;
  try {
    for (const p of result.report.predictions) {
      const f = result.fitted[p.file]!;
      const pixels = Float32Array.from(Buffer.from(f.base64, 'base64'));
      const out = await session.run({ [EXPORT_INPUT]: new ort.Tensor('float32', pixels, [1, f.height, f.width, 3]) });
      const got = out[EXPORT_OUTPUT]!.data as Float32Array;
      assert.equal(argmax(got), argmax(p.probabilities), `${p.file}: top-1`);
      for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - p.probabilities[i]!));
    }
  } finally {
    await session.release();
  }
  assert.ok(maxDiff <= 1e-4, `max |Δp| ${maxDiff}`);
  const v = result.exportJson.verification as { maxAbsDiff: number; top1Agreement: number; n: number };
  assert.equal(v.n, result.report.counts.test);
  assert.equal(v.top1Agreement, 1);
  assert.ok(v.maxAbsDiff <= 1e-4);
  console.log(`export on onnxruntime-node vs the tab: same top-1 on ${result.report.predictions.length}, max |Δp| ${maxDiff.toExponential(2)}`);
});

test('the run directory loads in Node as a trained model', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-device-run-'));
  for (const [name, b64] of Object.entries(result.run)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), Buffer.from(b64, 'base64'));
  }
  const model = await loadTrainedModel([path.join(dir, 'model')]);
  try {
    assert.deepEqual(
      model.classes.map((c) => c.name),
      result.report.classes,
    );
    assert.equal(model.backbone, 'mobilenet_v1_0.75_224');
  } finally {
    model.dispose();
  }
});

test('Stop keeps the best epoch so far, and training again reuses the features this tab computed', () => {
  const r = stopped.report;
  assert.equal(r.interrupted, true);
  assert.equal(r.history.length, 3, 'the epoch running when Stop was pressed is dropped or finished, never a fourth');
  assert.equal(r.best.valLoss, Math.min(...r.history.map((h) => h.valLoss)));
  assert.equal(r.timings.computedFeatures, 0, 'every photo was already in the tab');
  assert.equal(r.test.n, result.report.test.n);
  const manifest = JSON.parse(Buffer.from(stopped.run['model/manifest.json']!, 'base64').toString()) as {
    metrics: { bestEpoch: number };
    training: { interrupted: boolean };
  };
  assert.equal(manifest.metrics.bestEpoch, r.best.epoch);
  assert.equal(manifest.training.interrupted, true);
});

test('no request carried a photo: the page only fetched code and models', () => {
  const withBody = log.filter((r) => r.method !== 'GET' || r.body > 0);
  assert.deepEqual(withBody, [], 'no request has a body');
  for (const r of log) assert.ok(r.url.startsWith(base) || r.url.startsWith('blob:') || r.url.startsWith('data:'), `external request ${r.url}`);
  assert.deepEqual(
    served.filter((s) => s.method !== 'GET').map((s) => `${s.method} ${s.url}`),
    [],
    'the server received nothing but GETs',
  );
});

test("Try it on this device (classifyOnDevice): the run's model answers held-out photos as the report scored them", () => {
  const names = result.report.classes;
  const tried = Object.entries(result.tried);
  assert.equal(tried.length, Math.min(4, result.report.predictions.length));
  for (const [file, a] of tried) {
    const scored = result.report.predictions.find((p) => p.file === file)!.probabilities;
    assert.equal(a.top.length, Math.min(5, names.length));
    assert.equal(a.top[0]!.name, names[scored.indexOf(Math.max(...scored))], `${file}: same top-1`);
    // the answer's probabilities are rounded to 1e-4, as the server's are
    for (const t of a.top)
      assert.ok(Math.abs(t.probability - scored[names.indexOf(t.name)]!) <= 1e-4, `${file} ${t.name}: ${t.probability} vs ${scored[names.indexOf(t.name)]}`);
    assert.equal(typeof a.unknown?.unknown, 'boolean', 'the run has an unknown calibration, and Try it applies it');
    assert.equal(a.label, a.unknown!.unknown ? 'unknown' : a.top[0]!.name);
  }
});
