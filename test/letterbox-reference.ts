import type { RgbImage } from '../src/data/pixels.js';

/**
 * The letterbox of a detector graph (src/detectors/letterbox-graph.ts) written out in plain
 * arithmetic, for the tests that check the graph: planar BGR, linear resampling with pixel centres
 * at half-pixel offsets (a triangle filter stretched over the shrink factor when shrinking, as PIL
 * and libvips do), `pad` at the bottom and right up to side².
 */

/** One axis: each output sample's source indices and weights. */
function axisWeights(inSize: number, outSize: number): { start: number; weights: number[] }[] {
  const scale = inSize / outSize;
  const support = Math.max(1, scale); // the triangle's half-width, in input pixels
  return Array.from({ length: outSize }, (_, o) => {
    const centre = (o + 0.5) * scale; // in input coordinates, pixel i covering [i, i + 1)
    const start = Math.max(0, Math.floor(centre - support));
    const end = Math.min(inSize, Math.ceil(centre + support));
    const raw: number[] = [];
    for (let i = start; i < end; i++) raw.push(Math.max(0, 1 - Math.abs(i + 0.5 - centre) / support));
    const sum = raw.reduce((a, b) => a + b, 0);
    return { start, weights: raw.map((w) => w / sum) };
  });
}

/** The 1×3×side×side float input: `image` resized to width×height at the top-left, `pad` elsewhere. */
export function referenceLetterbox(image: RgbImage, width: number, height: number, side: number, pad: number): Float32Array {
  const xs = axisWeights(image.width, width);
  const ys = axisWeights(image.height, height);
  const plane = side * side;
  const out = new Float32Array(3 * plane).fill(pad);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let v = 0;
        ys[y]!.weights.forEach((wy, j) =>
          xs[x]!.weights.forEach((wx, i) => (v += wy * wx * image.data[((ys[y]!.start + j) * image.width + xs[x]!.start + i) * 3 + c]!)),
        );
        out[(2 - c) * plane + y * side + x] = v; // BGR planes
      }
  return out;
}

/** How far the graph's letterbox is from the reference: mean |Δ| and the samples more than half a grey level apart. */
export function letterboxDistance(got: Float32Array, reference: Float32Array): { mean: number; off: number } {
  if (got.length !== reference.length) throw new Error(`${got.length} samples vs ${reference.length}`);
  let sum = 0;
  let off = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - reference[i]!);
    sum += d;
    if (d > 0.5) off++;
  }
  return { mean: sum / got.length, off };
}
