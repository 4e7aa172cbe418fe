import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createDogApp, type DogApp } from '../src/app/dog-app.js';
import { combineViews, dogViewPlan, squareAround, viewRegion } from '../src/app/views.js';
import { loadImage } from '../src/data/image.js';
import { COCO_CLASSES, decodeYolox, type CocoBox } from '../src/detectors/coco-decode.js';
import { YoloxDetector } from '../src/detectors/coco.js';
import { dogBoxRescues } from '../src/detectors/imagenet-dog-rule.js';
import { personFaces } from '../src/detectors/person.js';
import { firstOf, runDogPipeline, searchFaces, type DogPipelineHost } from '../src/app/dog-pipeline.js';
import { dogPlan } from '../src/app/quality.js';
import { BACKBONE_TUNING } from '../src/app/tuning.js';
import { cropPixels } from '../src/data/pixels.js';
import { resizeFor } from '../src/data/preprocess.js';
import { cropRegion } from '../src/data/transform.js';
import { YunetFaceDetector } from '../src/detectors/face/yunet.js';
import { loadBackbone } from '../src/models/backbone.js';
import { embedWith } from '../src/models/views.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// Photos named ILSVRC2012_val_* are ImageNet validation photos: MobileNet never saw them.
const data = sharedDataDir();
const woof = (split: string, wnid: string, id: string) => path.join(data, 'imagewoof', split, wnid, `ILSVRC2012_val_${id}.jpg`);
/** Two Rhodesian ridgebacks in snow, nobody there: YuNet finds a "face" on a muzzle that the crop check lets pass. */
const ridgebacksInSnow = woof('train', 'n02087394', '00021666');
/** A man holding a Samoyed, both faces to the camera. */
const manWithSamoyed = woof('train', 'n02111889', '00043209');
/** A beagle MobileNet-EdgeTPU's centre view calls a Walker hound (33% sure); the zoomed and dog-box views get it. */
const beagleUnsure = woof('train', 'n02088364', '00025613');

const box = (x: number, y: number, width: number, height: number, classId: number, score: number): CocoBox => ({ x, y, width, height, classId, score });
/** The rules' values as tuned for MobileNet v1 0.75 (the cases below sit on either side of them). */
const v1 = BACKBONE_TUNING['mobilenet_v1_0.75_224']!;
const personRule = v1.personRule;

test('views: mean and log-mean combination, and the log-mean outvotes one confident mistake', () => {
  const a = new Float32Array([0.6, 0.3, 0.1]);
  const b = new Float32Array([0.2, 0.5, 0.3]);
  assert.deepEqual(
    [...combineViews([a, b], 'mean')].map((v) => +v.toFixed(4)),
    [0.4, 0.4, 0.2],
  );
  const confidentMistake = new Float32Array([0.97, 0.02, 0.01]);
  const unsure = [new Float32Array([0.01, 0.6, 0.39]), new Float32Array([0.02, 0.55, 0.43])];
  const log = combineViews([confidentMistake, ...unsure], 'log-mean');
  assert.ok(Math.abs(log.reduce((s, v) => s + v, 0) - 1) < 1e-5, 'normalised');
  assert.equal(log.indexOf(Math.max(...log)), 1, `log-mean picks the class every view finds plausible: ${[...log]}`);
  // Weights count views unequally.
  assert.ok(combineViews([a, b], 'mean', [3, 1])[0]! > 0.45);
});

test('views: regions stay inside the photo; the dog view squares the box and falls back without one', () => {
  assert.deepEqual(viewRegion({ kind: 'centre', crop: 0.875 }, 400, 200, undefined), { x: 112.5, y: 12.5, width: 175, height: 175 });
  assert.deepEqual(viewRegion({ kind: 'corner', crop: 0.5, corner: 'br' }, 400, 200), { x: 300, y: 100, width: 100, height: 100 });
  const sq = squareAround({ x: 350, y: 10, width: 60, height: 20 }, 0.1, 400, 200);
  assert.equal(sq.width, sq.height);
  assert.ok(sq.x >= 0 && sq.x + sq.width <= 400 && sq.y >= 0 && sq.y + sq.height <= 200, JSON.stringify(sq));
  const policy = {
    views: [
      { kind: 'centre' as const, crop: 0.875 },
      { kind: 'dog' as const, margin: 0.1 },
    ],
    dogScore: 0.3,
  };
  assert.deepEqual(
    dogViewPlan(policy, [box(0, 0, 10, 10, COCO_CLASSES.dog, 0.2)]).views,
    [{ kind: 'centre', crop: 0.875 }],
    'an unsure dog box gives no dog view',
  );
  assert.equal(dogViewPlan(policy, [box(0, 0, 10, 10, COCO_CLASSES.dog, 0.2), box(5, 5, 10, 10, COCO_CLASSES.dog, 0.8)]).dog?.x, 5, 'the surest dog box');
});

