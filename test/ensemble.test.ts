import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDogApp, type DogApp, type DogAppResult } from '../src/app/dog-app.js';
import { runDogPipeline, type DogPipelineHost } from '../src/app/dog-pipeline.js';
import { cropPixels, type RgbImage } from '../src/data/pixels.js';
import { dogPlan } from '../src/app/quality.js';
import { BACKBONE_TUNING, DOG_APP_BACKBONE } from '../src/app/tuning.js';
import { combineEnsemble, viewRegion } from '../src/app/views.js';
import { loadImage } from '../src/data/image.js';
import { cropRegion } from '../src/data/transform.js';
import { ImageClassifier } from '../src/models/image-classifier.js';
import { ModelStore } from '../src/models/store.js';
import { sharedDataDir } from './shared.js';

// Photos named ILSVRC2012_val_* are ImageNet validation photos: no backbone here ever saw them.
const data = sharedDataDir();
const woof = (split: string, wnid: string, id: string) => path.join(data, 'imagewoof', split, wnid, `ILSVRC2012_val_${id}.jpg`);
/**
 * An Australian terrier, nobody there. MobileNet-EdgeTPU's centre view is unsure (39% on its top
 * breed, below the tuned 0.5), and its views alone call it a briard; with the ensemble the answer
 * is the Australian terrier (bench/out's signals, the tuning half).
 */
const terrierUnsure = woof('train', 'n02096294', '00042604');
/** A Rhodesian ridgeback EdgeTPU's centre view is sure of (57%): it answers alone, no 6b. */
const ridgebackSure = woof('train', 'n02087394', '00000948');

const MEMBERS = ['mobilenet_v2_1.0_224_quant', 'mobilenet_v1_0.75_224'];

test('combineEnsemble is the weighted log-mean of the main answer (weight 1) and the member views', () => {
  const own = new Float32Array([0.5, 0.3, 0.2]);
  const a = new Float32Array([0.1, 0.6, 0.3]);
  const b = new Float32Array([0.2, 0.2, 0.6]);
  const got = combineEnsemble(own, [a, b], [1, 0.25]);
  const w = [1, 1, 0.25].map((x) => x / 2.25);
  const raw = [0, 1, 2].map((i) => Math.exp(w[0]! * Math.log(own[i]!) + w[1]! * Math.log(a[i]!) + w[2]! * Math.log(b[i]!)));
  const sum = raw.reduce((s, x) => s + x, 0);
  raw.forEach((x, i) => assert.ok(Math.abs(got[i]! - x / sum) < 1e-6, `class ${i}: ${got[i]} against ${x / sum}`));
  // the weights count: a member at weight 0 changes nothing, and no member leaves the answer as it was
  const zero = combineEnsemble(own, [a], [0]);
  own.forEach((p, i) => assert.ok(Math.abs(zero[i]! - p) < 1e-6));
  assert.equal(combineEnsemble(own, [], []), own);
  assert.throws(() => combineEnsemble(own, [a, b], [1]), /one weight per member view/);
});

test("the plan: only 'accurate' has the ensemble, and ensemble: false takes it out", () => {
  const tuned = BACKBONE_TUNING[DOG_APP_BACKBONE]!.breeds.ensemble;
  assert.deepEqual(
    tuned?.map((m) => m.backbone),
    MEMBERS,
  );
  assert.deepEqual(dogPlan('accurate', DOG_APP_BACKBONE).breeds.ensemble, tuned);
  assert.equal(dogPlan('accurate', DOG_APP_BACKBONE, { ensemble: false }).breeds.ensemble, undefined);
  assert.equal(dogPlan('accurate', DOG_APP_BACKBONE, { ensemble: false }).breeds.confident, 0.5, 'the rest of the views stay');
  for (const q of ['fast', 'standard'] as const) assert.equal(dogPlan(q, DOG_APP_BACKBONE).breeds.ensemble, undefined);
  for (const m of tuned!) assert.ok(!m.views.some((v) => v.kind === 'dog'), 'members read box-free views: they run while YOLOX looks');
});

/**
 * A host whose models are fixed numbers (the pipeline's logic alone): the photo is all dog (mass
 * 0.9 on ImageNet's first breed), no faces, no YOLOX boxes; the breed head says `unsure` (top
 * breed 0.4, below EdgeTPU's 0.5) or `sure`; each member answers `member` for each view and counts
 * its calls.
 */
