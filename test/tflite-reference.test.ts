import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { imagewoofUnseen } from '../support/imagewoof-unseen.js';
import { readStoredShapes, readTfliteIo, withoutActivationShapes, withStaticShapes } from '../support/tflite-file.js';
import { inceptionFitFile } from '../support/inception-fit.js';
import { imagenetArgmax, openTfliteReference, shippedTfliteClassifiers } from '../support/tflite-reference.js';

// LiteRT.js, the TFLite runtime the project's own TFLite → ONNX conversion is checked against,
// runs the two shipped classifiers in Node, and its outputs mean what the labels say.
// bench/tflite-reference.ts scores all 500 unseen photos; here every 10th (50), which is enough to
// tell a working reference from a broken one: the standard error of a 50-photo top-1 is about 6.5 points.
const SAMPLE = imagewoofUnseen().filter((_, i) => i % 10 === 0);

test('the unseen Imagewoof photos: 500 ImageNet validation photos of 10 classes', () => {
  const all = imagewoofUnseen();
  assert.equal(all.length, 500);
  assert.equal(new Set(all.map((p) => p.imagenetIndex)).size, 10);
  assert.ok(all.every((p) => /ILSVRC2012_val_/.test(p.file)));
  assert.equal(SAMPLE.length, 50);
});

for (const model of shippedTfliteClassifiers()) {
  test(`LiteRT runs ${model.name}: 1001 dequantised probabilities, labels offset by the background`, async () => {
    const ref = await openTfliteReference(model.file);
    try {
      assert.deepEqual(ref.input.shape, [1, 224, 224, 3]);
      assert.equal(ref.input.dtype, 'uint8');
      let right = 0;
      let shifted = 0;
      for (const photo of SAMPLE) {
        const probs = await ref.run(await inceptionFitFile(photo.file));
        assert.equal(probs.length, 1001);
        // a uint8 softmax, dequantised with its scale 1/256: steps of 1/256 in [0, 1); the many
        // classes below a step read 0, so the sum falls short of 1 when the answer is unsure (0.6–1 seen)
        assert.ok(
          probs.every((p) => p >= 0 && p < 1 && Number.isInteger(p * 256)),
          'not a dequantised uint8 softmax',
        );
        const sum = probs.reduce((a, b) => a + b, 0);
        assert.ok(sum > 0.3 && sum < 1.05, `probabilities sum to ${sum}`);
        if (imagenetArgmax(probs) === photo.imagenetIndex) right++;
        // reading output i as class i (no background) would name the class before the true one
        if (imagenetArgmax(probs) === photo.imagenetIndex + 1) shifted++;
      }
      const top1 = right / SAMPLE.length;
      // full 500: 73% EdgeTPU, 67% MobileNetV2 (docs/tflite-reference.md); 50 photos: ± 2 standard errors
      assert.ok(top1 >= model.publishedTop1 - 0.2, `${model.name}: 1000-way top-1 ${top1} on ${SAMPLE.length} unseen photos`);
      assert.ok(shifted <= 2, `${shifted} answers one class off`);
      await assert.rejects(ref.run(new Uint8Array(10)), /takes 150528 uint8 values/);
    } finally {
      ref.close();
    }
    await assert.rejects(ref.run(new Uint8Array(150528)), /closed/);
  });
}

// The XNNPack path needs every activation shape in the file; MobileNet-EdgeTPU's stores almost none,
// so the reference infers them. MobileNetV2's stores them all: emptied and inferred again, they must
// come back exactly.
test('shape inference gives back the shapes a file stores', async () => {
  const [edgetpu, v2] = shippedTfliteClassifiers();
  const original = new Uint8Array(await readFile(v2!.file));
  const stripped = withoutActivationShapes(original);
  const { repaired } = withStaticShapes(stripped, 'all');
  assert.ok(repaired.length > 60, `${repaired.length} shapes inferred`);
  const again = withStaticShapes(original, 'all');
  assert.equal(again.repaired.length, 0, 'a file with every shape stored is left alone');
  assert.equal(again.bytes, original);
  const stored = readStoredShapes(original);
  for (const r of repaired) assert.deepEqual(r.shape, stored.get(r.name), r.name);
  assert.ok([...readStoredShapes(stripped).values()].filter((sh) => sh.length === 0).length >= repaired.length);
  // EdgeTPU: the output [1, 1001] among the inferred ones
  const e = withStaticShapes(new Uint8Array(await readFile(edgetpu!.file)), 'all');
  assert.deepEqual(e.repaired.find((r) => r.name === readTfliteIo(e.bytes).outputs[0]!.name)?.shape, [1, 1001]);
  assert.deepEqual(readTfliteIo(e.bytes).outputs[0]!.shape, [1, 1001]);
});

test('a file that is not TFLite is refused with a clear error', async () => {
  await assert.rejects(openTfliteReference(new URL(import.meta.url).pathname), /not a TFLite file/);
});
