import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadImage } from '../src/data/image.js';
import { resizeExactly } from '../src/data/transform.js';
import { decodeYunet, YUNET_DEFAULTS, YUNET_SIZE, yunetFeeds } from '../src/detectors/face/yunet-decode.js';
import { yunetWithPreprocessing } from '../src/detectors/face/yunet-graph.js';
import { YunetFaceDetector } from '../src/detectors/face/yunet.js';
import { getDefaultStore } from '../src/models/store.js';
import { ort } from '../src/runtime/ort-binding.js';
import { checkGraphLetterbox, letterboxSessions, runFloats } from './letterbox-reference.js';
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

test("YuNet's in-graph letterbox is linear resampling at half-pixel centres, BGR, padded black; the original YuNet on it finds the same faces", async () => {
  const original = await readFile(await getDefaultStore().resolve('yunet_n'));
  const { inputName: yunetInputName, probe, plain } = await letterboxSessions(original, yunetWithPreprocessing);
  const detector = await YunetFaceDetector.create();
  let faces = 0;
  let shrunk = 0;
  try {
    for (const file of photos) {
      const image = await loadImage(file);
      // as the detector below feeds it: a photo larger than the letterbox shrunk by the host first
      const x = await yunetFeeds(image, resizeExactly);
      const { reference, width, where } = await checkGraphLetterbox({ probe, inputName: yunetInputName }, image, x, path.basename(file), YUNET_SIZE, 0);
      if (width < image.width) shrunk++;

      const mine = await detector.detect(image);
      const theirs = decodeYunet(
        await runFloats(plain, { [yunetInputName]: new ort.Tensor('float32', reference, [1, 3, YUNET_SIZE, YUNET_SIZE]) }),
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
