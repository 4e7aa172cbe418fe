import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadImage, type RgbImage } from '../src/data/image.js';
import { decodeYunet, YUNET_DEFAULTS, YUNET_FEEDS, YUNET_SIZE, yunetFeeds } from '../src/detectors/face/yunet-decode.js';
import { yunetWithPreprocessing } from '../src/detectors/face/yunet-graph.js';
import { YunetFaceDetector } from '../src/detectors/face/yunet.js';
import { onnx, readModel, writeModel } from '../src/models/onnx/graph.js';
import { getDefaultStore } from '../src/models/store.js';
import { createSession, ort, type OrtSession } from '../src/runtime/ort.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// YuNet letterboxes inside its own graph (yunet-graph.ts). Checked here against a letterbox written
// out in plain arithmetic: planar BGR, linear resampling with pixel centres at half-pixel offsets
// (a triangle filter stretched over the shrink factor when shrinking, as PIL and libvips do), black
// padding at the bottom and right; then the original YuNet file on that input must find the same faces
// as the detector, which has sharp shrink a photo larger than its letterbox before the graph.
const data = sharedDataDir();
const photos = [
  ...sampleClassFolders(path.join(data, 'lfw'), 1).slice(0, 3), // 90² → 320² (enlarged)
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 1).slice(0, 3), // ~298×224 → 320×~241
  ...sampleClassFolders(path.join(data, 'vehicles'), 1), // up to 640 px → shrunk
].map((s) => s.file);

/** One axis of the reference: each output sample's source indices and weights. */
function axisWeights(inSize: number, outSize: number): { start: number; weights: number[] }[] {
  const scale = inSize / outSize;
  const support = Math.max(1, scale); // the triangle's half-width, in input pixels
  return Array.from({ length: outSize }, (_, o) => {
    const centre = (o + 0.5) * scale; // in input coordinates, pixel i covering [i, i + 1)
    const start = Math.max(0, Math.floor(centre - support));
    const end = Math.min(inSize, Math.ceil(centre + support));
    const raw: number[] = [];
    for (let i = start; i < end; i++) raw.push(Math.max(0, 1 - Math.abs(i + 0.5 - centre) / support));
    const sum = raw.reduce((a, b) => a + b, 0);
    return { start, weights: raw.map((w) => w / sum) };
  });
}

function referenceInput(image: RgbImage, width: number, height: number): Float32Array {
  const xs = axisWeights(image.width, width);
  const ys = axisWeights(image.height, height);
  const plane = YUNET_SIZE * YUNET_SIZE;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let v = 0;
        ys[y]!.weights.forEach((wy, j) =>
          xs[x]!.weights.forEach((wx, i) => (v += wy * wx * image.data[((ys[y]!.start + j) * image.width + xs[x]!.start + i) * 3 + c]!)),
        );
        out[(2 - c) * plane + y * YUNET_SIZE + x] = v; // BGR planes
      }
  return out;
}

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
      const reference = referenceInput(image, width, height);
      const got = outputs[yunetInputName]!;
      assert.equal(got.length, reference.length);
      let sum = 0;
      let off = 0; // samples more than half a grey level apart
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i]! - reference[i]!);
        sum += d;
        if (d > 0.5) off++;
      }
      const where = `${path.basename(file)} (${image.width}×${image.height} → ${width}×${height})`;
      assert.ok(sum / got.length < 0.01, `${where}: mean |Δ| ${sum / got.length}`);
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
