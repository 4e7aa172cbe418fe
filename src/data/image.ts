import sharp, { type Metadata } from 'sharp';
import { open, stat } from 'node:fs/promises';
import { ImgclassError } from '../util/errors.js';

import type { RgbImage } from './pixels.js';

export type { RgbImage } from './pixels.js';

/** A decoded image plus where it came from, so boxes found on it can be mapped back. */
export interface DecodedImage extends RgbImage {
  format: ImageFormat;
  /** Size of the source image after EXIF orientation, before any downscaling on load. */
  originalWidth: number;
  originalHeight: number;
}

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

export interface DecodeLimits {
  /** Refuse inputs larger than this many bytes (checked before decoding). */
  maxBytes: number;
  /** Refuse images with more than this many pixels (checked from the header, before decoding). */
  maxPixels: number;
  /**
   * Downscale on load so the longer side is at most this (keeps memory and time bounded for
   * 50-megapixel phone photos; every model here works at ≤ 640 px anyway).
   */
  maxSide: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBytes: 20_000_000,
  maxPixels: 50_000_000,
  maxSide: 1024,
};

/**
 * Identify the container from its first bytes. The extension and the declared content type
 * are never trusted: a `.jpg` that is really an SVG is refused as an SVG.
 */
export function sniffFormat(buf: Uint8Array): ImageFormat | { rejected: string } {
  const b = buf;
  const ascii = (start: number, len: number) => String.fromCharCode(...b.subarray(start, start + len));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'webp';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return 'tiff';
  if (b.length >= 12 && ascii(4, 4) === 'ftyp' && ['avif', 'avis'].includes(ascii(8, 4))) return 'avif';
  if (b.length >= 5 && ascii(0, 5) === '%PDF-') return { rejected: 'PDF documents are not accepted; upload a photo (JPEG, PNG, WebP, GIF, TIFF or AVIF)' };
  const head = Buffer.from(b.subarray(0, 1024)).toString('utf8').replace(/^\uFEFF/, '').trimStart().toLowerCase();
  if (head.startsWith('<svg') || ((head.startsWith('<?xml') || head.startsWith('<!doctype svg')) && head.includes('<svg'))) {
    return { rejected: 'SVG images are not accepted (vector graphics can carry scripts and have no fixed pixels); upload a photo (JPEG, PNG, WebP, GIF, TIFF or AVIF)' };
  }
  if (b.length >= 12 && ascii(4, 4) === 'ftyp') return { rejected: 'HEIC/HEIF and video containers are not supported; convert to JPEG or PNG' };
  if (b.length >= 2 && ascii(0, 2) === 'BM') return { rejected: 'BMP images are not supported; convert to PNG or JPEG' };
  return { rejected: 'not an image: the content is not JPEG, PNG, WebP, GIF, TIFF or AVIF' };
}

/** Read a file, refusing (before reading it all) anything over the byte limit. */
export async function readImageFile(path: string, maxBytes = DEFAULT_DECODE_LIMITS.maxBytes): Promise<Buffer> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new ImgclassError('NOT_AN_IMAGE', `${path} is not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof ImgclassError) throw e;
    throw new ImgclassError('FILE_NOT_FOUND', `Cannot read ${path}: no such file`);
  }
  if (size > maxBytes) throw tooManyBytes(size, maxBytes);
  const fh = await open(path, 'r');
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

function tooManyBytes(size: number, maxBytes: number): ImgclassError {
  return new ImgclassError('TOO_MANY_BYTES', `image is ${(size / 1e6).toFixed(1)} MB; the limit is ${(maxBytes / 1e6).toFixed(1)} MB`);
}

/**
 * Decode any supported image to sRGB 8-bit RGB: EXIF orientation applied, alpha flattened on
 * white, greyscale and CMYK converted, first frame of animations, downscaled to `maxSide`.
 * Throws ImgclassError with a precise code for every way an input can be bad.
 */
export async function decodeImage(input: Uint8Array, limits: Partial<DecodeLimits> = {}): Promise<DecodedImage> {
  const lim = { ...DEFAULT_DECODE_LIMITS, ...limits };
  if (input.length === 0) throw new ImgclassError('EMPTY_INPUT', 'empty input: no image data was received');
  if (input.length > lim.maxBytes) throw tooManyBytes(input.length, lim.maxBytes);
  const sniffed = sniffFormat(input);
  if (typeof sniffed !== 'string') {
    const code = sniffed.rejected.startsWith('not an image') ? 'NOT_AN_IMAGE' : 'UNSUPPORTED_FORMAT';
    throw new ImgclassError(code, sniffed.rejected);
  }
  // Header first: refuse decompression bombs before a single pixel is decoded.
  let meta: Metadata;
  try {
    meta = await sharp(input, { pages: 1, limitInputPixels: false }).metadata();
  } catch (e) {
    throw new ImgclassError('CORRUPT_IMAGE', `cannot read the ${sniffed.toUpperCase()} header: ${shortSharpMessage(e)}`, { cause: e });
  }
  const w = meta.width ?? 0;
  const h = meta.pageHeight ?? meta.height ?? 0;
  if (w <= 0 || h <= 0) throw new ImgclassError('CORRUPT_IMAGE', `the ${sniffed.toUpperCase()} header declares no size`);
  if (w * h > lim.maxPixels) {
    throw new ImgclassError('TOO_MANY_PIXELS', `image is ${w}×${h} = ${((w * h) / 1e6).toFixed(1)} megapixels; the limit is ${(lim.maxPixels / 1e6).toFixed(1)} megapixels`);
  }
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
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, format: sniffed, originalWidth, originalHeight };
  } catch (e) {
    throw new ImgclassError('CORRUPT_IMAGE', `the ${sniffed.toUpperCase()} data is damaged or truncated: ${shortSharpMessage(e)}`, { cause: e });
  }
}

function shortSharpMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.replace(/^Input buffer has corrupt header: /, '').slice(0, 200);
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

export async function loadImage(path: string, limits: Partial<DecodeLimits> = {}): Promise<DecodedImage> {
  const buf = await readImageFile(path, limits.maxBytes ?? DEFAULT_DECODE_LIMITS.maxBytes);
  return decodeImage(buf, limits);
}
