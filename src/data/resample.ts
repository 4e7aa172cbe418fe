import { cropPixels, resizedSize, type ResizeMode, type RgbImage } from './pixels.js';

/**
 * A pure-TypeScript resize that reproduces what the server's sharp pipeline (sharp 0.35, libvips
 * 8.18 `vips_resize` with `vscale`, SIMD build) does to an RGB photo, byte for byte, so the
 * browser's device mode feeds the models the same pixels the server would. Canvas scaling cannot
 * be used for that: its filter is unspecified and differs between browsers.
 *
 * libvips' algorithm, as followed here (read from its source, each step confirmed against sharp):
 * - sharp asks for scale 1/hshrink horizontally and 1/vshrink vertically (one factor for both
 *   axes when the aspect is kept, then its centre crop: offset ⌊(excess + 1) / 2⌋). Each axis that
 *   shrinks is reduced, vertically first; if any axis grows, one `vips_affine` follows.
 * - A reduce by f first box-averages by k = ⌊size / round(size / f) / 2⌋ when k ≥ 2 (the "gap" of
 *   2; the box rounds the size up, repeats the edge pixel, and divides the SIMD way:
 *   ((sum + ⌊k/2⌋) · ⌊2³² / 256k⌋) >> 24, which is not exact division for odd k). Then it convolves
 *   with the kernel stretched by the residual factor r: 2·rint(r)+1 taps (a triangle for `linear`,
 *   a 3-lobe windowed sinc for `lanczos3`), evaluated at positions quantised to 1/64 pixel,
 *   normalised, scaled by 4096 and *truncated* (so the taps sum to a little under 4096), summed
 *   with +2048 and shifted by 12, clamped to 0..255. Output o is centred on (o + ½)·r − ½ − e/2,
 *   e being the excess of the rounded output size (size_out·r − size_in).
 * - Enlarging is `vips_affine` with libvips' bilinear interpolator on both axes at once (the
 *   non-growing one at scale 1): input position x/scale − ½, not pixel-centre aligned, so even an
 *   axis at scale 1 is shifted half a pixel and averaged with its neighbour; 12-bit fractions,
 *   weights (fy·fx) >> 12, (4096 − fy)·fx >> 12 and the complements, one rounding. The inverse
 *   scale is libvips' (1 / (a·d)) · d, not 1 / a; the output size rounds half up.
 * - libvips computes in regions and recomputes positions at each region's edge, accumulating the
 *   factor in between, so where a position falls exactly on the 1/128 mask grid the region
 *   layout decides the rounding: sharp's output is computed in full-width strips 16 rows high, or
 *   in 128×128 tiles once a vertical box shrink is in the pipeline; a crop moves the edges too.
 * Measured in test/resample.test.ts: byte-exact with sharp (Buffer.compare) for `linear` in every
 * mode — shrinks from 1.1× to 13× (box pre-shrinks of 2, 3, 4 and up), enlargements, one axis
 * shrinking while the other grows — on photos and on noise, at the pipeline's sizes and at random
 * sizes, and for `lanczos3` shrinks (fitInside, the decode cap). Not covered: enlarging with
 * `lanczos3` (libvips would use its bicubic interpolator; this uses the bilinear one).
 */
export type Kernel = 'linear' | 'lanczos3';

/**
 * The inner loops, where a host has them in native code (Node: data/native-pixels.ts, the same
 * integer arithmetic in C, the same bytes: test/resample.test.ts). This module plans the taps and
 * weights either way; the browser runs the loops below.
 */
