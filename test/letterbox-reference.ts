import assert from 'node:assert/strict';
import type { RgbImage } from '../src/data/pixels.js';
import { letterboxTensors, type LetterboxFeeds } from '../src/detectors/letterbox.js';
import { onnx, readModel, writeModel } from '../src/models/onnx/graph.js';
import { ort } from '../src/runtime/ort-binding.js';
import { createSession, ortTensors, type Feed, type OrtSession } from '../src/runtime/ort.js';

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

/**
 * Sessions for checking a letterboxing graph: `probe` is the wrapped graph with the letterboxed
 * tensor (the original model's input) exposed as an output too, `plain` the original model.
 */
export async function letterboxSessions(original: Uint8Array, wrap: (bytes: Uint8Array) => Uint8Array) {
  const inputName = readModel(original).graph!.input![0]!.name!;
  const wrapped = readModel(wrap(original));
  wrapped.graph!.output!.push(onnx.ValueInfoProto.create({ name: inputName, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }));
  const probe = await createSession(writeModel(wrapped), { inline: true, threads: 1 });
  const plain = await createSession(original, { inline: true, threads: 1 });
  return { inputName, probe, plain };
}

/** A session's outputs as plain float arrays. */
export async function runFloats(session: OrtSession, feeds: Record<string, Feed | ort.Tensor>): Promise<Record<string, Float32Array>> {
  const out = await session.run(feeds);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

/**
 * The graph's letterbox of `image`, fed as the host feeds it (`x`: a photo larger than the
 * letterbox shrunk first, letterbox.ts), against the reference from the photo itself. Enlarged,
 * the graph does all of it: mean |Δ| under 0.01 grey levels, every sample within half a level.
 * Shrunk, the host's filter did the work and its bytes are whole grey levels: mean |Δ| under
 * `SHRUNK_MEAN`, and the graph's Resize keeps the size. Never larger than the letterbox: the graph
 * has no antialiasing filter.
 */
export async function checkGraphLetterbox(
  s: { probe: OrtSession; inputName: string },
  image: RgbImage,
  x: LetterboxFeeds,
  where: string,
  side: number,
  pad: number,
): Promise<{ got: Float32Array; reference: Float32Array; width: number; height: number; where: string }> {
  const outputs = await runFloats(s.probe, letterboxTensors(x, ortTensors));
  const [height, width] = [Number(x.size[2]), Number(x.size[3])];
  const [fedHeight, fedWidth] = [x.dims[1]!, x.dims[2]!];
  const at = `${where} (${image.width}×${image.height} → ${width}×${height})`;
  assert.ok(fedWidth <= width && fedHeight <= height, `${at}: the graph was fed ${fedWidth}×${fedHeight}, larger than its letterbox`);
  const reference = referenceLetterbox(image, width, height, side, pad);
  const got = outputs[s.inputName]!;
  const { mean, off } = letterboxDistance(got, reference);
  if (width >= image.width) {
    assert.ok(mean < 0.01, `${at}: mean |Δ| ${mean}`);
    assert.equal(off, 0, `${at}: ${off} samples apart`);
  } else {
    assert.equal(fedWidth, width, `${at}: shrunk by the host to the letterbox`);
    assert.ok(mean < SHRUNK_MEAN, `${at}: mean |Δ| ${mean}`);
  }
  return { got, reference, width, height, where: at };
}

/** The host's shrink (sharp) against the reference's triangle filter: whole grey levels, fixed-point weights (measured: 0.15–0.19 on 640-px photos). */
const SHRUNK_MEAN = 0.25;
