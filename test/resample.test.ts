import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadImage } from '../src/data/image.js';
import { cropPixels, cropRect, resizedSize, type ResizeMode } from '../src/data/pixels.js';
import { fitInside, resample, resizeLike, useResampleKernels } from '../src/data/resample.js';
import { nativePixels } from '../src/data/native-pixels.js';
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

/** The first differing byte, for the assertion message (undefined when the images are identical). */
function firstDiff(want: RgbImage, got: RgbImage): string | undefined {
  if (want.width !== got.width || want.height !== got.height) return `size ${got.width}×${got.height}, sharp ${want.width}×${want.height}`;
  if (
    Buffer.compare(
      Buffer.from(want.data.buffer, want.data.byteOffset, want.data.byteLength),
      Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength),
    ) === 0
  )
    return undefined;
  let n = 0;
  let max = 0;
  let first = -1;
  for (let i = 0; i < want.data.length; i++) {
    const d = Math.abs(want.data[i]! - got.data[i]!);
    if (d > 0 && first < 0) first = i;
    if (d > 0) n++;
    max = Math.max(max, d);
  }
  const p = Math.floor(first / 3);
  return `${n} bytes differ (max ${max}), first at (${p % want.width}, ${Math.floor(p / want.width)}) channel ${first % 3}: sharp ${want.data[first]}, pure ${got.data[first]}`;
}

const native = nativePixels();

/**
 * `run` on the resize's TypeScript loops and on the native ones (data/native-pixels.ts, built by
 * npm install and npm test): their bytes must be the same; the result. So every comparison with
 * sharp below holds for both.
 */
function both(run: () => RgbImage, what: string): RgbImage {
  assert.ok(native, 'build/native/pixels.node is missing or does not load: run `node scripts/build-native.js` and read its line');
  useResampleKernels(null);
  const typescript = run();
  useResampleKernels(native);
  assert.equal(firstDiff(typescript, run()), undefined, `${what}: the native loops against the TypeScript ones`);
  return typescript;
}

/**
 * sharp's own linear resize, as transform.resize calls it when it takes sharp's path: the reference
 * the pure resize is compared with (transform.resize itself takes the pure path for small images).
 */
async function sharpResize(img: RgbImage, width: number, height: number, mode: ResizeMode = 'squash'): Promise<RgbImage> {
  const size = resizedSize(img.width, img.height, width, height, mode);
  return viaSharp(img, (p) => p.resize(size.width, size.height, { fit: mode === 'squash' ? 'fill' : 'cover', position: 'centre', kernel: 'linear' }));
}

/** The pure resize (both loops) against sharp's own resize, byte for byte. */
async function assertSharpBytes(img: RgbImage, w: number, h: number, mode: ResizeMode, what: string): Promise<void> {
  assert.equal(
    firstDiff(
      await sharpResize(img, w, h, mode),
      both(() => resizeLike(img, w, h, mode), what),
    ),
    undefined,
    what,
  );
}

/** Deterministic noise: every pixel independent, which exposes any rounding difference. */
function noise(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height };
}

// Shrinks (1.1× and 1.9× by the reduce alone; 2.5× and up with a box pre-shrink of 1, 2 and 4;
// 6.4× with an odd box of 3, 13× with a box of 6) and enlargements, as factors on the target size.
const FACTORS = [1.1, 1.9, 2.5, 4.3, 6.4, 9, 13, 1 / 1.3, 1 / 2.5];

/** Every mode at every factor, plus squashes that shrink one axis while enlarging the other. */
function cases(img: RgbImage): [number, number, ResizeMode][] {
  const out: [number, number, ResizeMode][] = [];
  const side = Math.min(img.width, img.height);
  for (const f of FACTORS) {
    out.push([Math.max(1, Math.round(img.width / f)), Math.max(1, Math.round(img.height / f)), 'squash']);
    out.push([Math.max(1, Math.round(side / f)), Math.max(1, Math.round(side / f)), 'center-crop']);
    out.push([Math.max(1, Math.round((side * 0.9) / f)), Math.max(1, Math.round((side * 0.8) / f)), 'keep-aspect']);
  }
  out.push([Math.round(img.width * 1.7), Math.round(img.height / 2.3), 'squash'], [Math.round(img.width / 3.1), Math.round(img.height * 1.4), 'squash']);
  return out;
}

test('the pure resize gives sharp’s linear resize byte for byte on photos: every mode, shrinking, enlarging and mixed', async () => {
  let compared = 0;
  for (const file of photos) {
    const img = await loadImage(file);
    for (const [w, h, mode] of cases(img)) {
      const what = `${path.basename(file)} ${img.width}×${img.height} → ${mode} ${w}×${h}`;
      await assertSharpBytes(img, w, h, mode, what);
      compared++;
    }
  }
  assert.equal(compared, photos.length * (FACTORS.length * 3 + 2));
});