function fakeHost(head: Float32Array, member: Float32Array, withEnsemble: boolean) {
  const calls: { backbone: string; views: number; flip: boolean }[] = [];
  const probabilities = new Float32Array(1000).fill(0.1 / 999);
  probabilities[151] = 0.9;
  const host: DogPipelineHost = {
    backbone: { fit: (im) => Promise.resolve(im), run: (views) => Promise.resolve(views.map(() => ({ probabilities, features: new Float32Array(4) }))) },
    detectFaces: () => Promise.resolve([]),
    crop: (im, r) => Promise.resolve(cropPixels(im, r)),
    detectObjects: () => Promise.resolve([]),
    breeds: { classes: ['a', 'b', 'c'].map((name) => ({ name })), predict: (views) => Promise.resolve(views.map(() => head)) },
    ...(withEnsemble
      ? {
          ensemble: {
            predict: (backbone: string, images: RgbImage[], flip: boolean) => {
              calls.push({ backbone, views: images.length, flip });
              return Promise.resolve(images.map(() => member));
            },
          },
        }
      : {}),
  };
  return { host, calls };
}
const photo: RgbImage = { data: new Uint8Array(40 * 30 * 3), width: 40, height: 30 };

test('the pipeline (step 6b): only an unsure dog asks the members, each on its views, and a host without `ensemble` skips it', async () => {
  const plan = dogPlan('accurate', DOG_APP_BACKBONE);
  const unsure = new Float32Array([0.4, 0.35, 0.25]);
  const member = new Float32Array([0.1, 0.2, 0.7]);
  const { host, calls } = fakeHost(unsure, member, true);
  const r = await runDogPipeline(host, photo, plan);
  assert.equal(r.kind, 'dog');
  assert.deepEqual(r.ensemble, MEMBERS);
  assert.deepEqual(calls, [
    { backbone: MEMBERS[0], views: 1, flip: true },
    { backbone: MEMBERS[1], views: 2, flip: true },
  ]);
  // no dog box: the views are the 0.875 zoom alone, which the head reads as `unsure`; then the members by weight
  const want = combineEnsemble(unsure, [member, member, member], [1, 0.25, 0.25]);
  r.breeds.forEach((b) => assert.ok(Math.abs(b.probability - want[['a', 'b', 'c'].indexOf(b.name)]!) < 1e-4, `${b.name}: ${b.probability}`));
  assert.equal(r.breeds[0]!.name, 'c', 'the members, sure of c, outvote an unsure head');

  const sure = fakeHost(new Float32Array([0.8, 0.15, 0.05]), member, true);
  const s = await runDogPipeline(sure.host, photo, plan);
  assert.equal(s.ensemble, undefined);
  assert.equal(sure.calls.length, 0, 'a sure centre view answers alone: no member runs');

  const device = fakeHost(unsure, member, false);
  const d = await runDogPipeline(device.host, photo, plan);
  assert.equal(d.ensemble, undefined, 'a host without ensemble (device mode) skips the step');
  assert.equal(d.breeds[0]!.name, 'a');
  const off = fakeHost(unsure, member, true);
  assert.equal((await runDogPipeline(off.host, photo, dogPlan('accurate', DOG_APP_BACKBONE, { ensemble: false }))).ensemble, undefined);
  assert.equal(off.calls.length, 0, 'ensemble: false: no member runs');
});

let on: DogApp;
let off: DogApp;
before(async () => {
  // every breed listed, so that the whole distribution can be compared
  [on, off] = await Promise.all([createDogApp({ topK: 118 }), createDogApp({ topK: 118, ensemble: false })]);
});
after(() => {
  on?.dispose();
  off?.dispose();
});

const probsOf = (r: DogAppResult) => new Map(r.breeds.map((b) => [b.name, b.probability]));

test('an unsure dog on a real unseen photo: step 6b runs, its members read it, and the answer is the weighted log-mean', async () => {
  assert.equal(on.backbone.name, 'mobilenet_edgetpu_224_1.0', 'the photo was picked for this backbone');
  assert.deepEqual(on.describe().ensemble, MEMBERS);
  assert.equal(off.describe().ensemble, undefined);
  const withIt = await on.classify(terrierUnsure);
  const without = await off.classify(terrierUnsure);
  assert.equal(withIt.kind, 'dog');
  assert.deepEqual(withIt.ensemble, MEMBERS, 'the answer names the backbones that read the breed');
  assert.equal(without.ensemble, undefined, 'ensemble: false skips the step');
  assert.equal(without.breeds[0]!.name, 'briard', `EdgeTPU's views alone: ${JSON.stringify(without.breeds.slice(0, 3))}`);
  assert.equal(withIt.breeds[0]!.name, 'Australian terrier', JSON.stringify(withIt.breeds.slice(0, 3)));

  // The members on their views, as the tuning says (flip on): MobileNetV2's centre view at weight 1,
  // MobileNet v1's centre and 0.875 views at 0.25 each; EdgeTPU's own answer (ensemble off) weighs 1.
  const image = await loadImage(terrierUnsure);
  const zoom = await cropRegion(image, viewRegion({ kind: 'centre', crop: 0.875 }, image.width, image.height));
  const [v2, v1] = await Promise.all(MEMBERS.map((backbone) => ImageClassifier.load({ backbone, flip: true })));
  try {
    const [v2c] = await v2!.classify([image]);
    const [v1c, v1z] = await v1!.classify([image, zoom]);
    const names = on.classifier.classes.map((c) => c.name);
    const own = probsOf(without);
    const parts: [Float32Array | Map<string, number>, number][] = [
      [own, 1],
      [v2c!.probabilities, 1],
      [v1c!.probabilities, 0.25],
      [v1z!.probabilities, 0.25],
    ];
    const total = parts.reduce((s, [, w]) => s + w, 0);
    const at = (p: Float32Array | Map<string, number>, i: number) => (p instanceof Map ? p.get(names[i]!)! : p[i]!);
    const expect = (rule: 'log-mean' | 'mean') => {
      const raw = names.map((_, i) =>
        rule === 'mean'
          ? parts.reduce((s, [p, w]) => s + (w / total) * at(p, i), 0)
          : Math.exp(parts.reduce((s, [p, w]) => s + (w / total) * Math.log(Math.max(at(p, i), 1e-12)), 0)),
      );
      const sum = raw.reduce((s, x) => s + x, 0);
      return raw.map((x) => x / sum);
    };
    const got = probsOf(withIt);
    const gap = (e: number[]) => Math.max(...names.map((n, i) => Math.abs(got.get(n)! - e[i]!)));
    // the answers are rounded to 1e-4, EdgeTPU's own too: a few 1e-4 of slack
    assert.ok(gap(expect('log-mean')) < 1e-3, `the weighted log-mean: max |Δp| ${gap(expect('log-mean'))}`);
    assert.ok(gap(expect('mean')) > 1e-2, 'the test can tell the log-mean from a plain mean');
  } finally {
    v2!.dispose();
    v1!.dispose();
  }
});

