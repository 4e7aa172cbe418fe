import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { createDogApp } from '../src/app/dog-app.js';
import { decodeImage } from '../src/data/image.js';
import { isImgclassError } from '../src/util/errors.js';
import { rng } from '../src/util/random.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

/**
 * Fuzzing the decode path and the app with mutants of real photos: bit flips, truncation at every
 * structural boundary (JPEG segments, PNG chunks, RIFF and ISO-BMFF boxes, GIF blocks, TIFF IFDs),
 * headers that lie about the size (smaller, larger, zero, huge), and wrong magic. Every mutant must
 * get an answer or an ImgclassError with a known code; the process must not die or hang, and its
 * memory must stay bounded. Seeded: the same ~1,050 mutants every run.
 */

type Mutant = { name: string; bytes: Buffer };
const random = rng(9);
const int = (n: number) => Math.floor(random() * n);

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** Offsets where a structure starts or a field ends, per container. */
function boundaries(fmt: string, b: Buffer): number[] {
  // every byte of the first 48 (signature and the first header fields), then each container's own structures
  const cuts = new Set<number>([...Array.from({ length: 48 }, (_, i) => i), b.length - 2, b.length - 1]);
  if (fmt === 'jpeg') {
    for (let i = 2; i + 3 < b.length;) {
      if (b[i] !== 0xff) break;
      const marker = b[i + 1]!;
      [i, i + 1, i + 2, i + 4, i + 9].forEach((c) => cuts.add(c));
      if (marker === 0xda) {
        // entropy-coded data: cut at its start, a quarter, half, near the end
        for (const f of [0.1, 0.25, 0.5, 0.9]) cuts.add(i + Math.floor((b.length - i) * f));
        break;
      }
      i += 2 + b.readUInt16BE(i + 2);
    }
  } else if (fmt === 'png') {
    for (let i = 8; i + 8 <= b.length;) {
      const len = b.readUInt32BE(i);
      [i, i + 4, i + 8, i + 8 + (len >> 1), i + 8 + len, i + 12 + len - 1].forEach((c) => cuts.add(c));
      i += 12 + len;
    }
  } else if (fmt === 'webp') {
    for (let i = 12; i + 8 <= b.length;) {
      const len = b.readUInt32LE(i + 4);
      [i, i + 4, i + 8, i + 8 + (len >> 1), i + 8 + len].forEach((c) => cuts.add(c));
      i += 8 + len + (len & 1);
    }
  } else if (fmt === 'avif') {
    const boxes = (start: number, end: number, depth: number) => {
      for (let i = start; i + 8 <= end;) {
        const len = b.readUInt32BE(i);
        const type = b.toString('latin1', i + 4, i + 8);
        if (len < 8) break;
        [i, i + 4, i + 8, i + (len >> 1), i + len - 1].forEach((c) => cuts.add(c));
        if (depth < 3 && ['meta', 'iprp', 'ipco', 'iinf', 'dinf'].includes(type)) boxes(i + (type === 'meta' ? 12 : 8), i + len, depth + 1);
        i += len;
      }
    };
    boxes(0, b.length, 0);
  } else if (fmt === 'gif') {
    [6, 10, 13].forEach((c) => cuts.add(c));
    let i = 13 + (b[10]! & 0x80 ? 3 * (1 << ((b[10]! & 7) + 1)) : 0);
    while (i < b.length) {
      cuts.add(i);
      if (b[i] === 0x3b) break;
      if (b[i] === 0x21) i += 2;
      else if (b[i] === 0x2c) {
        const packed = b[i + 9]!;
        i += 10 + (packed & 0x80 ? 3 * (1 << ((packed & 7) + 1)) : 0) + 1; // descriptor, local table, LZW size
      } else break;
      while (i < b.length && b[i] !== 0) {
        cuts.add(i);
        cuts.add(i + (b[i]! >> 1));
        i += b[i]! + 1;
      }
      i++;
    }
  } else if (fmt === 'tiff') {
    const ifd = b.readUInt32LE(4);
    const n = b.readUInt16LE(ifd);
    for (let e = 0; e <= n; e++) cuts.add(ifd + 2 + 12 * e);
    cuts.add(ifd);
    for (const f of [0.1, 0.5, 0.9]) cuts.add(Math.floor(b.length * f));
  }
  return [...cuts].filter((c) => c >= 0 && c < b.length).sort((x, y) => x - y);
}

