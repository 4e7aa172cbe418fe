import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { createDogApp } from '../src/app/dog-app.js';
import { loadImage } from '../src/data/image.js';
import { headInput } from '../src/models/probabilities.js';
import { buildDeviceAssets } from '../src/server/device-assets.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// `serve --model DIR`: device mode gets the trained head as its own ONNX graph, which must give the
// head's own probabilities on the backbone's outputs.
const data = sharedDataDir();

test('a trained head is served to device mode as an ONNX graph that gives the same probabilities', async () => {
  const app = await createDogApp({ modelDir: path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head') });
  try {
    const { manifest, files } = await buildDeviceAssets(app);
    assert.equal(manifest.available, true);
    assert.equal(manifest.head.kind, 'onnx');
    assert.equal(manifest.classes.length, app.classifier.classes.length);
    const head = files.get(manifest.models.head!.url)!;
    for (const url of [manifest.bundle, manifest.models.backbone.url, manifest.models.faces.url, manifest.ort.wasm.url]) assert.ok(files.has(url), url);
    const session = await ort.InferenceSession.create(head.bytes);
    const photos = sampleClassFolders(path.join(data, 'imagewoof/val'), 1).slice(0, 3);
    for (const p of photos) {
      const [out] = await app.unit.embed([await loadImage(p.file)]);
      const [want] = await app.unit.headProbabilities([out!]);
      const x = headInput({ input: manifest.head.kind === 'onnx' ? manifest.head.input : 'features' }, out!);
      const res = await session.run({ input: new ort.Tensor('float32', x, [1, x.length]) });
      const got = res.probabilities!.data as Float32Array;
      for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want![i]!) < 1e-5, `${p.file} class ${i}: ${got[i]} vs ${want![i]}`);
    }
  } finally {
    app.dispose();
  }
});