test('the pure resize gives sharp’s linear resize byte for byte on noise (where any rounding difference would show)', async () => {
  let compared = 0;
  for (const [width, height, seed] of [
    [300, 211, 5],
    [97, 131, 9],
    [640, 427, 3],
    [90, 90, 7],
  ] as const) {
    const img = noise(width, height, seed);
    for (const [w, h, mode] of [...cases(img), [224, 224, 'center-crop'] as const, [224, 224, 'squash'] as const, [320, 240, 'squash'] as const]) {
      await assertSharpBytes(img, w, h, mode, `noise ${width}×${height} → ${mode} ${w}×${h}`);
      compared++;
    }
  }
  assert.equal(compared, 4 * (FACTORS.length * 3 + 5));
});

test('the pure resize gives sharp’s byte for byte where libvips’ region edges and roundings show (sizes on its 1/128 grid, tiles, odd boxes)', async () => {
  // Each of these failed at some stage of the port: a position exactly on the 1/128 mask grid
  // (211 → 192) that libvips computes afresh at every 16-row strip or 128-pixel tile edge, a
  // vertical box shrink that switches libvips to tiles, a crop whose left edge restarts the
  // enlargement's positions, an output size of n + ½ (rounded up), a 2-row photo enlarged 77×.
  for (const [width, height, w, h, mode] of [
    [300, 211, 273, 192, 'squash'],
    [211, 1000, 192, 100, 'squash'],
    [633, 1000, 576, 250, 'squash'],
    [56, 237, 500, 57, 'squash'],
    [344, 565, 448, 33, 'squash'],
    [30, 1000, 500, 200, 'squash'],
    [640, 427, 100, 67, 'squash'],
    [513, 76, 341, 192, 'center-crop'],
    [579, 2, 6, 3, 'keep-aspect'],
    [395, 2, 155, 314, 'keep-aspect'],
  ] as const) {
    const img = noise(width, height, width + height);
    await assertSharpBytes(img, w, h, mode, `noise ${width}×${height} → ${mode} ${w}×${h}`);
  }
});

test('the pure resize gives sharp’s byte for byte at random sizes and modes', async () => {
  let s = 12345;
  const rnd = (n: number) => 1 + ((s = (Math.imul(s, 48271) + 11) >>> 0) % n);
  const modes = ['squash', 'center-crop', 'keep-aspect'] as const;
  for (let k = 0; k < 60; k++) {
    const img = noise(rnd(k % 10 === 0 ? 8 : 600), rnd(k % 7 === 0 ? 8 : 600), k + 1);
    const [w, h, mode] = [rnd(k % 11 === 0 ? 4 : 400), rnd(k % 13 === 0 ? 4 : 400), modes[k % 3]!];
    await assertSharpBytes(img, w, h, mode, `noise ${img.width}×${img.height} → ${mode} ${w}×${h}`);
  }
});

test('the pure resize gives sharp’s byte for byte at the sizes the pipeline uses (centre crop, letterbox, face crops)', async () => {
  for (const file of photos) {
    const img = await loadImage(file);
    const lb = Math.min(320 / img.width, 320 / img.height);
    const face = { x: img.width * 0.3, y: img.height * 0.2, width: img.width * 0.35, height: img.height * 0.4 };
    const cases: [string, Promise<RgbImage>, () => RgbImage][] = [
      ['centre crop 224', sharpResize(img, 224, 224, 'center-crop'), () => both(() => resizeLike(img, 224, 224, 'center-crop'), 'centre crop 224')],
      [
        'letterbox 320',
        sharpResize(img, Math.round(img.width * lb), Math.round(img.height * lb)),
        () => both(() => resample(img, Math.round(img.width * lb), Math.round(img.height * lb)), 'letterbox 320'),
      ],
      ['keep-aspect 224', sharpResize(img, 224, 224, 'keep-aspect'), () => both(() => resizeLike(img, 224, 224, 'keep-aspect'), 'keep-aspect 224')],
      [
        'face crop → 224',
        crop(img, face.x, face.y, face.width, face.height).then((c) => sharpResize(c, 224, 224, 'center-crop')),
        () => both(() => resizeLike(cropPixels(img, face), 224, 224, 'center-crop'), 'face crop → 224'),
      ],
      [
        'shrink ×5',
        sharpResize(img, Math.round(img.width / 5), Math.round(img.height / 5)),
        () => both(() => resample(img, Math.round(img.width / 5), Math.round(img.height / 5)), 'shrink ×5'),
      ],
    ];
    for (const [what, server, device] of cases)
      assert.equal(firstDiff(await server, device()), undefined, `${path.basename(file)} ${img.width}×${img.height}, ${what}`);
  }
});

