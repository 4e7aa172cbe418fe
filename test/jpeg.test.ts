import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { decodeImage, decodeWithSharp, DEFAULT_DECODE_LIMITS } from '../src/data/image.js';
import { decodePlainJpeg, isPlainJpeg, plainDecoder, readJpegHeader, type PlainDecoder } from '../src/data/jpeg.js';
import { nativePixels } from '../src/data/native-pixels.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';
import { gradient } from './fixtures.js';

const data = sharedDataDir();
/** Real photos of every shape the shared data has: Imagewoof (shorter side 224), vehicles (up to 640 px), negatives (224²). */
const photos = [
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 3),
  ...sampleClassFolders(path.join(data, 'vehicles'), 3),
  ...sampleClassFolders(path.join(data, 'negatives'), 2),
]
  .map((f) => f.file)
  .filter((f) => /\.jpe?g$/i.test(f));

/** Both of libjpeg-turbo's ways in (data/jpeg.ts): every test below runs on each. */
const DECODERS: readonly PlainDecoder[] = ['native', 'wasm'];

test('the native decoder is built and is the one used (npm install and npm test build it: scripts/build-native.js)', () => {
  assert.ok(nativePixels(), 'build/native/pixels.node is missing or does not load: run `node scripts/build-native.js` and read its line');
  assert.equal(plainDecoder(), 'native');
});

test('IMGCLASS_NATIVE=0 turns the native module off: plain JPEGs decode in WebAssembly', () => {
  const code = "import('./src/data/jpeg.ts').then((m) => process.stdout.write(m.plainDecoder()))";
  const run = (env: NodeJS.ProcessEnv) =>
    execFileSync(process.execPath, ['--import', 'tsx', '-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(run({ IMGCLASS_NATIVE: '0' }), 'wasm');
  assert.equal(run({ IMGCLASS_NATIVE: '' }), 'native');
});

test("plain JPEGs: libjpeg-turbo, native and WebAssembly, gives sharp's pixels byte for byte", async () => {
  let plain = 0;
  for (const file of photos) {
    const bytes = new Uint8Array(readFileSync(file));
    const header = readJpegHeader(bytes);
    assert.ok(header, `${file}: header not read`);
    const viaSharp = await decodeWithSharp(bytes, 'jpeg', DEFAULT_DECODE_LIMITS);
    assert.equal(header.width, viaSharp.originalWidth, file);
    assert.equal(header.height, viaSharp.originalHeight, file);
    if (!isPlainJpeg(header, DEFAULT_DECODE_LIMITS.maxSide)) continue;
    plain++;
    for (const via of DECODERS) {
      const fast = await decodePlainJpeg(bytes, header, via);
      assert.ok(fast, `${file}: the ${via} decoder gave up on a good photo`);
      assert.equal(fast.width, viaSharp.width);
      assert.equal(fast.height, viaSharp.height);
      assert.ok(Buffer.from(fast.data).equals(Buffer.from(viaSharp.data)), `${file}: the ${via} decoder's pixels differ from sharp's`);
    }
  }
  // The comparison means something only if most photos took the fast path.
  assert.ok(plain >= photos.length * 0.8, `only ${plain} of ${photos.length} photos were plain JPEGs`);
});

async function jpegOf(pipeline: (s: Sharp) => Sharp): Promise<Uint8Array> {
  const g = await gradient(48, 32);
  return new Uint8Array(await pipeline(sharp(g.data, { raw: { width: 48, height: 32, channels: 3 } })).toBuffer());
}

test("JPEGs sharp treats specially are not plain, and decodeImage still gives sharp's answer for them", async () => {
  const cases: Record<string, Uint8Array> = {
    'EXIF orientation 6': await jpegOf((s) => s.jpeg().withMetadata({ orientation: 6 })),
    'an ICC profile': await jpegOf((s) => s.jpeg().withIccProfile('p3')),
    greyscale: await jpegOf((s) => s.toColourspace('b-w').jpeg()),
    CMYK: await jpegOf((s) => s.toColourspace('cmyk').jpeg()),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    const header = readJpegHeader(bytes);
    assert.ok(header, `${what}: header not read`);
    assert.equal(isPlainJpeg(header, DEFAULT_DECODE_LIMITS.maxSide), false, `${what} taken as plain`);
    const got = await decodeImage(bytes);
    const want = await decodeWithSharp(bytes, 'jpeg', DEFAULT_DECODE_LIMITS);
    assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)) && got.width === want.width, what);
  }
  const plain = await jpegOf((s) => s.jpeg());
  assert.ok(isPlainJpeg(readJpegHeader(plain)!, 1024), 'a plain JPEG from sharp is plain');
  assert.equal(isPlainJpeg(readJpegHeader(plain)!, 40), false, 'larger than the downscale limit: sharp shrinks it on load');
  const huge = { ...readJpegHeader(plain)!, width: 4000, height: 3000 };
  assert.equal(isPlainJpeg(huge, 8192), false, 'a 12 MP photo stays with sharp whatever the downscale limit');
});

/** An APP1 EXIF block holding only an orientation (little-endian TIFF, one IFD0 entry). */
function exifSegment(orientation: number): Uint8Array {
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0, 0, 0, 0, 0];
  const body = [...Buffer.from('Exif\0\0', 'latin1'), ...tiff];
  return new Uint8Array([0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body]);
}
const afterSoi = (jpeg: Uint8Array, ...segments: Uint8Array[]) =>
  new Uint8Array([...jpeg.subarray(0, 2), ...segments.flatMap((x) => [...x]), ...jpeg.subarray(2)]);

