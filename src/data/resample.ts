import { cropPixels, resizedSize, type ResizeMode, type RgbImage } from './pixels.js';

/**
 * A pure-TypeScript resize that reproduces what the server's sharp pipeline (sharp 0.35, libvips
 * 8.18 `vips_resize` with `vscale`) does to a photo, so the browser's device mode feeds the models
 * the same pixels the server would. Canvas scaling cannot be used for that: its filter is
 * unspecified and differs between browsers.
 *
 * libvips' algorithm, step for step (each one checked byte for byte against sharp on noise and photos):
 * - sharp asks for scale 1/hshrink horizontally and 1/vshrink vertically (one factor for both
 *   axes when the aspect is kept); every axis that shrinks is reduced, vertically first, then an
 *   axis that grows is interpolated;
 * - a reduce by f first box-averages by k = ⌊size / round(size / f) / 2⌋ when k ≥ 2 (the "gap" of
 *   2; the box rounds the size up and repeats the edge pixel; rounding (sum + k/2) / k), then
 *   convolves with the kernel stretched by the residual factor r: 2·rint(r)+1 taps (triangle for
 *   `linear`, windowed sinc for `lanczos3`), sampled at sub-pixel positions quantised to 1/64 pixel,
 *   normalised, scaled to 12 bits and *truncated*, summed with +2048 and shifted by 12, clamped.
 *   Output pixel o is centred on (o + ½)·r − ½ − e/2, where e = size_out·r − size_in is the
 *   excess of the rounded output size; the position accumulates r per pixel, as libvips does;
 * - growing is `vips_affine` with libvips' bilinear interpolator, for both axes at once whenever
 *   any axis grows (the other at scale 1): input position x/scale − ½ (not pixel-centre aligned:
 *   even an axis at scale 1 is shifted half a pixel, so it is averaged with its neighbour), edges
 *   repeated, 12-bit integer weights (fy·fx)>>12 etc., one rounding.
 * Measured in test/resample.test.ts: byte-exact with sharp for `linear` in every mode (shrinks of
 * 1.1× to 9× including the box pre-shrink, enlargements, one axis shrinking while the other grows)
 * and for `lanczos3` shrinks (fitInside). The one known inexactness: when *both* axes grow, a few
 * pixels on rows whose input position falls exactly on a 1/4096 grid point can differ by one grey
 * level (libvips' vertical coordinate rounds differently there; about 0.05% of pixels on a
 * 90×90 → 224×224 noise enlargement, max difference 1).
 */
export type Kernel = 'linear' | 'lanczos3';

/** The height of the strips libvips computes a pipeline in (vips__fatstrip_height). */
const STRIP = 16;

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

