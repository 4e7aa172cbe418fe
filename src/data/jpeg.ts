import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { MozJPEGModule } from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import type { RgbImage } from './pixels.js';

/**
 * Plain JPEGs decoded without sharp. sharp's decode is libjpeg-turbo's, but every call also pays
 * libvips' pipeline set-up, a header read and a hop to libuv's thread pool: 2.3 ms for a
 * 298×224 Imagewoof photo, of which an 8×8 JPEG still costs 1.0–1.4 ms (docs/startup.md). Here
 * the same libjpeg-turbo code (mozjpeg's decoder, a fork of it, built to WebAssembly by
 * @jsquash/jpeg) runs on the calling thread: 1.0 ms for that photo, and byte for byte sharp's
 * pixels (test/jpeg.test.ts compares them on real photos).
 *
 * Only the JPEGs for which sharp's whole decode (data/image.ts) is libjpeg's output unchanged come
 * this way: 8-bit, three components (YCbCr), no EXIF rotation, no ICC profile to convert, no
 * Adobe marker (CMYK or RGB transforms), no larger than the downscale limit, and decoded without a
 * single libjpeg warning (a truncated or damaged file). Everything else returns undefined and
 * goes to sharp, which decodes it or refuses it with its precise error, as before.
 */

/** What the markers before the scan say about a JPEG. */
export interface JpegHeader {
  width: number;
  height: number;
  /** 8 for ordinary JPEGs; 12-bit and lossless ones are not plain. */
  precision: number;
  components: number;
  /** EXIF orientation, 1 (upright) when absent. */
  orientation: number;
  /** An embedded ICC profile (APP2 ICC_PROFILE): sharp converts the pixels through it to sRGB. */
  icc: boolean;
  /** An Adobe APP14 marker: its transform flag can make the three components RGB or YCCK. */
  adobe: boolean;
  /** Baseline (SOF0), extended (SOF1) or progressive (SOF2) Huffman coding. */
  huffman: boolean;
}

const SOF_HUFFMAN = new Set([0xc0, 0xc1, 0xc2]);
const SOF_OTHER = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** Reads the markers up to the first scan; undefined when the structure is not what a JPEG's should be. */
export function readJpegHeader(b: Uint8Array): JpegHeader | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  const h: Partial<JpegHeader> & { orientation: number; icc: boolean; adobe: boolean } = { orientation: 1, icc: false, adobe: false };
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0xd9 || (marker >= 0xd0 && marker <= 0xd7)) return undefined; // no SOI, EOI or RST before the scan
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    const start = i + 4;
    const end = i + 2 + len;
    if (len < 2 || end > b.length) return undefined;
    if (marker === 0xda) return h.width !== undefined ? (h as JpegHeader) : undefined; // SOS: the header is complete
    if (SOF_HUFFMAN.has(marker) || SOF_OTHER.has(marker)) {
      if (h.width !== undefined || len < 8) return undefined;
      h.precision = b[start]!;
      h.height = (b[start + 1]! << 8) | b[start + 2]!;
      h.width = (b[start + 3]! << 8) | b[start + 4]!;
      h.components = b[start + 5]!;
      h.huffman = SOF_HUFFMAN.has(marker);
    } else if (marker === 0xe1 && ascii(b, start, 6) === 'Exif\0\0') {
      const o = exifOrientation(b.subarray(start + 6, end));
      if (o === undefined) return undefined;
      h.orientation = o;
    } else if (marker === 0xe2 && ascii(b, start, 12) === 'ICC_PROFILE\0') {
      h.icc = true;
    } else if (marker === 0xee && ascii(b, start, 5) === 'Adobe') {
      h.adobe = true;
    }
    i = end;
  }
  return undefined;
}

function ascii(b: Uint8Array, at: number, n: number): string {
  return at + n <= b.length ? String.fromCharCode(...b.subarray(at, at + n)) : '';
}

/** The orientation tag (0x0112) of IFD0 in an EXIF block (a TIFF structure); 1 when absent, undefined when unreadable. */
function exifOrientation(t: Uint8Array): number | undefined {
  if (t.length < 8) return undefined;
  const little = t[0] === 0x49 && t[1] === 0x49;
  if (!little && !(t[0] === 0x4d && t[1] === 0x4d)) return undefined;
  const view = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const u16 = (at: number) => view.getUint16(at, little);
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > t.length) return undefined;
  const count = u16(ifd);
  for (let k = 0; k < count; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > t.length) return undefined;
    if (u16(e) === 0x0112) return u16(e + 8);
  }
  return 1;
}

/**
 * The largest photo decoded here: the WebAssembly heap grows to hold a decode and never shrinks, so
 * a host given a larger downscale limit still keeps it to ~4 MP (16 MB of RGBA); larger goes to sharp.
 */
export const PLAIN_MAX_PIXELS = 2048 * 2048;

/** Whether sharp's decode of a JPEG with this header is libjpeg's plain output (see the module's comment). */
export function isPlainJpeg(h: JpegHeader, maxSide: number): boolean {
  return (
    h.precision === 8 &&
    h.components === 3 &&
    h.huffman &&
    h.orientation === 1 &&
    !h.icc &&
    !h.adobe &&
    Math.max(h.width, h.height) <= maxSide &&
    h.width * h.height <= PLAIN_MAX_PIXELS
  );
}

let module: Promise<MozJPEGModule> | undefined;
let unavailable = false;
let compiled: Promise<WebAssembly.Module> | undefined;
/** libjpeg's warnings and errors for the decode in progress (it prints them; it never returns them). */
const messages: string[] = [];

function decoder(): Promise<MozJPEGModule> {
  compiled ??= readFile(createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')).then((bytes) => WebAssembly.compile(bytes));
  module ??= (async () => {
    const [{ default: factory }, wasm] = await Promise.all([import('@jsquash/jpeg/codec/dec/mozjpeg_dec.js'), compiled!]);
    return factory({
      noInitialRun: true,
      instantiateWasm: (imports: WebAssembly.Imports, done: (i: WebAssembly.Instance) => void) => {
        const instance = new WebAssembly.Instance(wasm, imports);
        done(instance);
        return instance.exports;
      },
      print: (m: string) => messages.push(m),
      printErr: (m: string) => messages.push(m),
    } as Parameters<typeof factory>[0]);
  })();
  return module;
}

/**
 * Decodes a plain JPEG (`isPlainJpeg`) to RGB, exactly as libjpeg-turbo does; undefined when
 * libjpeg warned or failed, so that sharp decides (and words the error).
 */
export async function decodePlainJpeg(b: Uint8Array, h: JpegHeader): Promise<RgbImage | undefined> {
  if (unavailable) return undefined;
  let jpeg: MozJPEGModule;
  try {
    jpeg = await decoder();
  } catch {
    unavailable = true; // the package's files cannot be loaded here: sharp decodes every photo, as it did before
    return undefined;
  }
  messages.length = 0;
  let out: { data: Uint8ClampedArray; width: number; height: number } | null;
  try {
    out = jpeg.decode(b as Uint8Array<ArrayBuffer>, false);
  } catch {
    module = undefined; // libjpeg exited mid-decode: start the next one on a fresh instance
    return undefined;
  }
  if (!out || messages.length > 0 || out.width !== h.width || out.height !== h.height) return undefined;
  const rgba = out.data;
  const data = new Uint8Array(out.width * out.height * 3);
  for (let s = 0, d = 0; d < data.length; s += 4, d += 3) {
    data[d] = rgba[s]!;
    data[d + 1] = rgba[s + 1]!;
    data[d + 2] = rgba[s + 2]!;
  }
  return { data, width: out.width, height: out.height };
}