export interface ResampleKernels {
  /** `rows` output rows of a vertical reduce: columns [x0, x1) of `rowLen` bytes, taps `idx` (input rows) and `wts`, `n` a row. */
  reduceRows(src: Uint8Array, out: Uint8Array, idx: Int32Array, wts: Int32Array, n: number, rows: number, rowLen: number, x0: number, x1: number): void;
  /** Every row's `ow` RGB outputs of a horizontal reduce: taps `idx` (byte offsets in a row of `inRowLen`) and `wts`, `n` an output. */
  reduceCols(src: Uint8Array, out: Uint8Array, idx: Int32Array, wts: Int32Array, n: number, inRowLen: number, ow: number, height: number): void;
  /** affineBilinear's rows: per output row the input rows' byte offsets and fraction, per column the same; written from byte `at`. */
  affineRows(
    src: Uint8Array,
    out: Uint8Array,
    r0: Int32Array,
    r1: Int32Array,
    fy: Int32Array,
    x0: Int32Array,
    x1: Int32Array,
    fx: Int32Array,
    ow: number,
    oh: number,
    at: number,
  ): void;
}

let kernels: ResampleKernels | null = null;

/** Runs the inner loops with `native` from now on (null: the TypeScript loops). */
export function useResampleKernels(native: ResampleKernels | null): void {
  kernels = native;
}

/** The height of the strips libvips computes a pipeline in (vips__fatstrip_height). */
const STRIP = 16;
/** The side of the tiles it computes in when a stage asks for small tiles (vips__tile_width). */
const TILE = 128;

/** C's rint(): round half to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The 65 integer masks (1/64-pixel positions) libvips precomputes for one reduce. */
function makeMasks(kernel: Kernel, n: number, shrink: number): Int32Array {
  const masks = new Int32Array(65 * n);
  const c = new Float64Array(n);
  const half = (n - 2) / 2;
  for (let t = 0; t <= 64; t++) {
    const x = Math.fround(t / 64);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const xp = (i - half - x) / shrink;
      let l: number;
      if (kernel === 'linear') l = Math.max(0, 1 - Math.abs(xp));
      else if (xp === 0) l = 1;
      else if (xp < -3 || xp > 3) l = 0;
      else l = (3 * Math.sin(Math.PI * xp) * Math.sin((Math.PI * xp) / 3)) / (Math.PI * Math.PI * xp * xp);
      c[i] = l;
      sum += l;
    }
    for (let i = 0; i < n; i++) masks[t * n + i] = Math.trunc((c[i]! / sum) * 4096);
  }
  return masks;
}

/** Box-average by an integer factor along one axis (vips_shrinkh/v with ceil: edge pixel repeated). */
function boxShrink(img: RgbImage, f: number, horizontal: boolean): RgbImage {
  const { width: W, height: H, data: src } = img;
  const ow = horizontal ? Math.ceil(W / f) : W;
  const oh = horizontal ? H : Math.ceil(H / f);
  const out = new Uint8Array(ow * oh * 3);
  // libvips' SIMD path divides by multiplying: ((sum + ⌊f/2⌋) · ⌊2³² / (256·f)⌋) >> 24, which
  // is not (sum + ⌊f/2⌋) / f for factors other than powers of two.
  const half = f >> 1;
  const mult = Math.floor(4294967296 / (256 * f)) / 16777216;
  if (horizontal) {
    for (let y = 0; y < H; y++) {
      const row = y * W * 3;
      let d = y * ow * 3;
      for (let x = 0; x < ow; x++) {
        let r = half;
        let g = half;
        let b = half;
        for (let k = 0, sx = x * f; k < f; k++, sx++) {
          const s = row + (sx < W ? sx : W - 1) * 3;
          r += src[s]!;
          g += src[s + 1]!;
          b += src[s + 2]!;
        }
        out[d++] = Math.floor(r * mult);
        out[d++] = Math.floor(g * mult);
        out[d++] = Math.floor(b * mult);
      }
    }
  } else {
    const rowLen = W * 3;
    const acc = new Int32Array(rowLen);
    for (let y = 0; y < oh; y++) {
      acc.fill(half);
      for (let k = 0, sy = y * f; k < f; k++, sy++) {
        const s = (sy < H ? sy : H - 1) * rowLen;
        for (let i = 0; i < rowLen; i++) acc[i]! += src[s + i]!;
      }
      const d = y * rowLen;
      for (let i = 0; i < rowLen; i++) out[d + i] = Math.floor(acc[i]! * mult);
    }
  }
  return { data: out, width: ow, height: oh };
}

