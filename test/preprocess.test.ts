import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PREPROCESSING_PRESETS, preprocessBatch, samePreprocessing } from '../src/data/preprocess.js';
import { otsuBinarize, otsuThreshold } from '../src/data/otsu.js';
import type { RgbImage } from '../src/data/image.js';
import { flipHorizontal } from '../src/data/pixels.js';

const solid = (r: number, g: number, b: number, w = 4, h = 4): RgbImage => {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set([r, g, b], i * 3);
  return { data, width: w, height: h };
};

test('MobileNet preprocessing maps 0 → −1 and 255 → 1, RGB order, NHWC', async () => {
  const p = { ...PREPROCESSING_PRESETS.tf(4) };
  const { data: x, shape } = await preprocessBatch([solid(0, 255, 51)], p);
  assert.deepEqual(shape, [1, 4, 4, 3]);
  assert.equal(x.length, 4 * 4 * 3);
  assert.deepEqual(
    [...x.subarray(0, 3)].map((v) => +v.toFixed(3)),
    [-1, 1, -0.6],
  );
});

test('caffe preprocessing is BGR minus the ImageNet mean; torch is NCHW with mean/std', async () => {
  const { data: caffe } = await preprocessBatch([solid(10, 20, 30)], PREPROCESSING_PRESETS.caffe(4));
  assert.deepEqual(
    [...caffe.subarray(0, 3)].map((v) => +v.toFixed(3)),
    [30 - 103.939, 20 - 116.779, 10 - 123.68].map((v) => +v.toFixed(3)),
  );
  const { data: torch, shape } = await preprocessBatch([solid(255, 0, 0)], PREPROCESSING_PRESETS.torch(4));
  assert.deepEqual(shape, [1, 3, 4, 4]);
  assert.ok(Math.abs(torch[0]! - (1 - 0.485) / 0.229) < 1e-5); // R plane first
  assert.ok(Math.abs(torch[16]! - (0 - 0.456) / 0.224) < 1e-5); // then the G plane
});

test('keep-aspect keeps the whole photo: shorter side to the target, longer side capped at 2×', async () => {
  const p = { ...PREPROCESSING_PRESETS.tf(4), resize: 'keep-aspect' as const };
  const wide = await preprocessBatch([solid(255, 255, 255, 12, 8)], p);
  assert.deepEqual(wide.shape, [1, 4, 6, 3]);
  const panorama = await preprocessBatch([solid(255, 255, 255, 40, 4)], p);
  assert.deepEqual(panorama.shape, [1, 4, 8, 3]);
  const tall = await preprocessBatch([solid(0, 0, 0, 8, 10)], p);
  assert.deepEqual(tall.shape, [1, 5, 4, 3]);
  await assert.rejects(preprocessBatch([solid(0, 0, 0, 8, 10), solid(0, 0, 0, 12, 8)], p), /different shapes/);
});

test('samePreprocessing tells presets apart', () => {
  assert.ok(samePreprocessing(PREPROCESSING_PRESETS.tf(224), PREPROCESSING_PRESETS.tf(224)));
  assert.ok(!samePreprocessing(PREPROCESSING_PRESETS.tf(224), PREPROCESSING_PRESETS.caffe(224)));
  assert.ok(!samePreprocessing(PREPROCESSING_PRESETS.tf(224), PREPROCESSING_PRESETS.tf(299)));
});

test('Otsu splits a bimodal histogram between its modes (hand-computed)', () => {
  // 50 pixels at 20, 50 at 200: any t in [20, 199] separates perfectly; Otsu's first maximum is 20.
  const grey = new Uint8Array(100);
  grey.fill(20, 0, 50);
  grey.fill(200, 50);
  assert.equal(otsuThreshold(grey), 20);
  const { binary } = otsuBinarize(grey);
  assert.equal(
    binary.slice(0, 50).reduce((a, b) => a + b, 0),
    0,
  );
  assert.equal(
    binary.slice(50).reduce((a, b) => a + b, 0),
    50,
  );
  // Three levels 0, 100, 255 in equal parts: between-class variance is largest splitting at 100 | 255? compute both:
  // t=0:  wB=1/3 mB=0,   wF=2/3 mF=177.5 → σ² = (1/3)(2/3)(177.5)² = 7001.4
  // t=100: wB=2/3 mB=50, wF=1/3 mF=255  → σ² = (2/9)(205)²      = 9338.9  → Otsu picks 100
  const three = new Uint8Array(300);
  three.fill(0, 0, 100);
  three.fill(100, 100, 200);
  three.fill(255, 200);
  assert.equal(otsuThreshold(three), 100);
});

test('Otsu preprocessing yields only 0 and 1 values in one channel', async () => {
  const img = solid(0, 0, 0, 8, 8);
  for (let i = 0; i < 32; i++) img.data.set([250, 250, 250], i * 3);
  const { data: x } = await preprocessBatch([img], PREPROCESSING_PRESETS.otsu(8));
  assert.equal(x.length, 64);
  assert.deepEqual([...new Set(x)].sort(), [0, 1]);
});

test('flipHorizontal mirrors each row pixel by pixel, by words or by bytes, a view into a larger buffer too', () => {
  // pixel (x, y) read at (width − 1 − x, y), channels kept in order: the definition, checked against the fast paths
  const mirrored = (im: RgbImage) => {
    const out = new Uint8Array(im.data.length);
    for (let y = 0; y < im.height; y++)
      for (let x = 0; x < im.width; x++) for (let c = 0; c < 3; c++) out[(y * im.width + im.width - 1 - x) * 3 + c] = im.data[(y * im.width + x) * 3 + c]!;
    return out;
  };
  let seed = 7;
  const noise = (n: number) => Uint8Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 255);
  // widths divisible by 4 (the word path) and not; a view at offset 4 (aligned) and at offset 3 (not)
  for (const [width, height, offset] of [
    [224, 224, 0],
    [8, 3, 4],
    [4, 1, 0],
    [5, 4, 0],
    [1, 1, 0],
    [12, 5, 3],
    [223, 2, 0],
  ] as const) {
    const backing = noise(offset + width * height * 3 + 5);
    const im: RgbImage = { data: backing.subarray(offset, offset + width * height * 3), width, height };
    const flipped = flipHorizontal(im);
    assert.deepEqual(flipped.data, mirrored(im), `${width}×${height} at offset ${offset}`);
    assert.deepEqual(flipHorizontal(flipped).data, im.data, 'twice is the original');
  }
});
