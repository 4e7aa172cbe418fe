import { ImgclassError } from '../util/errors.js';

/**
 * What is checked of an upload before any pixel is decoded, with no host dependency: the server
 * (before sharp) and the browser's device mode (before createImageBitmap) refuse the same inputs
 * with the same codes and messages.
 */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

/** How large an input may be, checked before decoding where possible, and how far a decoded photo is shrunk. */
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

/** The limits every host applies unless told otherwise: 20 MB, 50 megapixels, and the longer side shrunk to 1024 px after decoding. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBytes: 20_000_000,
  maxPixels: 50_000_000,
  maxSide: 1024,
};

/**
 * Identify the container from its first bytes. The extension and the declared content type
 * are never trusted: a `.jpg` that is really an SVG is refused as an SVG.
 */
/**
 * One complete, checked set of limits from layers of partial ones (later layers win, undefined
 * entries are ignored): what an app or a server declares once, enforces and reports.
 */
export function resolveLimits(...layers: (Partial<DecodeLimits> | undefined)[]): DecodeLimits {
  const out: DecodeLimits = { ...DEFAULT_DECODE_LIMITS };
  for (const layer of layers) {
    for (const key of Object.keys(DEFAULT_DECODE_LIMITS) as (keyof DecodeLimits)[]) {
      const v = layer?.[key];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 1)
        throw new ImgclassError('BAD_OPTION', `limit ${key} must be a positive number, not ${String(v)}`);
      out[key] = v;
    }
  }
  return out;
}

/** The image format from the first bytes, never from a name or a content type; formats imgclass refuses (SVG, PDF, HEIC, BMP, …) come back as `{ rejected }` with the reason. */
export function sniffFormat(buf: Uint8Array): ImageFormat | { rejected: string } {
  const b = buf;
  const ascii = (start: number, len: number) => String.fromCharCode(...b.subarray(start, start + len));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'webp';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)))
    return 'tiff';
  if (b.length >= 12 && ascii(4, 4) === 'ftyp' && ['avif', 'avis'].includes(ascii(8, 4))) return 'avif';
  if (b.length >= 5 && ascii(0, 5) === '%PDF-') return { rejected: 'PDF documents are not accepted; upload a photo (JPEG, PNG, WebP, GIF, TIFF or AVIF)' };
  const head = new TextDecoder()
    .decode(b.subarray(0, 1024))
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (head.startsWith('<svg') || ((head.startsWith('<?xml') || head.startsWith('<!doctype svg')) && head.includes('<svg'))) {
    return {
      rejected: 'SVG images are not accepted (vector graphics can carry scripts and have no fixed pixels); upload a photo (JPEG, PNG, WebP, GIF, TIFF or AVIF)',
    };
  }
  if (b.length >= 12 && ascii(4, 4) === 'ftyp') return { rejected: 'HEIC/HEIF and video containers are not supported; convert to JPEG or PNG' };
  if (b.length >= 2 && ascii(0, 2) === 'BM') return { rejected: 'BMP images are not supported; convert to PNG or JPEG' };
  return { rejected: 'not an image: the content is not JPEG, PNG, WebP, GIF, TIFF or AVIF' };
}

export function tooManyBytes(size: number, maxBytes: number): ImgclassError {
  return new ImgclassError('TOO_MANY_BYTES', `image is ${(size / 1e6).toFixed(1)} MB; the limit is ${(maxBytes / 1e6).toFixed(1)} MB`);
}

/** Empty, too large, or not a supported image: refused here with a precise code. Returns the format. */
export function checkUpload(input: Uint8Array, lim: DecodeLimits): ImageFormat {
  if (input.length === 0) throw new ImgclassError('EMPTY_INPUT', 'empty input: no image data was received');
  if (input.length > lim.maxBytes) throw tooManyBytes(input.length, lim.maxBytes);
  const sniffed = sniffFormat(input);
  if (typeof sniffed !== 'string') {
    const code = sniffed.rejected.startsWith('not an image') ? 'NOT_AN_IMAGE' : 'UNSUPPORTED_FORMAT';
    throw new ImgclassError(code, sniffed.rejected);
  }
  return sniffed;
}

export function checkPixels(w: number, h: number, lim: DecodeLimits): void {
  if (w * h > lim.maxPixels) {
    throw new ImgclassError(
      'TOO_MANY_PIXELS',
      `image is ${w}×${h} = ${((w * h) / 1e6).toFixed(1)} megapixels; the limit is ${(lim.maxPixels / 1e6).toFixed(1)} megapixels`,
    );
  }
}

/**
 * A JPEG or PNG whose end marker is missing was cut short. libvips (failOn 'truncated') refuses
 * such files; browsers decode them silently with the missing part grey, so device mode checks the
 * container's end itself.
 */
export function isTruncated(b: Uint8Array, format: ImageFormat): boolean {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--; // some encoders pad with zeros after the end marker
  if (format === 'jpeg') return !(end >= 2 && b[end - 2] === 0xff && b[end - 1] === 0xd9);
  if (format === 'png') return !new TextDecoder('latin1').decode(b.subarray(Math.max(0, end - 12), end)).includes('IEND');
  return false;
}