/** One vips_reduceh / vips_reducev by `shrink` (≥ 1) with vips_resize's gap of 2. */
interface Reduce {
  /** The integer box pre-shrink (1: none). */
  box: number;
  /** The output size along the axis. */
  size: number;
  /** The residual factor after the box, and the number of taps (0: the box was all of it). */
  shrink: number;
  n: number;
  pad: number;
  offset: number;
  masks: Int32Array;
}

function planReduce(inSize: number, shrinkIn: number, kernel: Kernel): Reduce {
  let shrink = shrinkIn;
  const size = Math.floor(inSize / shrink + 0.5);
  let extra = size * shrink - inSize;
  const box = Math.max(1, Math.floor(inSize / size / 2));
  if (box > 1) {
    shrink /= box;
    extra /= box;
  }
  if (shrink === 1) return { box, size, shrink, n: 0, pad: 0, offset: 0, masks: new Int32Array(0) };
  const n = 2 * rint(kernel === 'linear' ? shrink : 3 * shrink) + 1;
  return { box, size, shrink, n, pad: Math.ceil(n / 2) - 1, offset: (1 + extra) / 2 - 1, masks: makeMasks(kernel, n, shrink) };
}

/**
 * The taps of outputs [from, to) for a region libvips starts at `start` (≤ from): the position is
 * computed afresh there and accumulates the factor per output, as in vips_reduceh/v's generate.
 */
function taps(r: Reduce, inSize: number, from: number, to: number, start: number): { idx: Int32Array; wts: Int32Array } {
  const { n, shrink, pad, masks } = r;
  const idx = new Int32Array((to - from) * n);
  const wts = new Int32Array((to - from) * n);
  let P = (start + 0.5) * shrink - 0.5 - r.offset;
  for (let o = start; o < to; o++, P += shrink) {
    if (o < from) continue;
    const ip = Math.trunc(P);
    const t = ((Math.trunc(P * 128) & 127) + 1) >> 1;
    const b = (o - from) * n;
    for (let i = 0; i < n; i++) {
      const j = ip + i - pad;
      idx[b + i] = j < 0 ? 0 : j >= inSize ? inSize - 1 : j;
      wts[b + i] = masks[t * n + i]!;
    }
  }
  return { idx, wts };
}

/**
 * Output rows [from, to) of a vertical reduce (box pre-shrink already applied to `img`), for a
 * region libvips starts at `start`; only columns [c0, c1) are computed (the rest left zero).
 *
 * The loops over a row are small functions of their own, one per tap count: optimising compilers
 * compile a small function in about a millisecond, where this one with every variant inlined took
 * V8 ~30 ms, and a variant first met after compiling threw the code away (a cold `predict` of a
 * 640-px photo ran its first resize in the interpreter meanwhile: docs/startup.md, "Fifth round").
 * The unrolled 3-, 5- and 7-tap copies stay apart on purpose: through the generic loop a 1024×768
 * photo's 7-tap shrink to 224² took ~21 ms warm, unrolled ~9 ms.
 */
