import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadImage } from '../src/data/image.js';
import { centralCrop, modelCrop } from '../src/data/pixels.js';
import { resizeFor } from '../src/data/preprocess.js';
import { loadBackbone } from '../src/models/backbone.js';
import { IMAGENET_DOG_RANGE } from '../src/models/imagenet-dogs.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { registryEntry } from '../src/models/registry.js';
import { ModelStore } from '../src/models/store.js';
import { importTflite, loadImportedModels } from '../src/models/tflite/import.js';
import { sharedDataDir, sharedDir } from './shared.js';

/** The 500 Imagewoof photos ImageNet's networks never saw (ILSVRC2012_val_*), with their ImageNet class. */
function unseenImagewoof(): { file: string; imagenet: number }[] {
  const root = path.join(sharedDataDir(), 'imagewoof');
  const classes = readFileSync(path.join(root, 'classes.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t'));
  const out: { file: string; imagenet: number }[] = [];
  for (const [wnid, , index] of classes)
    for (const split of ['train', 'val']) {
      const dir = path.join(root, split, wnid!);
      for (const f of readdirSync(dir).sort()) if (f.startsWith('ILSVRC2012_val_')) out.push({ file: path.join(dir, f), imagenet: Number(index) });
    }
  return out;
}

const argmax = (p: Float32Array, from = 0, to = p.length - 1) => {
  let best = from;
  for (let i = from; i <= to; i++) if (p[i]! > p[best]!) best = i;
  return best;
};

// The shipped TFLite classifiers, converted to ONNX with their 8 bits kept and run by the engine as
// backbones: the labels line up (1000-way top-1 on all 500 unseen photos) and the breed accuracy is
// the one measured with these files (argmax among the 118 dog classes, dingo left out, one centre view:
// EdgeTPU 75.1%, MobileNetV2 68.7%; 1000-way ≈ 73–75% and ≈ 67%).
for (const [name, breeds, imagenet] of [
  ['mobilenet_edgetpu_224_1.0', 0.751, 0.74],
  ['mobilenet_v2_1.0_224_quant', 0.687, 0.67],
] as const) {
  test(`${name}: the converted TFLite backbone classifies the unseen Imagewoof photos`, async () => {
    sharedDir();
    const photos = unseenImagewoof();
    assert.equal(photos.length, 500);
    const backbone = await loadBackbone(name);
    let top1 = 0;
    let dogTop1 = 0;
    let dogs = 0;
    try {
      assert.equal(backbone.spec.featureDim, 1280);
      for (let i = 0; i < photos.length; i += 10) {
        const chunk = photos.slice(i, i + 10);
        const outs = await backbone.run(await Promise.all(chunk.map((p) => loadImage(p.file))));
        outs.forEach((o, j) => {
          const want = chunk[j]!.imagenet;
          assert.equal(o.probabilities.length, 1000);
          assert.equal(o.features.length, 1280);
          if (argmax(o.probabilities) === want) top1++;
          if (want > IMAGENET_DOG_RANGE.last) return; // dingo: outside the breed range
          dogs++;
          if (argmax(o.probabilities, IMAGENET_DOG_RANGE.first, IMAGENET_DOG_RANGE.last) === want) dogTop1++;
        });
      }
    } finally {
      backbone.dispose();
    }
    assert.equal(dogs, 450);
    const [acc, dogAcc] = [top1 / photos.length, dogTop1 / dogs];
    process.stdout.write(`# ${name}: 1000-way top-1 ${(100 * acc).toFixed(1)}% on 500, breed top-1 ${(100 * dogAcc).toFixed(1)}% on 450\n`);
    assert.ok(Math.abs(dogAcc - breeds) <= 0.015, `breed top-1 ${dogAcc} (expected ≈ ${breeds})`);
    assert.ok(Math.abs(acc - imagenet) <= 0.02, `1000-way top-1 ${acc} (expected ≈ ${imagenet})`);
  });
}

