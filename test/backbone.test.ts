import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadImage } from '../src/data/image.js';
import { resize } from '../src/data/transform.js';
import { loadBackbone, type Backbone } from '../src/models/backbone.js';
import { preprocessingFor } from '../src/training/pipeline.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// keep-aspect feeds MobileNet whole photos of any shape. The rewrite of the model's input size must
// not change the network: on a square 224×224 photo both modes are the same computation.
test('keep-aspect MobileNet equals centre-crop on square photos and keeps the whole of wide ones', async () => {
  const vehicles = sampleClassFolders(path.join(sharedDataDir(), 'vehicles'), 1);
  const photo = await loadImage(vehicles[0]!.file);
  assert.notEqual(photo.width, photo.height, 'the sample must not be square');
  const square = await resize(photo, 224, 224, 'squash');
  const [crop, whole] = await Promise.all([loadBackbone(), loadBackbone('mobilenet_v1_0.75_224', { resize: 'keep-aspect' })]);
  try {
    assert.equal(whole.spec.preprocessing.resize, 'keep-aspect');
    const [a] = await crop.run([square]);
    const [b] = await whole.run([square]);
    a!.features.forEach((v, i) => assert.ok(Math.abs(v - b!.features[i]!) < 1e-4, `feature ${i}: ${v} vs ${b!.features[i]}`));
    // A wide photo: different pixels reach the network, and the outputs are still a distribution.
    const [c] = await crop.run([photo]);
    const [w] = await whole.run([photo]);
    assert.ok(w!.features.some((v, i) => Math.abs(v - c!.features[i]!) > 1e-3));
    assert.ok(Math.abs(w!.probabilities.reduce((x, y) => x + y, 0) - 1) < 1e-3);
    // Photos of different shapes run together (one pass each).
    assert.equal((await whole.run([photo, square])).length, 2);
  } finally {
    crop.dispose();
    whole.dispose();
  }
  await assert.rejects(loadBackbone('resnet50', { resize: 'keep-aspect' }), /accepts resize center-crop \| squash/);
  // pixel CNNs train on fixed-size tensors: keep-aspect is refused, the fixed modes are honoured
  assert.throws(() => preprocessingFor({ arch: 'scratch', backbone: 'mobilenet_v1_0.75_224', resize: 'keep-aspect' }), /feature models/);
  assert.equal(preprocessingFor({ arch: 'otsu', backbone: 'mobilenet_v1_0.75_224', resize: 'center-crop' }).resize, 'center-crop');
  assert.equal(preprocessingFor({ arch: 'head', backbone: 'mobilenet_v1_0.75_224', resize: 'keep-aspect' }).resize, 'keep-aspect');
});

// warmUp swaps the one session of two threads for two single-threaded sessions side by side
// (models/backbone.ts): faster on a 2-core machine, and it must not change a single bit of an answer
// (onnxruntime's CPU kernels split work across threads by output, so sums keep their order).
test('a backbone answers the same on one session of two threads and on two single-threaded sessions after warmUp', async () => {
  const files = sampleClassFolders(path.join(sharedDataDir(), 'imagewoof/val'), 1).slice(0, 6);
  const photos = await Promise.all(files.map((f) => loadImage(f.file)));
  for (const name of ['mobilenet_v1_0.75_224', 'mobilenet_edgetpu_224_1.0']) {
    const backbone = (await loadBackbone(name, { threads: 2 })) as Backbone & { sessionCount: number };
    try {
      assert.equal(backbone.sessionCount, 1);
      const before = await backbone.run(photos);
      // passes sent while the sessions change over finish where they went, with the same answers
      const [during] = await Promise.all([backbone.run(photos), backbone.warmUp!()]);
      assert.equal(backbone.sessionCount, 2);
      // several runs at once, as a server's requests: each gets its own views' answers back
      const after = await Promise.all(photos.map((p) => backbone.run([p, p])));
      for (const [i, b] of before.entries()) {
        for (const other of [during![i]!, after[i]![0]!, after[i]![1]!]) {
          const dp = Math.max(...b.probabilities.map((v, k) => Math.abs(v - other.probabilities[k]!)));
          const df = Math.max(...b.features.map((v, k) => Math.abs(v - other.features[k]!)));
          assert.ok(dp === 0 && df === 0, `${name}, ${path.basename(files[i]!.file)}: max |Δp| ${dp}, max |Δfeature| ${df}`);
        }
      }
      await backbone.warmUp!(); // once only
      assert.equal(backbone.sessionCount, 2);
    } finally {
      backbone.dispose();
    }
  }
  // disposed while its sessions are on their way: they are released as they arrive, and warmUp settles
  const gone = (await loadBackbone('mobilenet_v1_0.75_224', { threads: 2 })) as Backbone & { sessionCount: number };
  const spreading = gone.warmUp!();
  gone.dispose();
  await spreading;
  assert.equal(gone.sessionCount, 1, 'a disposed backbone took no new sessions');
  // one core: nothing to spread
  const single = (await loadBackbone('mobilenet_v1_0.75_224', { threads: 1 })) as Backbone & { sessionCount: number };
  await single.warmUp!();
  assert.equal(single.sessionCount, 1);
  single.dispose();
});