/** The same container claiming another width and height (with valid checksums where there are any). */
function withSize(fmt: string, src: Buffer, w: number, h: number): Buffer | null {
  const b = Buffer.from(src);
  if (fmt === 'jpeg') {
    for (let i = 2; i + 9 < b.length;) {
      const m = b[i + 1]!;
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        b.writeUInt16BE(Math.min(h, 0xffff), i + 5);
        b.writeUInt16BE(Math.min(w, 0xffff), i + 7);
        return b;
      }
      i += 2 + b.readUInt16BE(i + 2);
    }
    return null;
  }
  if (fmt === 'png') {
    b.writeUInt32BE(Math.min(w, 0x7fffffff), 16);
    b.writeUInt32BE(Math.min(h, 0x7fffffff), 20);
    b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
    return b;
  }
  if (fmt === 'gif') {
    b.writeUInt16LE(Math.min(w, 0xffff), 6);
    b.writeUInt16LE(Math.min(h, 0xffff), 8);
    return b;
  }
  if (fmt === 'webp' && b.toString('latin1', 12, 16) === 'VP8 ') {
    b.writeUInt16LE(Math.min(w, 0x3fff), 26);
    b.writeUInt16LE(Math.min(h, 0x3fff), 28);
    return b;
  }
  if (fmt === 'tiff') {
    const ifd = b.readUInt32LE(4);
    for (let e = 0; e < b.readUInt16LE(ifd); e++) {
      const at = ifd + 2 + 12 * e;
      const tag = b.readUInt16LE(at);
      const type = b.readUInt16LE(at + 2);
      if (tag !== 256 && tag !== 257) continue;
      if (type === 3) b.writeUInt16LE(Math.min(tag === 256 ? w : h, 0xffff), at + 8);
      else b.writeUInt32LE(tag === 256 ? w : h, at + 8);
    }
    return b;
  }
  if (fmt === 'avif') {
    const at = b.indexOf('ispe', 0, 'latin1');
    if (at < 0) return null;
    b.writeUInt32BE(w, at + 8);
    b.writeUInt32BE(h, at + 12);
    return b;
  }
  return null;
}

const MAGIC: Record<string, Buffer> = {
  jpeg: Buffer.from([0xff, 0xd8, 0xff]),
  png: Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
  gif: Buffer.from('GIF89a'),
  webp: Buffer.from('RIFF\0\0\0\0WEBP'),
  tiff: Buffer.from('II*\0'),
  pdf: Buffer.from('%PDF-1.4\n'),
  bmp: Buffer.from('BM'),
  svg: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg">'),
  zero: Buffer.alloc(8),
};

function mutants(fmt: string, seed: Buffer, w: number, h: number): Mutant[] {
  const out: Mutant[] = [];
  const add = (name: string, bytes: Buffer | null) => bytes && out.push({ name: `${fmt} ${name}`, bytes });
  for (const cut of boundaries(fmt, seed)) add(`truncated at ${cut}/${seed.length}`, seed.subarray(0, cut));
  for (let k = 0; k < 56; k++) {
    const b = Buffer.from(seed);
    const flips = [1, 2, 8, 32][k % 4]!;
    // three in four flips hit the headers (the first 10%), where they do the most damage; the rest
    // land anywhere (mostly compressed pixel data, which decoders tend to survive)
    for (let f = 0; f < flips; f++) {
      const at = k % 4 ? int(Math.max(16, seed.length / 10)) : int(seed.length);
      b[at]! ^= 1 << int(8);
    }
    add(`${flips} bit flips #${k}`, b);
  }
  for (const [lw, lh] of [
    [0, h],
    [w, 0],
    [1, 1],
    [w * 2, h * 2],
    [Math.ceil(w / 2), Math.ceil(h / 2)],
    [w + 1, h],
    [65535, 65535],
    [1_000_000, 1_000_000],
    [0x40000000, 1],
  ] as const)
    add(`declares ${lw}×${lh}`, withSize(fmt, seed, lw, lh));
  for (const [name, magic] of Object.entries(MAGIC)) {
    if (name === fmt) continue;
    const b = Buffer.from(seed);
    magic.copy(b, 0);
    add(`magic of ${name}`, b);
  }
  add("body after another container's magic", Buffer.concat([MAGIC.png!, seed.subarray(MAGIC[fmt]?.length ?? 4)]));
  add('seed twice', Buffer.concat([seed, seed]));
  add('trailing garbage', Buffer.concat([seed, Buffer.alloc(4096, 0xab)]));
  add('only the magic', MAGIC[fmt] ?? seed.subarray(0, 4));
  return out;
}