/** vips_reduceh / vips_reducev by `shrink` (≥ 1) with the gap of 2, as vips_resize calls them. */
function reduce(img: RgbImage, shrinkIn: number, kernel: Kernel, horizontal: boolean): RgbImage {
  let shrink = shrinkIn;
  const inSize = horizontal ? img.width : img.height;
  const size = Math.floor(inSize / shrink + 0.5);
  let extra = size * shrink - inSize;
  const k = Math.max(1, Math.floor(inSize / size / 2));
  if (k > 1) {
    img = boxShrink(img, k, horizontal);
    shrink /= k;
    extra /= k;
  }
  if (shrink === 1) return img;
  const n = 2 * rint(kernel === 'linear' ? shrink : 3 * shrink) + 1;
  const masks = makeMasks(kernel, n, shrink);
  const pad = Math.ceil(n / 2) - 1;
  const offset = (1 + extra) / 2 - 1;
  const M = horizontal ? img.width : img.height;
  // Per output coordinate: its n clamped input indices and its mask.
  const idx = new Int32Array(size * n);
  const wts = new Int32Array(size * n);
  let P = 0;
  for (let o = 0; o < size; o++) {
    // libvips recomputes the position at the start of each region it is asked for (sharp's
    // output strips: full rows, 16 high) and accumulates the factor within it.
    if (horizontal ? o === 0 : o % STRIP === 0) P = (o + 0.5) * shrink - 0.5 - offset;
    const ip = Math.trunc(P);
    const t = ((Math.trunc(P * 128) & 127) + 1) >> 1;
    for (let i = 0; i < n; i++) {
      const j = ip + i - pad;
      idx[o * n + i] = j < 0 ? 0 : j >= M ? M - 1 : j;
      wts[o * n + i] = masks[t * n + i]!;
    }
    P += shrink;
  }
  const { width: W, height: H, data: src } = img;
  if (horizontal) {
    const out = new Uint8Array(size * H * 3);
    for (let y = 0; y < H; y++) {
      const row = y * W * 3;
      let d = y * size * 3;
      for (let o = 0, b0 = 0; o < size; o++, b0 += n) {
        let r = 2048;
        let g = 2048;
        let b = 2048;
        for (let i = 0; i < n; i++) {
          const w = wts[b0 + i]!;
          const s = row + idx[b0 + i]! * 3;
          r += w * src[s]!;
          g += w * src[s + 1]!;
          b += w * src[s + 2]!;
        }
        r >>= 12;
        g >>= 12;
        b >>= 12;
        out[d++] = r < 0 ? 0 : r > 255 ? 255 : r;
        out[d++] = g < 0 ? 0 : g > 255 ? 255 : g;
        out[d++] = b < 0 ? 0 : b > 255 ? 255 : b;
      }
    }
    return { data: out, width: size, height: H };
  }
  const rowLen = W * 3;
  const out = new Uint8Array(size * rowLen);
  const acc = new Int32Array(rowLen);
  for (let o = 0, b0 = 0; o < size; o++, b0 += n) {
    acc.fill(2048);
    for (let i = 0; i < n; i++) {
      const w = wts[b0 + i]!;
      if (w === 0) continue;
      const s = idx[b0 + i]! * rowLen;
      for (let x = 0; x < rowLen; x++) acc[x]! += w * src[s + x]!;
    }
    const d = o * rowLen;
    for (let x = 0; x < rowLen; x++) {
      const v = acc[x]! >> 12;
      out[d + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { data: out, width: W, height: size };
}

/**
 * vips_affine(hscale, 0, 0, vscale) with the bilinear interpolator, as vips_resize enlarges:
 * input position X·(1/scale) − ½ (the row position accumulated per pixel, the column one computed
 * per row), edges repeated, weights from the 12-bit fractions, one rounding.
 */
function affineBilinear(img: RgbImage, hscale: number, vscale: number): RgbImage {
  const { width: W, height: H, data: src } = img;
  const ow = rint(W * hscale);
  const oh = rint(H * vscale);
  const ia = 1 / hscale;
  // Measured: libvips' vertical step behaves as single precision when both axes grow.
  const id = hscale === 1 || vscale === 1 ? 1 / vscale : Math.fround(1 / vscale);
  // Columns: libvips' coordinate is embedded one pixel in (bilinear's window), then truncated.
  const x0 = new Int32Array(ow);
  const x1 = new Int32Array(ow);
  const fx = new Int32Array(ow);
  let X = 0.5; // 1 − ½
  for (let x = 0; x < ow; x++) {
    const ix = Math.trunc(X);
    fx[x] = Math.trunc((X - ix) * 4096);
    const a = ix - 1;
    x0[x] = (a < 0 ? 0 : a >= W ? W - 1 : a) * 3;
    x1[x] = (a + 1 < 0 ? 0 : a + 1 >= W ? W - 1 : a + 1) * 3;
    X += ia;
  }
  const out = new Uint8Array(ow * oh * 3);
  let d = 0;
  for (let y = 0; y < oh; y++) {
    const Y = id * y + 1 - 0.5;
    const iy = Math.trunc(Y);
    const fy = Math.trunc((Y - iy) * 4096);
    const yd = 4096 - fy;
    const a = iy - 1;
    const r0 = (a < 0 ? 0 : a >= H ? H - 1 : a) * W * 3;
    const r1 = (a + 1 < 0 ? 0 : a + 1 >= H ? H - 1 : a + 1) * W * 3;
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
      out[d++] = (c1 * src[p1]! + c2 * src[p2]! + c3 * src[p3]! + c4 * src[p4]! + 2048) >> 12;
      out[d++] = (c1 * src[p1 + 1]! + c2 * src[p2 + 1]! + c3 * src[p3 + 1]! + c4 * src[p4 + 1]! + 2048) >> 12;
      out[d++] = (c1 * src[p1 + 2]! + c2 * src[p2 + 2]! + c3 * src[p3 + 2]! + c4 * src[p4 + 2]! + 2048) >> 12;
    }
  }
  return { data: out, width: ow, height: oh };
}

/**
 * sharp's resize by horizontal and vertical shrink factors (input size / output size): libvips
 * `resize(1 / hshrink, { vscale: 1 / vshrink, kernel })`. The output size is libvips' rounding.
 */
export function resizeByShrink(img: RgbImage, hshrink: number, vshrink: number, kernel: Kernel = 'linear'): RgbImage {
  // sharp never shrinks an axis below one pixel.
  const hscale = 1 / Math.min(hshrink, img.width);
  const vscale = 1 / Math.min(vshrink, img.height);
  let cur = img;
  if (vscale < 1) cur = reduce(cur, 1 / vscale, kernel, false);
  if (hscale < 1) cur = reduce(cur, 1 / hscale, kernel, true);
  if (hscale > 1 || vscale > 1) cur = affineBilinear(cur, hscale > 1 ? hscale : 1, vscale > 1 ? vscale : 1);
  return cur;
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
  const scaled = shrink === 1 ? img : resizeByShrink(img, shrink, shrink, kernel);
  const left = Math.floor((scaled.width - size.width + 1) / 2);
  const top = Math.floor((scaled.height - size.height + 1) / 2);
  return cropPixels(scaled, { x: left, y: top, width: size.width, height: size.height });
}

/** Scale so the longer side is at most maxSide, never enlarging (sharp's fit 'inside', withoutEnlargement). */
export function fitInside(img: RgbImage, maxSide: number, kernel: Kernel = 'lanczos3'): RgbImage {
  if (img.width <= maxSide && img.height <= maxSide) return img;
  const shrink = Math.max(img.width / maxSide, img.height / maxSide);
  return resizeByShrink(img, shrink, shrink, kernel);
}
