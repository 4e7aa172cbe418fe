import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { runTraining } from '../src/training/pipeline.js';
import { writeDirAtomic } from '../src/util/atomic.js';
import { loadModelDir } from '../src/models/model-dir.js';
import { evaluateModels } from '../src/evaluation/run-eval.js';
import { createDogApp } from '../src/app/dog-app.js';
import { ImageClassificationPipeline } from '../src/app/image-classification.js';
import { EnsembleClassifier, loadTrainedModel } from '../src/models/classifier.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// Synthetic, learnable images: class "left" is bright on the left, class "right" on the right.
async function syntheticSet(root: string, perClass: number) {
  for (const cls of ['left', 'right']) {
    await mkdir(path.join(root, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const w = 24;
      const data = Buffer.alloc(w * w * 3);
      for (let y = 0; y < w; y++)
        for (let x = 0; x < w; x++) data.fill(x < w / 2 === (cls === 'left') ? 220 - i : 20 + i, (y * w + x) * 3, (y * w + x) * 3 + 3);
      await sharp(data, { raw: { width: w, height: w, channels: 3 } })
        .png()
        .toFile(path.join(root, cls, `${i}.png`));
    }
  }
}

test('train writes a run directory, keeps the best checkpoint, and resumes after an interruption', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-train-'));
  await syntheticSet(path.join(root, 'data'), 20);
  const runDir = path.join(root, 'run');
  const base = {
    dataDir: path.join(root, 'data'),
    runDir,
    arch: 'scratch' as const,
    backbone: 'mobilenet_v1_0.75_224',
    optimizer: 'adam' as const,
    batchSize: 8,
    size: 16,
    quiet: true,
    augment: false,
  };
  const first = await runTraining({ ...base, epochs: 3 });
  assert.equal(first.history.length, 3);
  for (const f of [
    'config.json',
    'data.json',
    'metrics.csv',
    'metrics.jsonl',
    'curves.png',
    'curves.svg',
    'state.json',
    'model/manifest.json',
    'model/model.json',
    'model/weights.bin',
    'last/weights.bin',
  ])
    assert.ok(existsSync(path.join(runDir, f)), f);
  const manifest = JSON.parse(await readFile(path.join(runDir, 'model/manifest.json'), 'utf8'));
  assert.equal(manifest.input, 'image');
  assert.deepEqual(
    manifest.classes.map((c: { name: string }) => c.name),
    ['left', 'right'],
  );
  assert.equal(manifest.metrics.bestEpoch, first.best.epoch);
  assert.equal(first.best.valLoss, Math.min(...first.history.map((h) => h.valLoss)), 'the kept model is the best validation loss');
  // the values actually used are recorded, defaults resolved; early stopping is on by default
  assert.deepEqual([manifest.training.learningRate, manifest.training.hidden, manifest.training.dropout, manifest.training.patience], [0.001, null, 0, 8]);
  const config = JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8'));
  assert.deepEqual([config.learningRate, config.patience, config.epochs], [0.001, 8, 3]);
  const csv = (await readFile(path.join(runDir, 'metrics.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv[0], 'epoch,loss,acc,val_loss,val_acc,seconds');
  assert.ok(
    csv.slice(1).every((l) => Number(l.split(',')[5]) > 0),
    'time per epoch',
  );
  // "interrupted" after 3 epochs: resuming with 5 runs epochs 4 and 5 only
  const resumed = await runTraining({ ...base, epochs: 5, resume: true });
  assert.equal(resumed.resumedFrom, 3);
  assert.deepEqual(
    resumed.history.map((h) => h.epoch),
    [1, 2, 3, 4, 5],
  );
  assert.equal((await readFile(path.join(runDir, 'metrics.csv'), 'utf8')).trim().split('\n').length, 6);
  // after the resume the records state the new budget, and the curves mark where it resumed
  assert.equal(JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')).epochs, 5);
  const after = JSON.parse(await readFile(path.join(runDir, 'model/manifest.json'), 'utf8'));
  assert.deepEqual([after.training.epochs, after.training.epochsRun, after.training.resumedAfter], [5, 5, [3]]);
  const svg = await readFile(path.join(runDir, 'curves.svg'), 'utf8');
  assert.match(svg, /resumed after 3/);
  assert.match(svg, new RegExp(`kept: epoch ${resumed.best.epoch}`));
  assert.match(svg, /cross-entropy loss/);
  // the pixel model learned the task (on its own held-out split)
  const ev = await evaluateModels([path.join(runDir, 'model')], base.dataDir, { files: resumed.test });
  assert.ok(ev.accuracy >= 0.8, `held-out accuracy ${ev.accuracy}`);
  // eval on the run directory itself: its model, the held-out part by default, everything only when asked
  const held = await evaluateModels([runDir], base.dataDir);
  assert.equal(held.resolved[0]!.dir, path.join(runDir, 'model'));
  assert.match(held.resolved[0]!.note!, /run directory: using its model/);
  assert.equal(held.scored.split, 'test');
  assert.deepEqual(held.n, resumed.test.length);
  assert.match(held.scored.description, /held-out test part of the seeded 70\/15\/15 split \(seed 42\): 6 of 40 photos/);
  const all = await evaluateModels([runDir], base.dataDir, { split: 'all' });
  assert.equal(all.n, 40);
  assert.match(all.scored.description, /flatters/);
});

test('a failed checkpoint write leaves the previous model directory intact', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-atomic-'));
  const dir = path.join(root, 'model');
  await writeDirAtomic(dir, async (tmp) => writeFile(path.join(tmp, 'weights.bin'), 'good'));
  await assert.rejects(
    writeDirAtomic(dir, async (tmp) => {
      await writeFile(path.join(tmp, 'weights.bin'), 'half-writ');
      throw new Error('killed');
    }),
  );
  assert.equal(await readFile(path.join(dir, 'weights.bin'), 'utf8'), 'good');
});

test('a transfer head trained on real photos is served by the app with --model', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-head-'));
  const data = path.join(root, 'data');
  // 2 breeds × 12 real Imagewoof photos, linked in place (never copied into the repository)
  for (const wnid of ['n02088364', 'n02111889']) {
    await mkdir(path.join(data, wnid), { recursive: true });
    for (const f of sampleClassFolders(path.join(sharedDataDir(), 'imagewoof/train'), 12).filter((x) => x.label === wnid)) {
      await writeFile(path.join(data, wnid, path.basename(f.file)), await readFile(f.file));
    }
  }
  // keep-aspect: the head is trained on whole-photo features, and must be served the same way
  const s = await runTraining({
    dataDir: data,
    runDir: path.join(root, 'run'),
    arch: 'head',
    backbone: 'mobilenet_v1_0.75_224',
    resize: 'keep-aspect',
    optimizer: 'adam',
    epochs: 8,
    batchSize: 8,
    quiet: true,
    featureCache: path.join(root, 'cache'),
    validFromTrain: 0.25,
  });
  const loaded = await loadModelDir(s.modelDir);
  assert.equal(loaded.manifest.backbone, 'mobilenet_v1_0.75_224');
  assert.equal(loaded.manifest.preprocessing.resize, 'keep-aspect');
  assert.deepEqual(
    loaded.manifest.classes.map((c) => c.name),
    ['beagle', 'Samoyed'],
  );
  loaded.model.dispose();
  const app = await createDogApp({ modelDir: s.modelDir, topK: 2 });
  try {
    assert.equal(app.describe().preprocessing.resize, 'keep-aspect');
    const samoyed = sampleClassFolders(path.join(sharedDataDir(), 'imagewoof/val'), 2).find((f) => f.label === 'n02111889')!;
    const r = await app.classify(samoyed.file);
    assert.equal(r.kind, 'dog');
    assert.deepEqual(r.breeds.map((b) => b.name).sort(), ['Samoyed', 'beagle']);
    assert.equal(r.breeds[0]!.name, 'Samoyed');
    // the plain pipeline (imgclass classify) loads the same head and its preprocessing by itself
    const plain = await ImageClassificationPipeline.create({ modelDir: s.modelDir, topK: 2 });
    const c = await plain.classify(samoyed.file);
    assert.equal(c.top[0]!.name, 'Samoyed');
    plain.dispose();
  } finally {
    app.dispose();
  }
});

test('k-fold trains one model per stratified fold, reports mean ± sd and keeps the best; sweep fills its grid', async () => {
  const { kfold, sweep } = await import('../src/training/tuning.js');
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-kfold-'));
  await syntheticSet(path.join(root, 'data'), 12);
  const base = {
    dataDir: path.join(root, 'data'),
    arch: 'scratch' as const,
    backbone: 'mobilenet_v1_0.75_224',
    optimizer: 'adam' as const,
    batchSize: 8,
    size: 16,
    quiet: true,
    augment: false,
    epochs: 2,
  };
  const r = await kfold({ ...base, runDir: path.join(root, 'kfold') }, 3);
  assert.equal(r.folds.length, 3);
  const accs = r.folds.map((f) => f.valAccuracy);
  const mean = accs.reduce((a, b) => a + b, 0) / 3;
  assert.ok(Math.abs(r.mean - mean) < 1e-9);
  assert.ok(Math.abs(r.sd - Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / 2)) < 1e-9);
  assert.equal(
    r.bestFold,
    r.folds.reduce((a, b) => (b.valAccuracy > a.valAccuracy || (b.valAccuracy === a.valAccuracy && b.valLoss < a.valLoss) ? b : a)).fold,
  );
  for (const f of ['kfold.json', 'kfold.png', 'model/manifest.json']) assert.ok(existsSync(path.join(root, 'kfold', f)), f);
  assert.notEqual(r.testAccuracy, null, 'the untouched test split is scored');
  // all folds as one ensemble: loadable by --model, its probabilities the mean of its members'
  assert.notEqual(r.ensembleTestAccuracy, null);
  const ensemble = await loadTrainedModel(r.ensembleDir);
  assert.ok(ensemble instanceof EnsembleClassifier && ensemble.members.length === 3);
  const image = { data: new Uint8Array(16 * 16 * 3).fill(200), width: 16, height: 16 };
  const [mean3] = await ensemble.predict([{ image }]);
  const each = await Promise.all(ensemble.members.map((m) => m.predict([{ image }])));
  mean3!.forEach((v, c) => assert.ok(Math.abs(v - each.reduce((a, e) => a + e[0]![c]!, 0) / 3) < 1e-6));
  ensemble.dispose();
  await writeFile(path.join(r.ensembleDir, 'ensemble.json'), '{"format":"imgclass-ensemble","members":[]}');
  await assert.rejects(loadTrainedModel(r.ensembleDir), (e: Error & { code?: string }) => e.code === 'MODEL_CORRUPT');
  const rows = await sweep({ ...base, runDir: path.join(root, 'sweep') }, { optimizers: ['adam', 'sgd'], epochs: [1, 2] });
  assert.deepEqual(
    rows.map((x) => `${x.optimizer}-${x.epochs}`),
    ['adam-1', 'adam-2', 'sgd-1', 'sgd-2'],
  );
  for (const f of ['sweep.json', 'sweep.png']) assert.ok(existsSync(path.join(root, 'sweep', f)), f);
});

test('the committed Imagewoof example model classifies held-out photos (imagewoof/val)', async () => {
  const { mkdtemp: mk } = await import('node:fs/promises');
  const modelDir = path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head');
  const sample = sampleClassFolders(path.join(sharedDataDir(), 'imagewoof/val'), 4);
  const ev = await evaluateModels([modelDir], path.join(sharedDataDir(), 'imagewoof/val'), {
    files: sample.map((s, i) => ({ file: s.file, label: Math.floor(i / 4) })),
    featureCache: await mk(path.join(os.tmpdir(), 'imgclass-fc-')),
  });
  assert.equal(ev.n, 40);
  assert.ok(ev.accuracy >= 0.85, `accuracy ${ev.accuracy} on 40 held-out photos`);
  assert.deepEqual(ev.classes.length, 10);
});

test('--class-weight balanced weighs each class by n / (classes × its count) in the loss, and says so in the manifest', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-cw-'));
  await syntheticSet(path.join(root, 'data'), 12);
  // make it imbalanced: keep 4 of the 12 "right" photos
  const { rm } = await import('node:fs/promises');
  for (let i = 4; i < 12; i++) await rm(path.join(root, 'data', 'right', `${i}.png`));
  const s = await runTraining({
    dataDir: path.join(root, 'data'),
    runDir: path.join(root, 'run'),
    arch: 'scratch',
    backbone: 'mobilenet_v1_0.75_224',
    optimizer: 'adam',
    epochs: 1,
    batchSize: 8,
    size: 16,
    quiet: true,
    augment: false,
    classWeight: 'balanced',
  });
  // stratified 70/15/15: 8 "left" and 2 "right" photos train
  assert.equal(s.imbalance, 4);
  const m = JSON.parse(await readFile(path.join(s.modelDir, 'manifest.json'), 'utf8'));
  assert.deepEqual(m.training.classWeight, { mode: 'balanced', weights: { 0: 10 / 16, 1: 10 / 4 } });
});
