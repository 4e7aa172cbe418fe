import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { createDogApp, type DogApp, type DogAppResult } from '../src/app/dog-app.js';
import { dogPlan, QUALITIES } from '../src/app/quality.js';
import { BACKBONE_TUNING, DOG_APP_BACKBONE, FALLBACK_TUNING } from '../src/app/tuning.js';
import { isImgclassError } from '../src/util/errors.js';
import { hugePngHeader, SVG } from './fixtures.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// Real models on real photos, none of which MobileNet trained on (all are ImageNet *val* images
// or LFW). Samples are fixed and spread across classes; thresholds sit a little under the rates
// that bench/routing.ts measures on the full sets (see README), so a regression fails here.
const data = sharedDataDir();
const dogs = sampleClassFolders(path.join(data, 'imagewoof/val'), 3);
const humans = sampleClassFolders(path.join(data, 'lfw'), 1)
  .filter((_, i) => i % 19 === 0)
  .slice(0, 30);
const negatives = sampleClassFolders(path.join(data, 'negatives'), 6);
const breedOf = new Map(
  readFileSync(path.join(data, 'imagewoof/classes.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t') as [string, string]),
);

let app: DogApp;
before(async () => {
  app = await createDogApp();
});
after(() => app.dispose());

test('the default backbone is tuned: the app runs on values chosen for it, and says so', () => {
  assert.ok(BACKBONE_TUNING[DOG_APP_BACKBONE], `app/tuning.ts has no entry for the dog app's backbone ${DOG_APP_BACKBONE}`);
  const d = app.describe();
  assert.equal(d.backbone, DOG_APP_BACKBONE);
  assert.deepEqual(d.tuning, { backbone: DOG_APP_BACKBONE, tuned: true, tunedFor: DOG_APP_BACKBONE });
  const own = BACKBONE_TUNING[DOG_APP_BACKBONE]!;
  assert.deepEqual(app.plan.dog, own.dog);
  assert.equal(app.plan.faces.dogVeto, own.faceDogVeto);
  assert.deepEqual(app.plan.breeds, own.breeds, "the default preset reads the backbone's breed views");
  assert.deepEqual(app.plan.objects, { personRule: own.personRule, dogBoxRescue: own.dogBoxRescue });
  assert.deepEqual(app.plan.namedBreeds, own.namedBreeds);
});

test("a backbone nobody tuned runs on the fallback's values, flagged as untuned; options given still win", () => {
  for (const quality of QUALITIES) {
    const plan = dogPlan(quality, 'a_backbone_nobody_tuned', { faceDogVeto: 0.9, dog: { threshold: 0.45, rule: undefined } });
    assert.deepEqual(plan.tuning, { backbone: 'a_backbone_nobody_tuned', tuned: false, tunedFor: FALLBACK_TUNING });
    const fallback = BACKBONE_TUNING[FALLBACK_TUNING]!;
    assert.equal(plan.faces.dogVeto, 0.9);
    assert.deepEqual(plan.dog, { ...fallback.dog, threshold: 0.45 }, 'an option given as undefined keeps the tuned value');
    assert.equal(plan.objects === null, quality === 'standard', 'YOLOX-nano is a step of fast and accurate only');
    assert.equal(plan.breeds.confident > 0, quality === 'accurate', 'more views are a step of accurate only');
  }
});

test('an untuned backbone answers, and every answer says whose values it ran on', async () => {
  const untuned = 'mobilenet_v2_1.0_224_quant';
  assert.equal(BACKBONE_TUNING[untuned], undefined, `${untuned} has been tuned: pick another backbone for this test`);
  const v2 = await createDogApp({ backbone: untuned, quality: 'standard' });
  try {
    assert.deepEqual(v2.describe().tuning, { backbone: untuned, tuned: false, tunedFor: FALLBACK_TUNING });
    const r = await v2.classify(dogs[0]!.file);
    assert.deepEqual(r.tuning, { backbone: untuned, tuned: false, tunedFor: FALLBACK_TUNING });
    assert.equal(r.kind, 'dog');
    assert.equal((await app.classify(dogs[0]!.file)).tuning, undefined, 'a tuned backbone adds nothing to the answer');
  } finally {
    v2.dispose();
  }
});

async function classifyAll(files: { file: string }[]): Promise<DogAppResult[]> {
  const out: DogAppResult[] = [];
  for (const f of files) out.push(await app.classify(f.file));
  return out;
}