test('a dog the centre view is sure of answers alone; so does every photo in the other presets', async () => {
  const sure = await on.classify(ridgebackSure);
  assert.equal(sure.kind, 'dog');
  assert.equal(sure.breeds[0]!.name, 'Rhodesian ridgeback');
  assert.equal(sure.ensemble, undefined, 'sure at once: no step 6b');
  assert.deepEqual(probsOf(sure), probsOf(await off.classify(ridgebackSure)));
  const fast = await createDogApp({ quality: 'fast' });
  try {
    assert.equal(fast.describe().ensemble, undefined);
    assert.equal((await fast.classify(terrierUnsure)).ensemble, undefined);
  } finally {
    fast.dispose();
  }
});

test('a trained breed model has classes of its own: no ensemble', async () => {
  const trained = await createDogApp({ modelDir: path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head') });
  try {
    assert.equal(trained.plan.breeds.ensemble, undefined);
    assert.equal(trained.describe().ensemble, undefined);
  } finally {
    trained.dispose();
  }
});

test('a member missing from the model directory fails the start, saying which and how to do without it', async () => {
  // every shared model but MobileNetV2 quant, and no downloads
  const models = path.join(path.dirname(data), 'models');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-models-'));
  for (const f of await readdir(models)) if (f !== 'mobilenet_v2_1.0_224_quant') await symlink(path.join(models, f), path.join(dir, f));
  const store = new ModelStore({ modelDir: dir, cacheDir: await mkdtemp(path.join(os.tmpdir(), 'imgclass-cache-')), offline: true });
  await assert.rejects(createDogApp({ store }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MODEL_NOT_FOUND');
    assert.match(e.message, /^ensemble member mobilenet_v2_1\.0_224_quant: .*--no-ensemble/s);
    return true;
  });
  const without = await createDogApp({ store, ensemble: false });
  assert.equal(without.describe().ensemble, undefined);
  without.dispose();
});

test('the members load on the first dog that needs them, or with warmUp(): a sure dog, or a start, loads none', async () => {
  // a store that counts, per model, how often it is asked for the model's files
  const store = new ModelStore({ modelDir: path.join(path.dirname(data), 'models'), offline: true });
  const asked = new Map<string, number>();
  const resolve = store.resolve.bind(store);
  store.resolve = (name) => {
    const n = typeof name === 'string' ? name : name.name;
    asked.set(n, (asked.get(n) ?? 0) + 1);
    return resolve(name);
  };
  const counts = () => MEMBERS.map((m) => asked.get(m) ?? 0);
  const app = await createDogApp({ store });
  try {
    assert.deepEqual(counts(), [1, 1], 'at start: each member file found, once, and nothing loaded');
    assert.equal((await app.classify(ridgebackSure)).ensemble, undefined);
    assert.deepEqual(counts(), [1, 1], 'a sure dog loads no member');
    const unsure = await app.classify(terrierUnsure);
    assert.deepEqual(unsure.ensemble, MEMBERS);
    assert.ok(
      counts().every((c) => c > 1),
      `the unsure dog loaded them: ${counts().join(', ')}`,
    );
    const loaded = counts();
    await app.classify(terrierUnsure);
    assert.deepEqual(counts(), loaded, 'loaded once');
  } finally {
    app.dispose();
  }
  asked.clear();
  const warm = await createDogApp({ store });
  try {
    await warm.warmUp();
    assert.ok(
      counts().every((c) => c > 1),
      `warmUp() loaded them: ${counts().join(', ')}`,
    );
  } finally {
    warm.dispose();
  }
});