test('odd files libvips reads its own way go to sharp (found in review): two EXIF blocks, an ICC marker without its NUL', async () => {
  const plain = await jpegOf((s) => s.jpeg());
  // libvips applies the first EXIF block's orientation
  const twoExif = afterSoi(plain, exifSegment(6), exifSegment(1));
  assert.equal(readJpegHeader(twoExif), undefined);
  const rotated = await decodeImage(twoExif);
  assert.deepEqual([rotated.width, rotated.height], [32, 48], 'rotated by the first block, as sharp does');
  // libvips takes an APP2 starting "ICC_PROFILE" for a profile whatever follows
  const icc = await jpegOf((s) => s.jpeg().withIccProfile('p3'));
  const at = Buffer.from(icc).indexOf('ICC_PROFILE\0', 0, 'latin1');
  assert.ok(at > 0);
  icc[at + 11] = 0x58; // 'X'
  assert.equal(readJpegHeader(icc)!.icc, true);
  const want = await decodeWithSharp(icc, 'jpeg', DEFAULT_DECODE_LIMITS);
  assert.ok(Buffer.from((await decodeImage(icc)).data).equals(Buffer.from(want.data)));
});

test('a progressive JPEG that ends between scans decodes as sharp decodes it (libjpeg-turbo 3 smooths the missing coefficients alike)', async () => {
  const photo = new Uint8Array(readFileSync(photos[0]!));
  const progressive = new Uint8Array(await sharp(photo).jpeg({ progressive: true }).toBuffer());
  const scans: number[] = [];
  for (let i = 2; i < progressive.length - 1; i++) if (progressive[i] === 0xff && progressive[i + 1] === 0xda) scans.push(i);
  assert.ok(scans.length >= 6, `${scans.length} scans`);
  for (let k = 1; k < scans.length; k++) {
    const cut = new Uint8Array([...progressive.subarray(0, scans[k]), 0xff, 0xd9]);
    const header = readJpegHeader(cut)!;
    assert.ok(isPlainJpeg(header, DEFAULT_DECODE_LIMITS.maxSide), 'taken as plain: the comparison means something');
    // the native decoder leaves these to the WebAssembly build: Debian's libjpeg-turbo 2.1 smooths
    // the missing coefficients unlike sharp's 3.x
    if (nativePixels()) assert.equal(await decodePlainJpeg(cut, header, 'native'), undefined, `the first ${k} scans: the native decoder kept it`);
    const fast = await decodePlainJpeg(cut, header);
    const want = await decodeWithSharp(cut, 'jpeg', DEFAULT_DECODE_LIMITS);
    assert.ok(fast && Buffer.from(fast.data).equals(Buffer.from(want.data)), `the first ${k} scans: pixels differ from sharp's`);
  }
});

for (const via of DECODERS)
  test(`a damaged plain JPEG goes to sharp, and the ${via} decoder recovers for the next photo`, async () => {
    const good = new Uint8Array(readFileSync(photos[0]!));
    const header = readJpegHeader(good)!;
    // Bytes flipped inside the entropy-coded data: libjpeg warns or fails, and either way gives up.
    const damaged = good.map((b, i) => (i > good.length / 2 && i % 97 === 0 && i < good.length - 2 ? b ^ 0xff : b));
    assert.equal(await decodePlainJpeg(damaged, header, via), undefined);
    // Cut short in the middle of the scan: libjpeg warns (premature end) and fills in grey.
    assert.equal(await decodePlainJpeg(good.subarray(0, Math.round(good.length * 0.6)), header, via), undefined);
    // A stream with no image after its header: libjpeg exits; the next decode gets a fresh instance.
    const noImage = new Uint8Array([...good.subarray(0, 20), ...new Uint8Array(500).fill(7), 0xff, 0xd9]);
    assert.equal(await decodePlainJpeg(noImage, header, via), undefined);
    // A header that lies about the size: the image is not the one the caller made room for.
    assert.equal(await decodePlainJpeg(good, { ...header, width: header.width - 1 }, via), undefined);
    const again = await decodePlainJpeg(good, header, via);
    assert.ok(again && again.width === header.width, 'the decoder works again after a failure');
    // A view into a larger buffer (Node pools small reads) decodes from its own bytes only.
    const padded = new Uint8Array(good.length + 64);
    padded.set(good, 32);
    const view = padded.subarray(32, 32 + good.length);
    assert.ok(Buffer.from((await decodePlainJpeg(view, header, via))!.data).equals(Buffer.from(again.data)));
  });

test('the native module refuses what is not two byte arrays', () => {
  const native = nativePixels()!;
  assert.throws(() => native.decode('not bytes' as unknown as Uint8Array, new Uint8Array(3)), TypeError);
  assert.throws(() => native.decode(new Uint8Array(4), new Float32Array(3) as unknown as Uint8Array), TypeError);
  assert.equal(native.decode(new Uint8Array(0), new Uint8Array(3)), false, 'no bytes: no image');
});

test("readJpegHeader refuses what is not a JPEG's structure", () => {
  assert.equal(readJpegHeader(new Uint8Array([0xff, 0xd8, 0xff])), undefined);
  assert.equal(readJpegHeader(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0])), undefined);
  // A segment length running past the end of the file.
  assert.equal(readJpegHeader(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x7f, 0xff, 0, 0])), undefined);
});