function reduceRows(img: RgbImage, r: Reduce, from: number, to: number, start: number, c0 = 0, c1 = img.width): RgbImage {
  const { width: W, data: src } = img;
  if (r.n === 0) return { data: src.subarray(from * W * 3, to * W * 3), width: W, height: to - from };
  const { idx, wts } = taps(r, img.height, from, to, start);
  const n = r.n;
  const rowLen = W * 3;
  const x0 = c0 * 3;
  const x1 = c1 * 3;
  const out = new Uint8Array((to - from) * rowLen);
  if (kernels) kernels.reduceRows(src, out, idx, wts, n, to - from, rowLen, x0, x1);
  else if (n === 3) for (let o = 0; o < to - from; o++) rowOf3(src, out, o * rowLen, idx, wts, o * 3, rowLen, x0, x1);
  else if (n === 5) for (let o = 0; o < to - from; o++) rowOf5(src, out, o * rowLen, idx, wts, o * 5, rowLen, x0, x1);
  else if (n === 7) for (let o = 0; o < to - from; o++) rowOf7(src, out, o * rowLen, idx, wts, o * 7, rowLen, x0, x1);
  else {
    const acc = new Int32Array(rowLen);
    for (let o = 0; o < to - from; o++) rowOfN(src, out, o * rowLen, idx, wts, o * n, n, rowLen, x0, x1, acc);
  }
  return { data: out, width: W, height: to - from };
}

