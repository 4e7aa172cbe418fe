import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadImage } from '../src/data/image.js';
import { decodeYunet, YUNET_DEFAULTS, YUNET_FEEDS, YUNET_SIZE, yunetFeeds } from '../src/detectors/face/yunet-decode.js';
import { yunetWithPreprocessing } from '../src/detectors/face/yunet-graph.js';
import { YunetFaceDetector } from '../src/detectors/face/yunet.js';
import { onnx, readModel, writeModel } from '../src/models/onnx/graph.js';
import { getDefaultStore } from '../src/models/store.js';
import { createSession, ort, type OrtSession } from '../src/runtime/ort.js';
import { letterboxDistance, referenceLetterbox } from './letterbox-reference.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// YuNet letterboxes inside its own graph (yunet-graph.ts). Checked here against a letterbox written
// out in plain arithmetic (letterbox-reference.ts), padded black at the bottom and right; then the
// original YuNet file on that input must find the same faces as the detector, which has sharp
// shrink a photo larger than its letterbox before the graph (letterbox.ts).
const data = sharedDataDir();
const photos = [
  ...sampleClassFolders(path.join(data, 'lfw'), 1).slice(0, 3), // 90² → 320² (enlarged)
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 1).slice(0, 3), // ~298×224 → 320×~241
  ...sampleClassFolders(path.join(data, 'vehicles'), 1), // up to 640 px → shrunk
].map((s) => s.file);

async function runYunet(session: OrtSession, feeds: Record<string, ort.Tensor>) {
  const out = await session.run(feeds);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

test("YuNet's in-graph letterbox is linear resampling at half-pixel centres, BGR, padded black; the original YuNet on it finds the same faces", async () => {
  const original = await readFile(await getDefaultStore().resolve('yunet_n'));
  // the wrapped graph, with the letterboxed tensor (the original YuNet's input) exposed as an output too
  const wrapped = readModel(yunetWithPreprocessing(original));
  const yunetInputName = readModel(original).graph!.input![0]!.name!;
  wrapped.graph!.output!.push(onnx.ValueInfoProto.create({ name: yunetInputName, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }));
  const probe = await createSession(writeModel(wrapped), { inline: true, threads: 1 });
  const plain = await createSession(original, { inline: true, threads: 1 });
  const detector = await YunetFaceDetector.create();
  let faces = 0;
  let shrunk = 0;
  try {
    for (const file of photos) {
      const image = await loadImage(file);
      // the graph's own Resize, shrinking included (the detector below lets the host shrink first)
      const x = await yunetFeeds(image, async (im) => im);
      const outputs = await runYunet(probe, {
        [YUNET_FEEDS.pixels]: new ort.Tensor('uint8', x.pixels, x.dims),
        [YUNET_FEEDS.size]: new ort.Tensor('int64', x.size, [4]),
        [YUNET_FEEDS.pads]: new ort.Tensor('int64', x.pads, [8]),
      });
      const [height, width] = [Number(x.size[2]), Number(x.size[3])];
      if (width < image.width) shrunk++;
      const reference = referenceLetterbox(image, width, height, YUNET_SIZE, 0);
      const got = outputs[yunetInputName]!;
      const { mean, off } = letterboxDistance(got, reference);
      const where = `${path.basename(file)} (${image.width}×${image.height} → ${width}×${height})`;
      assert.ok(mean < 0.01, `${where}: mean |Δ| ${mean}`);
      // Enlarged: every sample within half a grey level. Shrunk by a factor that is not a whole
      // number (427 → 214), ORT's antialiasing window differs from this reference by a few grey
      // levels on under 0.2% of the samples (measured: at most 546 of 307,200).
      if (width >= image.width) assert.equal(off, 0, `${where}: ${off} samples apart`);
      else assert.ok(off < 0.005 * got.length, `${where}: ${off} samples apart`);

      const mine = await detector.detect(image);
      const theirs = decodeYunet(
        await runYunet(plain, { [yunetInputName]: new ort.Tensor('float32', reference, [1, 3, YUNET_SIZE, YUNET_SIZE]) }),
        x.scale,
        image,
        YUNET_DEFAULTS,
      );
      assert.equal(mine.length, theirs.length, `${where}: faces`);
      mine.forEach((f, i) => {
        const g = theirs[i]!;
        assert.ok(Math.abs(f.x - g.x) < 1 && Math.abs(f.y - g.y) < 1 && Math.abs(f.width - g.width) < 1, `${where}: face ${i} box`);
        assert.ok(Math.abs(f.score - g.score) < 0.01, `${where}: face ${i} score`);
      });
      faces += mine.length;
    }
  } finally {
    await probe.release();
    await plain.release();
    detector.dispose();
  }
  assert.ok(faces >= 3, `the LFW photos have faces (found ${faces})`);
  assert.ok(shrunk >= 1, 'at least one photo is shrunk, not only enlarged');
});
