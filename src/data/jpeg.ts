import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { nativePixels } from './native-pixels.js';
import type { RgbImage } from './pixels.js';

/**
 * Plain JPEGs decoded without sharp. sharp's decode is libjpeg-turbo's, but every call also pays
 * libvips' pipeline set-up, a header read and a hop to libuv's thread pool: 2.3 ms for a
 * 298×224 Imagewoof photo, of which an 8×8 JPEG still costs 1.0–1.4 ms (docs/startup.md). Here
 * libjpeg-turbo itself runs on the calling thread, RGB out: the system's, with its SIMD, through a
 * small native module where one could be built at install (data/native-pixels.ts: 0.45 ms for that
 * photo), else version 3.2 built to WebAssembly by @cornerstonejs/codec-libjpeg-turbo-8bit (0.8–0.9
 * ms; sharp links a libjpeg-turbo fork of 2024). Both give sharp's pixels byte for byte on real
 * photos and on progressive files cut short between scans (test/jpeg.test.ts). Hand-made files with
 * quantisation values no encoder writes can decode a few levels apart in WebAssembly (sharp's x86
 * SIMD and the portable C code round overflows apart); every decoder accepts them.
 *
 * Only the JPEGs for which sharp's whole decode (data/image.ts) is libjpeg's output unchanged come
 * this way: 8-bit, three components, Huffman-coded, no EXIF rotation, no ICC profile to convert,
 * no Adobe marker (CMYK or RGB transforms), no larger than the downscale limit, and decoded without
 * a single libjpeg warning (TurboJPEG fails a decode that warned: a truncated or damaged file).
 * Everything else returns undefined and goes to sharp, which decodes it or refuses it with its
 * precise error, as before.
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
  /** Progressive (SOF2): a file cut short between scans is decoded from the scans it has. */
  progressive: boolean;
}

const SOF_HUFFMAN = new Set([0xc0, 0xc1, 0xc2]);
const SOF_OTHER = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** Reads the markers up to the first scan; undefined when the structure is not what a JPEG's should be. */
export function readJpegHeader(b: Uint8Array): JpegHeader | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  const h: Partial<JpegHeader> & { orientation: number; icc: boolean; adobe: boolean } = { orientation: 1, icc: false, adobe: false };
  let exifSeen = false;
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
      h.progressive = marker === 0xc2;
    } else if (marker === 0xe1 && ascii(b, start, 6) === 'Exif\0\0') {
      // libvips reads the first EXIF block; two of them are too odd to second-guess: sharp decides
      if (exifSeen) return undefined;
      exifSeen = true;
      const o = exifOrientation(b.subarray(start + 6, end));
      if (o === undefined) return undefined;
      h.orientation = o;
    } else if (marker === 0xe2 && ascii(b, start, 11) === 'ICC_PROFILE') {
      // libvips takes any APP2 that starts with these 11 bytes for a profile (it checks no NUL after them)
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

/** The part of the codec's embind API used here. */
interface JpegDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; componentCount: number; bitsPerSample: number };
  getDecodedBuffer(): Uint8Array;
}
type CodecFactory = (o: object) => Promise<{ JPEGDecoder: new () => JpegDecoder }>;

const PACKAGE = '@cornerstonejs/codec-libjpeg-turbo-8bit';
let decoding: Promise<JpegDecoder> | undefined;
let unavailable = false;

function decoder(): Promise<JpegDecoder> {
  decoding ??= (async () => {
    // The codec's glue is CommonJS and finds its .wasm beside itself; it is compiled here from the
    // bytes instead, so nothing is fetched or looked up by URL.
    const require = createRequire(import.meta.url);
    const wasm = await WebAssembly.compile(await readFile(require.resolve(`${PACKAGE}/decodewasm`)));
    const factory = require(`${PACKAGE}/decodewasmjs`) as CodecFactory;
    const quiet = () => {};
    const codec = await factory({
      instantiateWasm: (imports: WebAssembly.Imports, done: (i: WebAssembly.Instance) => void) => {
        const instance = new WebAssembly.Instance(wasm, imports);
        done(instance);
        return instance.exports;
      },
      print: quiet,
      printErr: quiet,
    });
    return new codec.JPEGDecoder();
  })();
  return decoding;
}

/** Which libjpeg-turbo decodes plain JPEGs: the native one where it was built (data/native-pixels.ts), else the WebAssembly build. */
export type PlainDecoder = 'native' | 'wasm';

/**
 * Decodes a plain JPEG (`isPlainJpeg`) to RGB, exactly as libjpeg-turbo does; undefined when
 * libjpeg warned or failed, so that sharp decides (and words the error). The native decoder goes
 * first where it is built; a file it declines goes to the WebAssembly build, which decodes the one
 * kind it leaves on purpose (a progressive file cut short between scans, native/pixels.c) as
 * sharp does. `via` picks one decoder (the tests compare both).
 */
export async function decodePlainJpeg(b: Uint8Array, h: JpegHeader, via?: PlainDecoder): Promise<RgbImage | undefined> {
  if (via === 'wasm' || (via === undefined && plainDecoder() === 'wasm')) return decodeWasm(b, h);
  return decodeNative(b, h) ?? (via === undefined && h.progressive ? decodeWasm(b, h) : undefined);
}

/** The decoder `decodePlainJpeg` tries first. */
export const plainDecoder = (): PlainDecoder => (nativePixels() ? 'native' : 'wasm');

function decodeNative(b: Uint8Array, h: JpegHeader): RgbImage | undefined {
  const native = nativePixels();
  if (!native) throw new Error('the native JPEG decoder is not built here (scripts/build-native.js)');
  const data = new Uint8Array(h.width * h.height * 3);
  return native.decode(b, data) ? { data, width: h.width, height: h.height } : undefined;
}

async function decodeWasm(b: Uint8Array, h: JpegHeader): Promise<RgbImage | undefined> {
  if (unavailable) return undefined;
  let jpeg: JpegDecoder;
  try {
    jpeg = await decoder();
  } catch {
    unavailable = true; // the codec cannot be loaded here: sharp decodes every photo, as it did before
    return undefined;
  }
  try {
    jpeg.getEncodedBuffer(b.length).set(b);
    jpeg.decode();
    const frame = jpeg.getFrameInfo();
    if (frame.width !== h.width || frame.height !== h.height || frame.componentCount !== 3 || frame.bitsPerSample !== 8) return undefined;
    // a view into the WebAssembly heap: copied out before the next decode reuses it
    return { data: jpeg.getDecodedBuffer().slice(), width: frame.width, height: frame.height };
  } catch {
    decoding = undefined; // libjpeg failed or warned mid-decode: the next photo gets a fresh instance
    return undefined;
  }
}
