import { cropPixels, resizedSize, type ResizeMode, type RgbImage } from './pixels.js';

/**
 * A pure-TypeScript resize that reproduces what the server's sharp (libvips) pipeline does to a
 * photo, so the browser's device mode feeds the models the same pixels the server would.
 * Canvas scaling cannot be used for that: its filter is unspecified and differs between browsers.
 *
 * libvips resizes separably, rows then columns, with centre-aligned sampling (output pixel x
 * samples input position (x + 0.5)·f − 0.5 for a shrink factor f), the edge pixels repeated:
 * - shrinking (f > 1) convolves with the kernel stretched by f (an antialiasing filter; `linear`
 *   is a triangle of radius f), after first box-averaging by the integer part of f/2 when f ≥ 4
 *   (vips_resize's default "gap" of 2);
 * - enlarging (f < 1) interpolates the kernel at its own width: bilinear for `linear`.
 * Measured against sharp in test/resample.test.ts: a mean absolute difference of well under one
 * grey level, which leaves model outputs within a few thousandths.
 */
export type Kernel = 'linear' | 'lanczos3';

const KERNELS: Record<Kernel, { radius: number; f: (x: number) => number }> = {
  linear: { radius: 1, f: (x) => Math.max(0, 1 - Math.abs(x)) },
  lanczos3: {
    radius: 3,
    f: (x) => {
      if (x === 0) return 1;
      if (Math.abs(x) >= 3) return 0;
      const px = Math.PI * x;
      return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
    },
  },
};

/** Resample to exactly width×height (aspect not kept), as libvips `resize` with `vscale` does. */
export function resample(img: RgbImage, width: number, height: number, kernel: Kernel = 'linear', shrink?: number): RgbImage {
  // sharp passes libvips one exact scale for both axes when it keeps the aspect ratio; the output
  // size is that scale's rounding, so the factor is not width / new width.
  let fx = shrink ?? img.width / width;
  let fy = shrink ?? img.height / height;
  let cur = img;
  // vips_resize's integer pre-shrink: a box average for the part of the shrink past 2× the gap;
  // the residual factor stays exact (f / int), the box rounds its size up.
  const ix = Math.max(1, Math.floor(fx / 2));
  const iy = Math.max(1, Math.floor(fy / 2));
  if (ix > 1 || iy > 1) {
    cur = boxShrink(cur, ix, iy);
    fx /= ix;
    fy /= iy;
  }
  // Shrinking first (vertical, then horizontal), enlarging after, as vips_resize orders them.
  // The box rounds its size up; the reduce is centred on the exact shrunk extent.
  if (fy > 1) cur = pass(cur, height, fy, kernel, false, img.height / iy);
  if (fx > 1) cur = pass(cur, width, fx, kernel, true, img.width / ix);
  // Enlarging both axes is one vips_affine: a 2-D bilinear with a single rounding.
  if (fx < 1 && fy < 1 && kernel === 'linear') return bilinear2d(cur, width, height, fx, fy);
  if (fy < 1) cur = pass(cur, height, fy, kernel, false);
  if (fx < 1) cur = pass(cur, width, fx, kernel, true);
  return cur;
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
  const rw = Math.round(img.width / shrink);
  const rh = Math.round(img.height / shrink);
  const scaled = shrink === 1 ? img : resample(img, rw, rh, kernel, shrink);
  const left = Math.floor((scaled.width - size.width + 1) / 2);
  const top = Math.floor((scaled.height - size.height + 1) / 2);
  return cropPixels(scaled, { x: left, y: top, width: size.width, height: size.height });
}

/** Scale so the longer side is at most maxSide, never enlarging (sharp's fit 'inside'). */
export function fitInside(img: RgbImage, maxSide: number, kernel: Kernel = 'lanczos3'): RgbImage {
  if (img.width <= maxSide && img.height <= maxSide) return img;
  const shrink = Math.max(img.width, img.height) / maxSide;
  return resample(img, Math.max(1, Math.round(img.width / shrink)), Math.max(1, Math.round(img.height / shrink)), kernel, shrink);
}

/**
 * libvips' bilinear interpolator on 8-bit pixels, as vips_affine runs it: input position
 * X·f − 0.5 (the half-pixel input displacement vips_resize asks for), edges repeated, the four
 * weights in 12-bit fixed point summing to exactly 4096, one rounding (measured: 0.003 grey
 * levels mean difference from sharp on a 90→224 enlargement).
 */
