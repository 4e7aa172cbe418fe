import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadImage } from '../src/data/image.js';
import { cropPixels, cropRect, resizedSize } from '../src/data/pixels.js';
import { fitInside, resample, resizeLike } from '../src/data/resample.js';
import { crop, cropRegion, resize } from '../src/data/transform.js';
import { faceCropRect } from '../src/app/dog-pipeline.js';
import { viewRegion } from '../src/app/views.js';
import { bundleDevice } from '../src/server/device-assets.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';
import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from '../src/data/pixels.js';

// The browser's pure resize (device mode) against sharp (the server) on real photos, at the sizes
// the pipeline uses: the backbone's centre crop, YuNet's letterbox, face crops, the decode cap.
const data = sharedDataDir();
const photos = [
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 1).slice(0, 3),
  ...sampleClassFolders(path.join(data, 'lfw'), 1).slice(0, 2),
  ...sampleClassFolders(path.join(data, 'vehicles'), 1).slice(0, 2),
].map((p) => p.file);

function diff(a: RgbImage, b: RgbImage): { mean: number; max: number } {
  assert.deepEqual([b.width, b.height], [a.width, a.height]);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / a.data.length, max };
}

test("the pure resize reproduces sharp's linear resize to within a grey level or two", async () => {
  for (const file of photos) {
    const img = await loadImage(file);
    const lb = Math.min(320 / img.width, 320 / img.height);
    const face = { x: img.width * 0.3, y: img.height * 0.2, width: img.width * 0.35, height: img.height * 0.4 };
    const cases: [string, Promise<RgbImage>, () => RgbImage][] = [
      ['centre crop 224', resize(img, 224, 224, 'center-crop'), () => resizeLike(img, 224, 224, 'center-crop')],
      [
        'letterbox 320',
        resize(img, Math.round(img.width * lb), Math.round(img.height * lb)),
        () => resample(img, Math.round(img.width * lb), Math.round(img.height * lb)),
      ],
      ['keep-aspect 224', resize(img, 224, 224, 'keep-aspect'), () => resizeLike(img, 224, 224, 'keep-aspect')],
      [
        'face crop → 224',
        crop(img, face.x, face.y, face.width, face.height).then((c) => resize(c, 224, 224, 'center-crop')),
        () => resizeLike(cropPixels(img, face), 224, 224, 'center-crop'),
      ],
      [
        'shrink ×5',
        resize(img, Math.round(img.width / 5), Math.round(img.height / 5)),
        () => resample(img, Math.round(img.width / 5), Math.round(img.height / 5)),
      ],
    ];
    for (const [what, server, device] of cases) {
      const d = diff(await server, device());
      assert.ok(d.mean < 0.8 && d.max <= 3, `${path.basename(file)} ${img.width}×${img.height}, ${what}: mean ${d.mean.toFixed(3)}, max ${d.max}`);
    }
  }
});

test("the decode cap (longer side ≤ 1024, lanczos3) matches sharp's", async () => {
  const img = await loadImage(photos[5]!);
  const big = await resize(img, 1600, 1200); // a large photo to bring down again
  const { data: s, info } = await sharp(big.data, { raw: { width: big.width, height: big.height, channels: 3 } })
    .resize({ width: 1024, height: 1024, fit: 'inside', withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const d = diff({ data: new Uint8Array(s), width: info.width, height: info.height }, fitInside(big, 1024));
  assert.ok(d.mean < 1.5, `mean ${d.mean.toFixed(3)}, max ${d.max}`);
});

/** sharp on raw RGB pixels: what the server used before the pure steps (and still uses to scale). */
async function viaSharp(img: RgbImage, step: (s: Sharp) => Sharp): Promise<RgbImage> {
  const { data, info } = await step(sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }))
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

test("sharp's extract and the pure cropPixels (the server's cropRegion) cut the same pixels (face crops, views), fractional and overhanging rectangles alike", async () => {
  let compared = 0;
  for (const file of photos) {
    const img = await loadImage(file);
    const { width: w, height: h } = img;
    const rects = [
      faceCropRect({ x: w * 0.31, y: h * 0.22, width: w * 0.2, height: h * 0.25, score: 1 }),
      faceCropRect({ x: -3.5, y: h * 0.7, width: w * 0.3, height: h * 0.4, score: 1 }), // past the left and bottom edges
      viewRegion({ kind: 'centre', crop: 0.875 }, w, h),
      viewRegion({ kind: 'dog', margin: 0.1 }, w, h, { x: w * 0.55, y: h * 0.1, width: w * 0.4, height: h * 0.5 }),
    ];
    for (const r of rects) {
      const a = await viaSharp(img, (p) => p.extract(cropRect(img, r)));
      const b = await cropRegion(img, r);
      assert.deepEqual([a.width, a.height], [b.width, b.height], JSON.stringify(r));
      assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${path.basename(file)} ${JSON.stringify(r)}: pixels differ`);
      compared++;
    }
  }
  assert.equal(compared, photos.length * 4);
});

test("a fit at scale 1 is a crop: resize gives sharp's resize byte for byte without calling it", async () => {
  let compared = 0;
  for (const file of photos) {
    const img = await loadImage(file);
    for (const [w, h, mode] of [
      [Math.min(img.width, img.height), Math.min(img.width, img.height), 'center-crop'],
      [img.width, Math.max(1, img.height - 7), 'center-crop'],
      [Math.max(1, img.width - 3), img.height, 'center-crop'],
    ] as const) {
      const size = resizedSize(img.width, img.height, w, h, mode);
      if (Math.min(img.width / size.width, img.height / size.height) !== 1) continue;
      const want = await viaSharp(img, (p) => p.resize(size.width, size.height, { fit: 'cover', position: 'centre', kernel: 'linear' }));
      const got = await resize(img, w, h, mode);
      assert.deepEqual([got.width, got.height], [want.width, want.height]);
      assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `${path.basename(file)} → ${w}×${h}: pixels differ`);
      compared++;
    }
  }
  assert.ok(compared >= photos.length * 2, `${compared} fits at scale 1 compared`);
});

test('the device bundle builds for the browser with no Node-only module in it', async () => {
  const { code, inputs } = await bundleDevice();
  const banned = inputs.filter((i) => /node_modules\/(sharp|onnxruntime-node|@tensorflow)|^node:|src\/(server|cli|runtime)\//.test(i));
  assert.deepEqual(banned, []);
  for (const shared of [
    'src/app/dog-pipeline.ts',
    'src/app/views.ts',
    'src/detectors/person.ts',
    'src/detectors/coco-decode.ts',
    'src/detectors/letterbox.ts',
    'src/app/messages.ts',
    'src/detectors/imagenet-dog-rule.ts',
    'src/detectors/face/yunet-decode.ts',
    'src/data/pixels.ts',
    'src/models/backbone-types.ts',
    'src/data/resample.ts',
  ]) {
    assert.ok(inputs.includes(shared), `${shared} is bundled, not copied`);
  }
  assert.ok(code.length < 200_000, `bundle is ${code.length} bytes`);
});
