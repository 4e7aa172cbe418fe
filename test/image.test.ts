import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeImage, loadImage, readImageFile, sniffFormat } from '../src/data/image.js';
import { isImgclassError } from '../src/util/errors.js';
import { encode, gradient, hugePngHeader, PDF, SVG } from './fixtures.js';

async function rejects(input: Uint8Array, code: string, opts = {}) {
  await assert.rejects(decodeImage(input, opts), (e: unknown) => {
    assert.ok(isImgclassError(e), `expected ImgclassError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test('decodes JPEG, PNG, WebP, GIF and TIFF to 3-channel RGB of the right size', async () => {
  for (const fmt of ['jpeg', 'png', 'webp', 'gif', 'tiff'] as const) {
    const img = await decodeImage(await encode(fmt, 64, 32));
    assert.equal(img.format, fmt);
    assert.equal(img.width, 64);
    assert.equal(img.height, 32);
    assert.equal(img.data.length, 64 * 32 * 3);
    // left edge dark red channel, right edge bright: the pixels are really there
    assert.ok(img.data[0]! < 40 && img.data[63 * 3]! > 200, `${fmt}: red ramp lost`);
  }
});

test('applies EXIF orientation (6 = rotate 90° clockwise) so width and height swap', async () => {
  const g = await gradient(60, 20);
  const jpeg = await sharp(g.data, { raw: { width: 60, height: 20, channels: 3 } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const img = await decodeImage(jpeg);
  assert.deepEqual([img.width, img.height, img.originalWidth, img.originalHeight], [20, 60, 20, 60]);
});

test('flattens transparency on white, converts greyscale and CMYK to sRGB', async () => {
  const transparent = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toBuffer();
  const t = await decodeImage(transparent);
  assert.deepEqual([...t.data.subarray(0, 3)], [255, 255, 255]);
  const grey = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  assert.equal((await sharp(grey).metadata()).channels, 1);
  const gd = await decodeImage(grey);
  assert.equal(gd.data.length, 8 * 8 * 3);
  assert.ok(Math.abs(gd.data[0]! - 128) <= 2);
  const cmyk = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } })
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const cd = await decodeImage(cmyk);
  assert.ok(cd.data[0]! > 200 && cd.data[1]! < 60 && cd.data[2]! < 60, `CMYK red came out as ${[...cd.data.subarray(0, 3)]}`);
});

test('takes the first frame of an animated GIF', async () => {
  const red = await sharp({ create: { width: 10, height: 10, channels: 3, background: '#ff0000' } })
    .png()
    .toBuffer();
  const blue = await sharp({ create: { width: 10, height: 10, channels: 3, background: '#0000ff' } })
    .png()
    .toBuffer();
  const gif = await sharp([red, blue], { join: { animated: true } })
    .gif()
    .toBuffer();
  assert.equal((await sharp(gif).metadata()).pages, 2);
  const img = await decodeImage(gif);
  assert.equal(img.height, 10);
  assert.ok(img.data[0]! > 200 && img.data[2]! < 60, 'first frame is red');
});

test('downscales large images on load to maxSide', async () => {
  const img = await decodeImage(await encode('png', 400, 100), { maxSide: 200 });
  assert.deepEqual([img.width, img.height, img.originalWidth], [200, 50, 400]);
});

test('rejects bad input by content with a precise code', async () => {
  await rejects(new Uint8Array(0), 'EMPTY_INPUT');
  await rejects(Buffer.from('just some text, not a picture'), 'NOT_AN_IMAGE');
  await rejects(SVG, 'UNSUPPORTED_FORMAT');
  await rejects(PDF, 'UNSUPPORTED_FORMAT');
  const jpeg = await encode('jpeg', 256, 256);
  await rejects(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'CORRUPT_IMAGE');
  await rejects(hugePngHeader(40000, 40000), 'TOO_MANY_PIXELS');
  await rejects(jpeg, 'TOO_MANY_BYTES', { maxBytes: 100 });
});

test('an SVG renamed .jpg or with a BOM and whitespace is still an SVG', () => {
  const sneaky = Buffer.concat([Buffer.from('\uFEFF  \n'), SVG]);
  const r = sniffFormat(sneaky);
  assert.equal(typeof r, 'object');
  assert.match((r as { rejected: string }).rejected, /SVG/);
});

test('reading a photo from a path: a FIFO, a directory, a missing file, one over the limit, and a large one', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'imgclass-read-'));
  try {
    const fifo = path.join(dir, 'pipe.jpg');
    execFileSync('mkfifo', [fifo]);
    // opened without waiting for a writer, then refused: nothing hangs
    await assert.rejects(readImageFile(fifo), (e) => isImgclassError(e) && e.code === 'NOT_AN_IMAGE');
    await assert.rejects(readImageFile(dir), (e) => isImgclassError(e) && e.code === 'NOT_AN_IMAGE');
    await assert.rejects(readImageFile(path.join(dir, 'missing.jpg')), (e) => isImgclassError(e) && e.code === 'FILE_NOT_FOUND');
    await assert.rejects(readImageFile(path.join(dir, 'missing', 'x.jpg')), (e) => isImgclassError(e) && e.code === 'FILE_NOT_FOUND');
    const small = path.join(dir, 'small.bin');
    await writeFile(small, randomBytes(5000));
    assert.deepEqual(await readImageFile(small), await readFile(small));
    await assert.rejects(readImageFile(small, 4999), (e) => isImgclassError(e) && e.code === 'TOO_MANY_BYTES');
    // over 4 MB: read through the thread pool, the same bytes
    const large = path.join(dir, 'large.bin');
    await writeFile(large, randomBytes(5_000_123));
    assert.deepEqual(await readImageFile(large), await readFile(large));
    // and a real photo decodes from its path as from its bytes
    const jpeg = path.join(dir, 'photo.jpg');
    await writeFile(jpeg, await encode('jpeg', 64, 48));
    const [fromPath, fromBytes] = [await loadImage(jpeg), await decodeImage(await readFile(jpeg))];
    assert.deepEqual([fromPath.width, fromPath.height], [64, 48]);
    assert.ok(Buffer.from(fromPath.data).equals(Buffer.from(fromBytes.data)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