function bilinear2d(img: RgbImage, width: number, height: number, fx: number, fy: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const src = img.data;
  const SCALE = 4096;
  const axis = (o: number, f: number, n: number) => {
    const x = o * f - 0.5;
    const i = Math.floor(x);
    const t = x - i;
    return { i0: Math.min(n - 1, Math.max(0, i)), i1: Math.min(n - 1, Math.max(0, i + 1)), t };
  };
  const xs = Array.from({ length: width }, (_, o) => axis(o, fx, img.width));
  for (let y = 0; y < height; y++) {
    const { i0: y0, i1: y1, t: ty } = axis(y, fy, img.height);
    for (let x = 0; x < width; x++) {
      const { i0: x0, i1: x1, t: tx } = xs[x]!;
      const c1 = Math.round((1 - tx) * (1 - ty) * SCALE);
      const c2 = Math.round(tx * (1 - ty) * SCALE);
      const c3 = Math.round((1 - tx) * ty * SCALE);
      const c4 = SCALE - c1 - c2 - c3; // the weights sum to exactly 1 in fixed point
      const p1 = (y0 * img.width + x0) * 3;
      const p2 = (y0 * img.width + x1) * 3;
      const p3 = (y1 * img.width + x0) * 3;
      const p4 = (y1 * img.width + x1) * 3;
      const d = (y * width + x) * 3;
      for (let c = 0; c < 3; c++)
        out[d + c] = Math.min(255, Math.max(0, (c1 * src[p1 + c]! + c2 * src[p2 + c]! + c3 * src[p3 + c]! + c4 * src[p4 + c]! + SCALE / 2) >> 12));
    }
  }
  return { data: out, width, height };
}

function boxShrink(img: RgbImage, fx: number, fy: number): RgbImage {
  const width = Math.ceil(img.width / fx);
  const height = Math.ceil(img.height / fy);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        let n = 0;
        for (let dy = 0; dy < fy; dy++) {
          const sy = Math.min(img.height - 1, y * fy + dy);
          for (let dx = 0; dx < fx; dx++) {
            const sx = Math.min(img.width - 1, x * fx + dx);
            sum += img.data[(sy * img.width + sx) * 3 + c]!;
            n++;
          }
        }
        out[(y * width + x) * 3 + c] = Math.round(sum / n);
      }
    }
  }
  return { data: out, width, height };
}

/** One separable pass along x (horizontal) or y, to `size` samples. */
function pass(img: RgbImage, size: number, factor: number, kernel: Kernel, horizontal: boolean, extent?: number): RgbImage {
  const { radius, f } = KERNELS[kernel];
  const inSize = horizontal ? img.width : img.height;
  const span = extent ?? inSize;
  const stretch = Math.max(1, factor);
  const support = radius * stretch;
  // Per output coordinate: the first input index and the normalised weights.
  const starts = new Int32Array(size);
  const taps = Math.ceil(support) * 2 + 1;
  const weights = new Float32Array(size * taps);
  for (let o = 0; o < size; o++) {
    // Shrinking samples pixel centres; enlarging is vips_affine with its input displaced by half a pixel.
    // When size × factor ≠ the input size (one scale for both axes, output rounded), the
    // difference is split evenly between both ends.
    const centre = factor > 1 ? (o + 0.5) * factor - 0.5 + (span - size * factor) / 2 : o * factor - 0.5;
    const first = Math.floor(centre - support) + 1;
    starts[o] = first;
    let sum = 0;
    for (let t = 0; t < taps; t++) {
      const w = f((first + t - centre) / stretch);
      weights[o * taps + t] = w;
      sum += w;
    }
    for (let t = 0; t < taps; t++) weights[o * taps + t]! /= sum;
  }
  const outW = horizontal ? size : img.width;
  const outH = horizontal ? img.height : size;
  const out = new Uint8Array(outW * outH * 3);
  const src = img.data;
  const last = inSize - 1;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = horizontal ? x : y;
      const first = starts[o]!;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let t = 0; t < taps; t++) {
        const w = weights[o * taps + t]!;
        if (w === 0) continue;
        const i = Math.min(last, Math.max(0, first + t));
        const s = horizontal ? (y * img.width + i) * 3 : (i * img.width + x) * 3;
        r += w * src[s]!;
        g += w * src[s + 1]!;
        b += w * src[s + 2]!;
      }
      const d = (y * outW + x) * 3;
      out[d] = clamp255(r);
      out[d + 1] = clamp255(g);
      out[d + 2] = clamp255(b);
    }
  }
  return { data: out, width: outW, height: outH };
}

const clamp255 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