test('the TFLite backbones are registry entries resolved from the model directory, with their preprocessing', () => {
  const e = registryEntry('mobilenet_edgetpu_224_1.0');
  assert.equal(e.format, 'tflite');
  assert.equal(e.files[0]!.sha256, '5d63cb8ebd518217794221bbcb929ebb89c5ec37d736429a95650e88f9e904fa');
  assert.deepEqual(e.backbone!.preprocessing.mean, [128, 128, 128]);
  assert.equal(e.backbone!.preprocessing.resize, 'center-crop');
  assert.equal(registryEntry('mobilenet_v2_1.0_224_quant').backbone!.classOffset, 1);
});

test('imgclass import: a TFLite file becomes a named backbone (tensors found in the graph), kept across runs', async () => {
  sharedDir();
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-import-'));
  try {
    const store = new ModelStore({ cacheDir, modelDir: path.join(cacheDir, 'none') });
    const file = path.join(sharedDir(), 'models', 'mobilenet_v2_1.0_224_quant', 'mobilenet_v2_1.0_224_quant.tflite');
    const labels = path.join(sharedDir(), 'models', 'imagenet', 'labels_1001.txt');
    const entry = await importTflite(file, store, { name: 'my_v2', labels, classOffset: 1 });
    const shipped = registryEntry('mobilenet_v2_1.0_224_quant').backbone!;
    // the same tensors and preprocessing as the hand-written registry entry, found by reading the graph
    assert.equal(entry.backbone!.probabilitiesOutput, shipped.probabilitiesOutput);
    assert.equal(entry.backbone!.featuresOutput, shipped.featuresOutput);
    assert.equal(entry.backbone!.featureDim, 1280);
    assert.deepEqual(entry.backbone!.preprocessing.mean, shipped.preprocessing.mean);
    assert.equal(registryEntry('my_v2'), entry);
    const again = await loadImportedModels(store);
    assert.deepEqual(
      again.map((e) => e.name),
      ['my_v2'],
    );
    const photo = await loadImage(unseenImagewoof()[0]!.file);
    const [mine, theirs] = [await loadBackbone('my_v2', { store }), await loadBackbone('mobilenet_v2_1.0_224_quant')];
    try {
      const [a] = await mine.run([photo]);
      const [b] = await theirs.run([photo]);
      assert.equal(argmax(a!.probabilities), argmax(b!.probabilities));
      a!.probabilities.forEach((p, i) => assert.ok(Math.abs(p - b!.probabilities[i]!) < 1e-6));
    } finally {
      mine.dispose();
      theirs.dispose();
    }
    await assert.rejects(importTflite(labels, store), /not a readable TFLite model/);
    await assert.rejects(importTflite(file, store, { labels: file }), /labels; the model has 1001 outputs/);
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
});

test('Preprocessing.crop: the central fraction of each side, before the resize (one helper for both hosts)', async () => {
  assert.deepEqual(centralCrop({ width: 320, height: 224 }, 0.875), { x: 20, y: 14, width: 280, height: 196 });
  const img = { data: Uint8Array.from({ length: 8 * 4 * 3 }, (_, i) => i % 256), width: 8, height: 4 };
  const cropped = modelCrop(img, { crop: 0.5 });
  assert.deepEqual([cropped.width, cropped.height], [4, 2]);
  assert.deepEqual(Array.from(cropped.data.subarray(0, 3)), Array.from(img.data.subarray((1 * 8 + 2) * 3, (1 * 8 + 2) * 3 + 3)));
  assert.equal(modelCrop(img, {}), img);
  const p = { ...registryEntry('mobilenet_edgetpu_224_1.0').backbone!.preprocessing, crop: 0.5 };
  const fitted = await resizeFor({ data: new Uint8Array(320 * 224 * 3).fill(9), width: 320, height: 224 }, p);
  assert.deepEqual([fitted.width, fitted.height], [224, 224]);
  assert.throws(() => centralCrop(img, 0), /fraction/);
});