test('dog photos are called dogs, with the right breed most of the time', async () => {
  const results = await classifyAll(dogs);
  const called = results.filter((r) => r.kind === 'dog').length;
  assert.ok(called >= 28, `only ${called}/${dogs.length} dog photos were called "dog": ${results.map((r) => r.kind).join(',')}`);
  // Breed: ImageNet names match Imagewoof's (minus case); dingo is not among the 118 ImageNet breeds.
  const named = dogs
    .map((d, i) => ({ want: breedOf.get(d.label)!.toLowerCase(), got: results[i]!.breeds[0]?.name.toLowerCase() }))
    .filter((x) => x.want !== 'dingo');
  const right = named.filter((x) => x.got === x.want).length;
  assert.ok(right / named.length >= 0.75, `breed top-1 ${right}/${named.length}`);
  for (const r of results) {
    assert.equal(r.breeds.length, 5);
    assert.ok(
      r.breeds.every((b, i) => i === 0 || b.probability <= r.breeds[i - 1]!.probability),
      'breeds sorted',
    );
    assert.ok(r.dogProbability >= 0 && r.dogProbability <= 1);
  }
  // The message names the fewest breeds whose probabilities reach the tuned mass: one when the app
  // is sure, a few when it is not, and the right breed is among them more often than it is first
  // (mass, at most max, none after the first below floor).
  const { mass, max, floor } = app.plan.namedBreeds;
  const namedIn = (r: DogAppResult) => r.breeds.filter((b) => r.message.includes(`${b.name} (`));
  const sum = (bs: { probability: number }[]) => bs.reduce((a, b) => a + b.probability, 0);
  let covered = 0;
  const counts = results.map((r, i) => {
    if (r.kind !== 'dog') return 0;
    const names = namedIn(r);
    const why = `${r.message} (${JSON.stringify(app.plan.namedBreeds)})`;
    assert.ok(names.length >= 1 && names.length <= max && names.every((b, j) => b === r.breeds[j]), why);
    assert.ok(names.length === 1 || (sum(names.slice(0, -1)) < mass && names.slice(1).every((b) => b.probability >= floor)), why);
    if (names.length < max) assert.ok(sum(names) >= mass - 1e-3 || r.breeds[names.length]!.probability < floor, why);
    if (names.some((b) => b.name.toLowerCase() === breedOf.get(dogs[i]!.label)!.toLowerCase())) covered++;
    return names.length;
  });
  assert.ok(counts.some((n) => n === 1) && counts.some((n) => n > 1), `breeds named per dog: ${counts.join(',')}`);
  assert.ok(covered > right, `the right breed among those named ${covered} times, first ${right} times`);
});

test('human faces are called human, with a resembling breed and face boxes inside the image', async () => {
  const results = await classifyAll(humans);
  const called = results.filter((r) => r.kind === 'human').length;
  assert.ok(called >= 28, `only ${called}/${humans.length} LFW faces were called "human": ${results.map((r) => r.kind).join(',')}`);
  for (const r of results.filter((x) => x.kind === 'human')) {
    assert.ok(r.breeds.length > 0 && r.message.includes(r.breeds[0]!.name));
    for (const f of r.faces) assert.ok(f.x >= 0 && f.y >= 0 && f.x + f.width <= r.width && f.y + f.height <= r.height && f.width > 10, JSON.stringify(f));
  }
});

test('photos with neither are called neither, with a clear message', async () => {
  const results = await classifyAll(negatives);
  const called = results.filter((r) => r.kind === 'neither').length;
  assert.ok(called >= 28, `only ${called}/${negatives.length} negatives were called "neither": ${results.map((r) => r.kind).join(',')}`);
  for (const r of results.filter((x) => x.kind === 'neither')) {
    assert.match(r.message, /No dog or human/);
    assert.equal(r.breeds.length, 0);
  }
});

test("the seed's Haar detector is selectable and finds LFW faces once small crops get context", async () => {
  const haarApp = await createDogApp({ faceDetector: 'haar' });
  try {
    let found = 0;
    for (const h of humans.slice(0, 15)) if ((await haarApp.classify(h.file)).faces.length > 0) found++;
    assert.ok(found >= 10, `Haar found faces in ${found}/15`);
    assert.equal(haarApp.describe().faceDetector, 'haar');
  } finally {
    haarApp.dispose();
  }
});

test('bad input is a clear ImgclassError, and the app keeps working after it', async () => {
  for (const [input, code] of [
    [new Uint8Array(0), 'EMPTY_INPUT'],
    [SVG, 'UNSUPPORTED_FORMAT'],
    [hugePngHeader(40000, 40000), 'TOO_MANY_PIXELS'],
    ['/no/such/file.jpg', 'FILE_NOT_FOUND'],
  ] as const) {
    await assert.rejects(app.classify(input), (e: unknown) => isImgclassError(e) && e.code === code);
  }
  assert.equal((await app.classify(dogs[0]!.file)).kind, 'dog');
});