test('person evidence: a person box vouches, a dog box explains, no boxes leave the face standing', () => {
  const face = { x: 40, y: 20, width: 20, height: 20 };
  const dogBox = box(20, 0, 80, 100, COCO_CLASSES.dog, 0.8);
  const personBox = box(30, 10, 50, 150, COCO_CLASSES.person, 0.6);
  const passed = { box: face, vetoed: false };
  const vetoed = { box: face, vetoed: true };
  assert.deepEqual(personFaces([passed], [dogBox], true, personRule), [false], "a face inside a dog, no person: the dog's face");
  assert.deepEqual(personFaces([passed], [dogBox, personBox], true, personRule), [true], 'a person holding the dog');
  assert.deepEqual(personFaces([passed], [], true, personRule), [true], 'no YOLOX boxes: the face stands (LFW-style crops)');
  assert.deepEqual(
    personFaces([passed], [dogBox], false, personRule),
    [true],
    'no dog by the backbone: COCO boxes on a face crop are not trusted to remove it',
  );
  assert.deepEqual(personFaces([vetoed], [], true, personRule), [false], 'the crop check vetoes without a person box');
  assert.deepEqual(personFaces([vetoed], [personBox], true, personRule), [true], 'a person box overrules the crop check');
  const unsurePerson = (score: number) => box(30, 10, 50, 150, COCO_CLASSES.person, score);
  assert.deepEqual(personFaces([vetoed], [unsurePerson(0.35)], false, personRule), [true], 'the same person-box threshold vouches for a vetoed face (0.3)');
  assert.deepEqual(personFaces([vetoed], [unsurePerson(0.25)], false, personRule), [false], 'below it the crop check stands');
  assert.deepEqual(personFaces([passed], [box(20, 0, 80, 100, COCO_CLASSES.dog, 0.1)], true, personRule), [true], 'an unsure dog box explains nothing');
  assert.equal(dogBoxRescues(0.15, [dogBox], v1.dogBoxRescue), true);
  assert.equal(dogBoxRescues(0.05, [dogBox], v1.dogBoxRescue), false);
});

test('YOLOX grid decoding maps a cell back to image pixels', () => {
  const out = new Float32Array(3549 * 85);
  // Stride 8, row 10, col 20: centre (20.5·8, 10.5·8) = (164, 84) in the 416² letterbox; 32×16 px.
  const cell = 10 * 52 + 20;
  out.set([0.5, 0.5, Math.log(4), Math.log(2), 0.9], cell * 85);
  out[cell * 85 + 5 + COCO_CLASSES.dog] = 0.8;
  const [b, ...rest] = decodeYolox(out, { scale: 0.5, width: 832, height: 600 }, { scoreThreshold: 0.1, nmsIou: 0.45, classes: [0, 16] });
  assert.equal(rest.length, 0);
  assert.equal(b!.classId, COCO_CLASSES.dog);
  assert.ok(Math.abs(b!.score - 0.72) < 1e-6);
  assert.deepEqual(
    [b!.x, b!.y, b!.width, b!.height].map((v) => +v.toFixed(3)),
    [(164 - 16) * 2, (84 - 8) * 2, 64, 32],
  );
});

let accurate: DogApp;
let fast: DogApp;
before(async () => {
  [accurate, fast] = await Promise.all([createDogApp({ quality: 'accurate' }), createDogApp({ quality: 'fast' })]);
});
after(() => {
  accurate.dispose();
  fast.dispose();
});

test('real photos: YOLOX finds the dog and the person', async () => {
  const yolox = await YoloxDetector.create();
  try {
    const boxes = await yolox.detect(await loadImage(manWithSamoyed));
    assert.ok(
      boxes.some((b) => b.classId === COCO_CLASSES.dog && b.score > 0.5),
      JSON.stringify(boxes),
    );
    assert.ok(
      boxes.some((b) => b.classId === COCO_CLASSES.person && b.score > 0.5),
      JSON.stringify(boxes),
    );
  } finally {
    yolox.dispose();
  }
});