/** A PNG whose IDAT inflates to 1 GB of zeros: a zip bomb in a few KB behind an honest small header. */
function pngBomb(): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(tb));
    return Buffer.concat([len, tb, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(4000, 0);
  ihdr.writeUInt32BE(4000, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([MAGIC.png!, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64 * 1024 * 1024))), chunk('IEND', Buffer.alloc(0))]);
}

test('fuzz: ~1,050 mutants of real photos through decoding and the app: an answer or an ImgclassError, never a crash, bounded memory', async (t) => {
  const data = sharedDataDir();
  const dog = await readFile(sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[4]!.file);
  const face = await readFile(sampleClassFolders(path.join(data, 'lfw'), 1)[7]!.file);
  const thing = await readFile(sampleClassFolders(path.join(data, 'negatives'), 1)[2]!.file);
  const small = (b: Buffer, side: number) => sharp(b).resize(side, side, { fit: 'inside' });
  const seeds: [string, Buffer][] = [
    ['jpeg', dog],
    ['jpeg', face],
    ['png', await small(face, 64).png().toBuffer()],
    ['webp', await small(thing, 96).webp().toBuffer()],
    ['gif', await small(face, 48).gif().toBuffer()],
    ['tiff', await small(thing, 48).tiff().toBuffer()],
    ['avif', await small(dog, 64).avif({ effort: 0 }).toBuffer()],
  ];
  const all: Mutant[] = [];
  for (const [fmt, seed] of seeds) {
    const m = await sharp(seed).metadata();
    all.push(...mutants(fmt, seed, m.width!, m.height!));
  }
  all.push({ name: 'png zip bomb (4000×4000 header, 64 MB of zeros)', bytes: pngBomb() });
  assert.ok(all.length >= 1000, `${all.length} mutants`);

  const app = await createDogApp({ flipAverage: false });
  const KNOWN = new Set(['EMPTY_INPUT', 'NOT_AN_IMAGE', 'UNSUPPORTED_FORMAT', 'CORRUPT_IMAGE', 'TOO_MANY_BYTES', 'TOO_MANY_PIXELS']);
  const codes: Record<string, number> = {};
  const bad: string[] = [];
  let answered = 0;
  let slowest = { ms: 0, name: '' };
  let rssWarm = 0;
  let rssMax = 0;
  try {
    for (const [i, m] of all.entries()) {
      const t0 = performance.now();
      let decodedCode: string | null = null;
      try {
        await decodeImage(m.bytes);
      } catch (e) {
        if (!isImgclassError(e) || !KNOWN.has(e.code) || !e.message) bad.push(`${m.name}: decode threw ${String(e)}`);
        else decodedCode = e.code;
      }
      try {
        const r = await app.classify(m.bytes);
        assert.ok(['dog', 'human', 'both', 'neither'].includes(r.kind) && r.message.length > 0);
        if (decodedCode) bad.push(`${m.name}: the app answered what decoding refused (${decodedCode})`);
        answered++;
      } catch (e) {
        if (!isImgclassError(e) || !KNOWN.has(e.code) || !e.message) bad.push(`${m.name}: app threw ${String(e)}`);
        else codes[e.code] = (codes[e.code] ?? 0) + 1;
      }
      const ms = performance.now() - t0;
      if (ms > slowest.ms) slowest = { ms, name: m.name };
      const rss = process.memoryUsage().rss;
      if (i === 50) rssWarm = rss;
      rssMax = Math.max(rssMax, rss);
    }
  } finally {
    app.dispose();
  }
  const mb = (b: number) => Math.round(b / 1e6);
  const summary =
    `${all.length} mutants: ${answered} answered, refused ${JSON.stringify(codes)}; slowest ` +
    `${Math.round(slowest.ms)} ms (${slowest.name}); RSS ${mb(rssWarm)} MB after warm-up, max ${mb(rssMax)} MB`;
  t.diagnostic(summary);
  assert.deepEqual(bad, [], summary);
  assert.ok(answered > 50 && Object.keys(codes).length >= 4, `both outcomes exercised: ${summary}`);
  assert.ok(slowest.ms < 15_000, `no mutant hangs the decoder: ${summary}`);
  assert.ok(rssMax - rssWarm < 400e6, `memory stays bounded: ${summary}`);
});
