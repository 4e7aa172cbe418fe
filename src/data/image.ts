import type { Metadata } from 'sharp';
import { loadSharp } from '../runtime/sharp.js';
import { closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { ImgclassError } from '../util/errors.js';

import type { RgbImage } from './pixels.js';
import { decodePlainJpeg, isPlainJpeg, readJpegHeader } from './jpeg.js';
import { checkPixels, checkUpload, DEFAULT_DECODE_LIMITS, isTruncated, tooManyBytes, type DecodeLimits, type ImageFormat } from './upload.js';

export type { RgbImage } from './pixels.js';
// The checks every upload passes are pure (upload.ts), so device mode refuses the same inputs with the same words.
export { DEFAULT_DECODE_LIMITS, resolveLimits, sniffFormat, type DecodeLimits, type ImageFormat } from './upload.js';

/** A decoded image plus where it came from, so boxes found on it can be mapped back. */
export interface DecodedImage extends RgbImage {
  format: ImageFormat;
  /** Size of the source image after EXIF orientation, before any downscaling on load. */
  originalWidth: number;
  originalHeight: number;
}

/**
 * Read a file, refusing (before reading it all) anything that is not a regular file or is over the
 * byte limit. A photo is read with blocking calls on an open descriptor: each call of fs/promises
 * is a hop to libuv's thread pool, and the five of a stat, open, read and close took 0.6 ms of a
 * photo's ~12 in `bench:predict`, against 0.2 ms this way (docs/startup.md, "Fifth round").
 * O_NONBLOCK keeps the open of a FIFO or a device from waiting for a writer; fstat then refuses it.
 * A larger file (over SYNC_READ_BYTES) is read through the thread pool, so the event loop is not held
 * for it.
 */
export async function readImageFile(path: string, maxBytes = DEFAULT_DECODE_LIMITS.maxBytes): Promise<Buffer> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    if (MISSING.has((e as NodeJS.ErrnoException).code ?? '')) throw new ImgclassError('FILE_NOT_FOUND', `Cannot read ${path}: no such file`);
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ImgclassError('NOT_AN_IMAGE', `${path} is not a regular file`);
    if (st.size > maxBytes) throw tooManyBytes(st.size, maxBytes);
    const buf = Buffer.allocUnsafe(st.size);
    const n = st.size <= SYNC_READ_BYTES ? readAllSync(fd, buf) : await readAll(fd, buf);
    return n === st.size ? buf : buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

const SYNC_READ_BYTES = 4 * 1024 * 1024;
const readAsync = promisify(read);
/** open(2) errors that mean there is no file at that path. */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP']);

/** Reads into `buf` until it is full or the file ends (it may have shrunk since fstat); the bytes read. */
function readAllSync(fd: number, buf: Buffer): number {
  let at = 0;
  for (let n = 1; at < buf.length && n > 0; at += n) n = readSync(fd, buf, at, buf.length - at, at);
  return at;
}

async function readAll(fd: number, buf: Buffer): Promise<number> {
  let at = 0;
  for (let n = 1; at < buf.length && n > 0; at += n) n = (await readAsync(fd, buf, at, buf.length - at, at)).bytesRead;
  return at;
}

/**
 * Decode any supported image to sRGB 8-bit RGB: EXIF orientation applied, alpha flattened on
 * white, greyscale and CMYK converted, first frame of animations, downscaled to `maxSide`.
 * Throws ImgclassError with a precise code for every way an input can be bad.
 */
export async function decodeImage(input: Uint8Array, limits: Partial<DecodeLimits> = {}): Promise<DecodedImage> {
  const lim = { ...DEFAULT_DECODE_LIMITS, ...limits };
  const sniffed = checkUpload(input, lim);
  return (sniffed === 'jpeg' && (await plainJpeg(input, lim))) || decodeWithSharp(input, sniffed, lim);
}

/** The general decoder, for every format and every JPEG that is not plain; `decodeImage` has checked the upload. */
export async function decodeWithSharp(input: Uint8Array, sniffed: ImageFormat, lim: DecodeLimits): Promise<DecodedImage> {
  // Header first: refuse decompression bombs before a single pixel is decoded. (Reading the header
  // and decoding at the same time saved 0.6 ms a photo but made libvips' error text depend on
  // timing: a truncated JPEG was reported as "Unknown error" or "premature end" at random.)
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    meta = await sharp(input, { pages: 1, limitInputPixels: false }).metadata();
  } catch (e) {
    throw new ImgclassError('CORRUPT_IMAGE', `cannot read the ${sniffed.toUpperCase()} header: ${shortSharpMessage(e)}`, { cause: e });
  }
  const w = meta.width ?? 0;
  const h = meta.pageHeight ?? meta.height ?? 0;
  if (w <= 0 || h <= 0) throw new ImgclassError('CORRUPT_IMAGE', `the ${sniffed.toUpperCase()} header declares no size`);
  checkPixels(w, h, lim);
  const rotated = (meta.orientation ?? 1) >= 5; // EXIF 5–8 swap width and height
  const originalWidth = rotated ? h : w;
  const originalHeight = rotated ? w : h;
  try {
    const { data, info } = await sharp(input, { pages: 1, failOn: 'truncated', limitInputPixels: lim.maxPixels })
      .rotate()
      .resize({ width: lim.maxSide, height: lim.maxSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected ${info.channels} channels after conversion`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
      format: sniffed,
      originalWidth,
      originalHeight,
    };
  } catch (e) {
    throw new ImgclassError('CORRUPT_IMAGE', `the ${sniffed.toUpperCase()} data is damaged or truncated: ${shortSharpMessage(e)}`, { cause: e });
  }
}

/** A plain JPEG decoded without sharp (data/jpeg.ts): the same pixels, without libvips' per-call cost. */
async function plainJpeg(input: Uint8Array, lim: DecodeLimits): Promise<DecodedImage | undefined> {
  const header = readJpegHeader(input);
  if (!header || !isPlainJpeg(header, lim.maxSide) || isTruncated(input, 'jpeg')) return undefined;
  checkPixels(header.width, header.height, lim);
  const image = await decodePlainJpeg(input, header);
  return image && { ...image, format: 'jpeg', originalWidth: image.width, originalHeight: image.height };
}

function shortSharpMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m
    .split('\n')[0]!
    .replace(/^Input buffer has corrupt header: /, '')
    .slice(0, 200);
}

/** Convenience: read and decode a file with the same limits. */
/** A path, the bytes of an upload, or an already decoded image. */
export type ImageInput = Uint8Array | string | DecodedImage;

/** Decode whatever the caller holds, with the same limits and errors everywhere. */
export async function decodeInput(input: ImageInput, limits: Partial<DecodeLimits> = {}): Promise<DecodedImage> {
  if (typeof input === 'string') return loadImage(input, limits);
  if (input instanceof Uint8Array) return decodeImage(input, limits);
  return input;
}

/** Reads and decodes an image file within `limits` (the byte limit is checked before the file is read whole). */
export async function loadImage(path: string, limits: Partial<DecodeLimits> = {}): Promise<DecodedImage> {
  const buf = await readImageFile(path, limits.maxBytes ?? DEFAULT_DECODE_LIMITS.maxBytes);
  return decodeImage(buf, limits);
}