test('real photos: a false face on a dog is no longer a person; a person holding a dog is still "both"', async () => {
  for (const app of [accurate, fast]) {
    const dogs = await app.classify(ridgebacksInSnow);
    assert.equal(dogs.kind, 'dog', `${app.options.quality}: ${dogs.message} faces ${JSON.stringify(dogs.faces)}`);
    const both = await app.classify(manWithSamoyed);
    assert.equal(both.kind, 'both', `${app.options.quality}: ${both.message}`);
    assert.equal(both.breeds[0]!.name, 'Samoyed');
  }
});

test('real photos: the accurate preset combines views where the centre view is unsure', async () => {
  assert.equal(accurate.backbone.name, 'mobilenet_edgetpu_224_1.0', 'the photo was picked for this backbone');
  const a = await accurate.classify(beagleUnsure);
  const f = await fast.classify(beagleUnsure);
  assert.equal(a.kind, 'dog');
  assert.equal(a.breeds[0]!.name, 'beagle', JSON.stringify(a.breeds.slice(0, 3)));
  assert.notEqual(f.breeds[0]!.name, 'beagle', `the centre view alone gets this one wrong: ${JSON.stringify(f.breeds.slice(0, 3))}`);
  assert.ok((a.timings.objectsMs ?? 0) > 0, 'YOLOX ran for the dog view');
  assert.ok(Math.abs(a.breeds.reduce((s, b) => s + b.probability, 0) - 1) < 0.5);
});

test("the face search checks a face whose crop is the whole photo on the photo's own pass: the same verdict, one pass fewer", async () => {
  const backbone = await loadBackbone(undefined, { batchSize: 2 });
  const yunet = await YunetFaceDetector.create();
  let embedded = 0;
  const host: DogPipelineHost = {
    backbone: {
      fit: (im) => resizeFor(im, backbone.spec.preprocessing),
      run: (views) => {
        embedded += views.length;
        return backbone.run(views);
      },
    },
    detectFaces: (im) => yunet.detect(im),
    crop: cropRegion,
    breeds: { classes: [], predict: () => Promise.resolve([]) },
  };
  try {
    // An LFW portrait: the face with its context is the whole 90×90 photo.
    const portrait = await loadImage(sampleClassFolders(path.join(data, 'lfw'), 1)[3]!.file);
    const photo = embedWith(host.backbone, [portrait], true);
    const reused = await searchFaces(host, portrait, dogPlan('standard', backbone.name), firstOf(photo));
    assert.equal(reused.faces.length, 1);
    assert.equal(embedded, 2, "the photo and its mirror image only: the face's check read the photo's outputs");
    assert.equal(reused.outputs[0], (await photo)[0], "the photo's own outputs");
    embedded = 0;
    const cropped = await searchFaces(host, portrait, dogPlan('standard', backbone.name));
    assert.equal(embedded, 2, 'without the photo’s outputs the crop is embedded');
    assert.deepEqual(cropped.vetoed, reused.vetoed);
    const d = Math.max(...cropped.outputs[0]!.probabilities.map((p, i) => Math.abs(p - reused.outputs[0]!.probabilities[i]!)));
    assert.ok(d < 1e-5, `the crop is the photo's pixels, so its outputs are the photo's: max |Δp| ${d}`);
    // A face in a larger scene: its crop is a part of the photo and is embedded as before.
    const scene = await loadImage(manWithSamoyed);
    embedded = 0;
    const found = await searchFaces(host, scene, dogPlan('standard', backbone.name), firstOf(embedWith(host.backbone, [scene], true)));
    assert.ok(found.faces.length > 0);
    assert.equal(embedded, 2 + 2 * found.faces.length, 'the photo, then each face crop, each with its mirror image');
  } finally {
    backbone.dispose();
    yunet.dispose();
  }
});

test('a backbone that fails mid-photo fails that photo, whatever the faces, and leaves no unhandled rejection behind', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const image = { data: new Uint8Array(100 * 80 * 3), width: 100, height: 80 };
    for (const face of [
      { x: 10, y: 10, width: 20, height: 20, score: 0.9 }, // a small face: its crop is embedded, the photo's outputs never asked for
      { x: 5, y: 5, width: 90, height: 70, score: 0.9 }, // a portrait: the face check waits for the photo's outputs
    ]) {
      const host: DogPipelineHost = {
        backbone: { fit: (im) => Promise.resolve(im), run: () => Promise.reject(new Error('the model was disposed')) },
        detectFaces: () => Promise.resolve([face]),
        crop: (im, r) => Promise.resolve(cropPixels(im, r)),
        breeds: { classes: [], predict: () => Promise.resolve([]) },
      };
      await assert.rejects(runDogPipeline(host, image, dogPlan('standard', 'mobilenet_v1_0.75_224')), /the model was disposed/);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled, [], 'every failure reached the caller');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