test("the decode cap (longer side ≤ maxSide, lanczos3) gives sharp's byte for byte", async () => {
  const img = await loadImage(photos[5]!);
  const big = await resize(img, 1600, 1200); // a large photo to bring down again
  let compared = 0;
  for (const src of [big, img, noise(640, 427, 3)]) {
    for (const maxSide of [1024, 333, 224, 100]) {
      if (Math.max(src.width, src.height) <= maxSide) continue;
      const want = await viaSharp(src, (p) => p.resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true, kernel: 'lanczos3' }));
      assert.equal(
        firstDiff(
          want,
          both(() => fitInside(src, maxSide), `${src.width}×${src.height} inside ${maxSide}`),
        ),
        undefined,
        `${src.width}×${src.height} inside ${maxSide}`,
      );
      compared++;
    }
  }
  assert.ok(compared >= 9, `${compared} compared`);
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

// transform.resize, which every host step calls, takes the pure resize for small images, and for
// larger ones while sharp has not been asked for (a cold command), sharp's own pipeline otherwise:
// the same bytes on either path, before and after sharp is loaded.
test("transform.resize gives sharp's bytes on either path, before and after sharp is loaded", async () => {
  const { loadSharp } = await import('../src/runtime/sharp.js');
  const cases: [string, number, number, ResizeMode][] = [
    [photos[3]!, 224, 224, 'center-crop'], // an LFW face enlarged (small: always pure)
    [photos[5]!, 224, 224, 'center-crop'], // a 640-px vehicle photo: pure before sharp is asked for; after, pure with the native loops, else sharp
    [photos[5]!, 320, 213, 'squash'], // the letterbox's shrink
    [photos[0]!, 336, 224, 'keep-aspect'],
  ];
  for (const round of ['before', 'after'] as const) {
    if (round === 'after') await loadSharp();
    for (const [file, w, h, mode] of cases) {
      const img = await loadImage(file);
      const size = resizedSize(img.width, img.height, w, h, mode);
      const want = await viaSharp(img, (p) =>
        p.resize(size.width, size.height, { fit: mode === 'squash' ? 'fill' : 'cover', position: 'centre', kernel: 'linear' }),
      );
      const diff = firstDiff(want, await resize(img, w, h, mode));
      assert.equal(diff, undefined, `${path.basename(file)} → ${w}×${h} ${mode}, ${round} sharp is loaded: ${diff}`);
    }
  }
});

test('the native loops check every tap and row against their arrays before reading a byte', () => {
  assert.ok(native, 'build/native/pixels.node is missing or does not load');
  const src = new Uint8Array(4 * 4 * 3);
  const out = new Uint8Array(4 * 4 * 3);
  const taps = (...v: number[]) => Int32Array.from(v);
  // a vertical reduce: 2 output rows of 2 taps, input rows 0..3
  native.reduceRows(src, out, taps(0, 1, 2, 3), taps(2048, 2048, 2048, 2048), 2, 2, 12, 0, 12);
  assert.throws(() => native.reduceRows(src, out, taps(0, 1, 2, 4), taps(1, 1, 1, 1), 2, 2, 12, 0, 12), RangeError, 'input row 4 of 4');
  assert.throws(() => native.reduceRows(src, out, taps(0, 1, 2, 3), taps(1, 1, 1, 1), 2, 2, 12, 0, 13), RangeError, 'a column past the row');
  assert.throws(() => native.reduceRows(src, out, taps(0, 1), taps(1, 1), 2, 2, 12, 0, 12), RangeError, 'fewer taps than rows × n');
  assert.throws(() => native.reduceRows(src, out, taps(0, 1, 2, 3), taps(1, 1, 1, 1), 2, -2, 12, 0, 12), RangeError, 'a negative count');
  // a horizontal reduce: byte offsets within a 12-byte row
  native.reduceCols(src, out, taps(0, 9), taps(4096, 0), 2, 12, 1, 4);
  assert.throws(() => native.reduceCols(src, out, taps(0, 10), taps(1, 1), 2, 12, 1, 4), RangeError, 'a pixel past the row');
  // the enlargement: row and column offsets in bytes
  native.affineRows(src, out, taps(0, 36), taps(12, 36), taps(0, 0), taps(0, 9), taps(3, 9), taps(0, 0), 2, 2, 0);
  assert.throws(
    () => native.affineRows(src, out, taps(0, 48), taps(12, 36), taps(0, 0), taps(0, 9), taps(3, 9), taps(0, 0), 2, 2, 0),
    RangeError,
    'row 4 of 4',
  );
  assert.throws(
    () => native.affineRows(src, out, taps(0, 36), taps(12, 36), taps(0, 0), taps(0, 9), taps(3, 9), taps(0, 0), 2, 2, 40),
    RangeError,
    'written past out',
  );
  assert.throws(() => native.reduceRows(src, new Float32Array(48) as unknown as Uint8Array, taps(0), taps(1), 1, 1, 12, 0, 12), RangeError, 'not bytes');
});