/** One output row of a 3-tap vertical reduce: columns [x0, x1) of the weighted input rows, +2048, >> 12, clamped. */
function rowOf3(src: Uint8Array, out: Uint8Array, d: number, idx: Int32Array, wts: Int32Array, b: number, rowLen: number, x0: number, x1: number): void {
  const p0 = idx[b]! * rowLen;
  const p1 = idx[b + 1]! * rowLen;
  const p2 = idx[b + 2]! * rowLen;
  const w0 = wts[b]!;
  const w1 = wts[b + 1]!;
  const w2 = wts[b + 2]!;
  for (let x = x0; x < x1; x++) {
    const v = (w0 * src[p0 + x]! + w1 * src[p1 + x]! + w2 * src[p2 + x]! + 2048) >> 12;
    out[d + x] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/** The same with 5 taps (a linear reduce by 1.5–2.5 after the box). */
function rowOf5(src: Uint8Array, out: Uint8Array, d: number, idx: Int32Array, wts: Int32Array, b: number, rowLen: number, x0: number, x1: number): void {
  const p0 = idx[b]! * rowLen;
  const p1 = idx[b + 1]! * rowLen;
  const p2 = idx[b + 2]! * rowLen;
  const p3 = idx[b + 3]! * rowLen;
  const p4 = idx[b + 4]! * rowLen;
  const w0 = wts[b]!;
  const w1 = wts[b + 1]!;
  const w2 = wts[b + 2]!;
  const w3 = wts[b + 3]!;
  const w4 = wts[b + 4]!;
  for (let x = x0; x < x1; x++) {
    const v = (w0 * src[p0 + x]! + w1 * src[p1 + x]! + w2 * src[p2 + x]! + w3 * src[p3 + x]! + w4 * src[p4 + x]! + 2048) >> 12;
    out[d + x] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/** The same with 7 taps (a linear reduce by 2.5–3.5: a 1024-px photo to 224). */
function rowOf7(src: Uint8Array, out: Uint8Array, d: number, idx: Int32Array, wts: Int32Array, b: number, rowLen: number, x0: number, x1: number): void {
  const p0 = idx[b]! * rowLen;
  const p1 = idx[b + 1]! * rowLen;
  const p2 = idx[b + 2]! * rowLen;
  const p3 = idx[b + 3]! * rowLen;
  const p4 = idx[b + 4]! * rowLen;
  const p5 = idx[b + 5]! * rowLen;
  const p6 = idx[b + 6]! * rowLen;
  const w0 = wts[b]!;
  const w1 = wts[b + 1]!;
  const w2 = wts[b + 2]!;
  const w3 = wts[b + 3]!;
  const w4 = wts[b + 4]!;
  const w5 = wts[b + 5]!;
  const w6 = wts[b + 6]!;
  for (let x = x0; x < x1; x++) {
    const v =
      (w0 * src[p0 + x]! + w1 * src[p1 + x]! + w2 * src[p2 + x]! + w3 * src[p3 + x]! + w4 * src[p4 + x]! + w5 * src[p5 + x]! + w6 * src[p6 + x]! + 2048) >> 12;
    out[d + x] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/** The same with any number of taps, summed tap by tap into `acc` (a row's worth of scratch). */
function rowOfN(
  src: Uint8Array,
  out: Uint8Array,
  d: number,
  idx: Int32Array,
  wts: Int32Array,
  b: number,
  n: number,
  rowLen: number,
  x0: number,
  x1: number,
  acc: Int32Array,
): void {
  acc.fill(2048);
  for (let i = 0; i < n; i++) {
    const w = wts[b + i]!;
    if (w === 0) continue;
    const s = idx[b + i]! * rowLen;
    for (let x = x0; x < x1; x++) acc[x]! += w * src[s + x]!;
  }
  for (let x = x0; x < x1; x++) {
    const v = acc[x]! >> 12;
    out[d + x] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/** The input columns [first, last + 1) a horizontal reduce of outputs [from, to) reads. */
function colsRead(r: Reduce | undefined, inSize: number, from: number, to: number): [number, number] {
  if (!r || r.n === 0) return [from * (r?.box ?? 1), Math.min(inSize, to * (r?.box ?? 1))];
  const { idx } = taps(r, Math.ceil(inSize / r.box), from, to, from);
  let lo = Infinity;
  let hi = -Infinity;
  for (const i of idx) {
    lo = Math.min(lo, i);
    hi = Math.max(hi, i);
  }
  return [lo * r.box, Math.min(inSize, (hi + 1) * r.box)];
}

/** Output columns [from, to) of a horizontal reduce (box pre-shrink already applied), every row; libvips' region starts at `from`. */
function reduceCols(img: RgbImage, r: Reduce, from: number, to: number, tile = Infinity): RgbImage {
  const { width: W, height: H, data: src } = img;
  const ow = to - from;
  if (r.n === 0) return cropPixels(img, { x: from, y: 0, width: ow, height: H });
  const n = r.n;
  const idx = new Int32Array(ow * n);
  const wts = new Int32Array(ow * n);
  for (let a = from; a < to; a += tile) {
    const b = Math.min(to, a + tile);
    const t = taps(r, W, a, b, a);
    idx.set(t.idx, (a - from) * n);
    wts.set(t.wts, (a - from) * n);
  }
  for (let i = 0; i < idx.length; i++) idx[i] = idx[i]! * 3;
  const out = new Uint8Array(ow * H * 3);
  // one small function per row, as in reduceRows (the common 5-tap case unrolled)
  if (kernels) kernels.reduceCols(src, out, idx, wts, n, W * 3, ow, H);
  else if (n === 5) for (let y = 0; y < H; y++) colsOf5(src, y * W * 3, out, y * ow * 3, idx, wts, ow);
  else for (let y = 0; y < H; y++) colsOfN(src, y * W * 3, out, y * ow * 3, idx, wts, ow, n);
  return { data: out, width: ow, height: H };
}

/** One row of a 5-tap horizontal reduce: `ow` RGB outputs from the input row at `row`, written at `d`. */
function colsOf5(src: Uint8Array, row: number, out: Uint8Array, d: number, idx: Int32Array, wts: Int32Array, ow: number): void {
  for (let o = 0, b0 = 0; o < ow; o++, b0 += 5) {
    const s0 = row + idx[b0]!;
    const s1 = row + idx[b0 + 1]!;
    const s2 = row + idx[b0 + 2]!;
    const s3 = row + idx[b0 + 3]!;
    const s4 = row + idx[b0 + 4]!;
    const w0 = wts[b0]!;
    const w1 = wts[b0 + 1]!;
    const w2 = wts[b0 + 2]!;
    const w3 = wts[b0 + 3]!;
    const w4 = wts[b0 + 4]!;
    const red = (2048 + w0 * src[s0]! + w1 * src[s1]! + w2 * src[s2]! + w3 * src[s3]! + w4 * src[s4]!) >> 12;
    const green = (2048 + w0 * src[s0 + 1]! + w1 * src[s1 + 1]! + w2 * src[s2 + 1]! + w3 * src[s3 + 1]! + w4 * src[s4 + 1]!) >> 12;
    const blue = (2048 + w0 * src[s0 + 2]! + w1 * src[s1 + 2]! + w2 * src[s2 + 2]! + w3 * src[s3 + 2]! + w4 * src[s4 + 2]!) >> 12;
    out[d++] = red < 0 ? 0 : red > 255 ? 255 : red;
    out[d++] = green < 0 ? 0 : green > 255 ? 255 : green;
    out[d++] = blue < 0 ? 0 : blue > 255 ? 255 : blue;
  }
}

/** The same with any number of taps. */
function colsOfN(src: Uint8Array, row: number, out: Uint8Array, d: number, idx: Int32Array, wts: Int32Array, ow: number, n: number): void {
  for (let o = 0, b0 = 0; o < ow; o++, b0 += n) {
    let red = 2048;
    let green = 2048;
    let blue = 2048;
    for (let i = 0; i < n; i++) {
      const w = wts[b0 + i]!;
      const s = row + idx[b0 + i]!;
      red += w * src[s]!;
      green += w * src[s + 1]!;
      blue += w * src[s + 2]!;
    }
    red >>= 12;
    green >>= 12;
    blue >>= 12;
    out[d++] = red < 0 ? 0 : red > 255 ? 255 : red;
    out[d++] = green < 0 ? 0 : green > 255 ? 255 : green;
    out[d++] = blue < 0 ? 0 : blue > 255 ? 255 : blue;
  }
}

/**
 * vips_affine(hscale, 0, 0, vscale) with libvips' bilinear interpolator, as vips_resize enlarges,
 * for the output area (left, top, width, height): input position x/scale − ½ in each axis (the
 * column position computed afresh at each region's left edge, every `tile` columns from the
 * area's, and accumulated per pixel; the row position computed per row), edges repeated, weights
 * from the 12-bit fractions, one rounding.
 * `src` holds rows [rowBase, rowBase + src.height) of an image `fullHeight` rows high.
 */
function affineBilinear(
  src: RgbImage,
  fullHeight: number,
  rowBase: number,
  hscale: number,
  vscale: number,
  area: Area,
  out: Uint8Array,
  outRow: number,
  tile = Infinity,
): void {
  const { width: W, data } = src;
  const H = fullHeight;
  const { left, top, width: ow, height: oh } = area;
  // vips__transform_calc_inverse: one reciprocal of the determinant, times the other diagonal.
  const inv = 1 / (hscale * vscale);
  const ia = inv * vscale;
  const id = inv * hscale;
  // Columns: libvips' coordinate is embedded one pixel in (bilinear's window) and truncated.
  const x0 = new Int32Array(ow);
  const x1 = new Int32Array(ow);
  const fx = new Int32Array(ow);
  let X = 0;
  for (let x = 0; x < ow; x++, X += ia) {
    if (x % tile === 0) X = ia * (left + x) - 0.5 + 1; // a region's left edge
    const ix = Math.trunc(X);
    fx[x] = Math.trunc((X - ix) * 4096);
    const a = ix - 1;
    x0[x] = (a < 0 ? 0 : a >= W ? W - 1 : a) * 3;
    x1[x] = (a + 1 < 0 ? 0 : a + 1 >= W ? W - 1 : a + 1) * 3;
  }
  // Rows: the same, computed per row.
  const r0 = new Int32Array(oh);
  const r1 = new Int32Array(oh);
  const fy = new Int32Array(oh);
  for (let k = 0; k < oh; k++) {
    const Y = id * (top + k) - 0.5 + 1;
    const iy = Math.trunc(Y);
    fy[k] = Math.trunc((Y - iy) * 4096);
    const a = iy - 1;
    r0[k] = ((a < 0 ? 0 : a >= H ? H - 1 : a) - rowBase) * W * 3;
    r1[k] = ((a + 1 < 0 ? 0 : a + 1 >= H ? H - 1 : a + 1) - rowBase) * W * 3;
  }
  const at = outRow * ow * 3;
  if (kernels) kernels.affineRows(data, out, r0, r1, fy, x0, x1, fx, ow, oh, at);
  else for (let k = 0; k < oh; k++) affineRow(data, r0[k]!, r1[k]!, fy[k]!, x0, x1, fx, out, at + k * ow * 3, ow);
}

/** One output row of affineBilinear from input rows r0 and r1 (a small function of its own, as reduceRows' rows are). */
function affineRow(
  data: Uint8Array,
  r0: number,
  r1: number,
  fy: number,
  x0: Int32Array,
  x1: Int32Array,
  fx: Int32Array,
  out: Uint8Array,
  d: number,
  ow: number,
): void {
  const yd = 4096 - fy;
  for (let x = 0; x < ow; x++) {
    const f = fx[x]!;
    const c4 = (fy * f) >> 12;
    const c2 = (yd * f) >> 12;
    const c3 = fy - c4;
    const c1 = yd - c2;
    const p1 = r0 + x0[x]!;
    const p2 = r0 + x1[x]!;
    const p3 = r1 + x0[x]!;
    const p4 = r1 + x1[x]!;
    out[d++] = (c1 * data[p1]! + c2 * data[p2]! + c3 * data[p3]! + c4 * data[p4]! + 2048) >> 12;
    out[d++] = (c1 * data[p1 + 1]! + c2 * data[p2 + 1]! + c3 * data[p3 + 1]! + c4 * data[p4 + 1]! + 2048) >> 12;
    out[d++] = (c1 * data[p1 + 2]! + c2 * data[p2 + 2]! + c3 * data[p3 + 2]! + c4 * data[p4 + 2]! + 2048) >> 12;
  }
}

interface Area {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * sharp's resize by horizontal and vertical shrink factors (input size / output size), libvips
 * `resize(1 / hshrink, { vscale: 1 / vshrink, kernel })`, then (optionally) sharp's extract of
 * `crop` from its output. The output size is libvips' rounding. The crop matters for the result:
 * libvips computes only the area asked for, and its positions restart at the area's edges.
 */
export function resizeByShrink(
  img: RgbImage,
  hshrink: number,
  vshrink: number,
  kernel: Kernel = 'linear',
  crop?: (width: number, height: number) => Area,
): RgbImage {
  // sharp never shrinks an axis below one pixel.
  const hscale = 1 / Math.min(hshrink, img.width);
  const vscale = 1 / Math.min(vshrink, img.height);
  const rv = vscale < 1 ? planReduce(img.height, 1 / vscale, kernel) : undefined;
  const rh = hscale < 1 ? planReduce(img.width, 1 / hscale, kernel) : undefined;
  const grows = hscale > 1 || vscale > 1;
  const ah = hscale > 1 ? hscale : 1;
  const av = vscale > 1 ? vscale : 1;
  const outW = grows ? Math.round((rh ? rh.size : img.width) * ah) : rh ? rh.size : img.width;
  const outH = grows ? Math.round((rv ? rv.size : img.height) * av) : rv ? rv.size : img.height;
  const area = crop ? crop(outW, outH) : { left: 0, top: 0, width: outW, height: outH };
  // libvips computes the pipeline in regions, and its positions restart at each region's edges:
  // sharp's output strips (full width, 16 rows), or 128×128 tiles once a vertical box shrink is
  // in the pipeline (vips_shrinkv asks for small tiles).
  const tiled = rv !== undefined && rv.box > 1;
  const rows = tiled ? TILE : STRIP;
  let cur = img;
  if (rv && rv.box > 1) cur = boxShrink(cur, rv.box, false);
  if (!grows) {
    // Reduces only: the vertical one in sharp's 16-row output strips (positions restart at each
    // strip's top), the horizontal one from the area's left edge.
    if (rv) {
      const out = new Uint8Array(area.height * cur.width * 3);
      const [c0, c1] = rh ? colsRead(rh, cur.width, area.left, area.left + area.width) : [area.left, area.left + area.width];
      for (let t = area.top; t < area.top + area.height; t += rows) {
        const end = Math.min(t + rows, area.top + area.height);
        out.set(reduceRows(cur, rv, t, end, t, c0, c1).data, (t - area.top) * cur.width * 3);
      }
      cur = { data: out, width: cur.width, height: area.height };
    } else if (area.top !== 0 || area.height !== cur.height) cur = cropPixels(cur, { x: 0, y: area.top, width: cur.width, height: area.height });
    if (rh) {
      if (rh.box > 1) cur = boxShrink(cur, rh.box, true);
      return reduceCols(cur, rh, area.left, area.left + area.width, tiled ? TILE : Infinity);
    }
    return area.left !== 0 || area.width !== cur.width ? cropPixels(cur, { x: area.left, y: 0, width: area.width, height: cur.height }) : cur;
  }
  if (rh) {
    if (rh.box > 1) cur = boxShrink(cur, rh.box, true);
    cur = reduceCols(cur, rh, 0, rh.size);
  }
  const out = new Uint8Array(area.width * area.height * 3);
  if (!rv) {
    affineBilinear(cur, cur.height, 0, ah, av, area, out, 0);
  } else {
    // A vertical reduce under the affine (the vertical scale is then 1): each strip or tile of
    // the output asks for reduced rows from one above its top, which libvips computes afresh.
    const size = rv.size;
    for (let t = area.top; t < area.top + area.height; t += rows) {
      const end = Math.min(t + rows, area.top + area.height);
      const from = Math.max(0, t - 1);
      const to = Math.min(size, end + 1);
      const reduced = reduceRows(cur, rv, from, to, from);
      affineBilinear(reduced, size, from, ah, 1, { left: area.left, top: t, width: area.width, height: end - t }, out, t - area.top, tiled ? TILE : Infinity);
    }
  }
  return { data: out, width: area.width, height: area.height };
}

/** Resample to exactly width×height (aspect not kept): sharp's fit 'fill'. */
export function resample(img: RgbImage, width: number, height: number, kernel: Kernel = 'linear'): RgbImage {
  if (img.width === width && img.height === height) return img;
  return resizeByShrink(img, img.width / width, img.height / height, kernel);
}

/**
 * sharp's `resize(width, height, { fit, position: 'centre', kernel })` for the three fitting modes:
 * 'squash' is fit 'fill'; 'center-crop' and 'keep-aspect' scale by the same factor on both axes so
 * the image covers the target, then cut the centre (sharp's offset: (excess + 1) / 2, rounded down).
 */
export function resizeLike(img: RgbImage, width: number, height: number, mode: ResizeMode = 'squash', kernel: Kernel = 'linear'): RgbImage {
  const size = resizedSize(img.width, img.height, width, height, mode);
  if (img.width === size.width && img.height === size.height) return img;
  if (mode === 'squash') return resample(img, size.width, size.height, kernel);
  const shrink = Math.min(img.width / size.width, img.height / size.height);
  const centre = (w: number, h: number): Area => ({
    left: Math.floor((w - size.width + 1) / 2),
    top: Math.floor((h - size.height + 1) / 2),
    width: size.width,
    height: size.height,
  });
  if (shrink === 1)
    return cropPixels(img, { x: centre(img.width, img.height).left, y: centre(img.width, img.height).top, width: size.width, height: size.height });
  return resizeByShrink(img, shrink, shrink, kernel, centre);
}

/** Scale so the longer side is at most maxSide, never enlarging (sharp's fit 'inside', withoutEnlargement). */
export function fitInside(img: RgbImage, maxSide: number, kernel: Kernel = 'lanczos3'): RgbImage {
  if (img.width <= maxSide && img.height <= maxSide) return img;
  const shrink = Math.max(img.width / maxSide, img.height / maxSide);
  return resizeByShrink(img, shrink, shrink, kernel);
}
