import { onnx, readModel, writeModel, type AttributeProto } from '../models/onnx/graph.js';
import { ImgclassError } from '../util/errors.js';
import { LETTERBOX_FEEDS } from './letterbox.js';

/**
 * A detector with its letterbox as the first nodes of its own graph, so every host runs the same
 * preprocessing: the decoded RGB pixels go in as they are (uint8, 1×H×W×3), and the graph casts
 * them, makes them planar BGR, enlarges them to the letterbox size it is given (linear, pixel
 * centres at half-pixel offsets: what libvips' and PIL's bilinear do) and pads them with `pad` to
 * side² at the bottom and right. The feeds are letterbox.ts's: a photo larger than the letterbox
 * comes already shrunk by the host, with a filter as wide as the factor, so the graph's Resize only
 * enlarges (or keeps the size) and needs no antialiasing. Asked for it anyway, onnxruntime takes
 * its generic antialiasing path, which reads the same samples to float rounding in 0.60 ms instead
 * of 0.37 ms on a 298×224 photo (YuNet's whole pass: 2.6 ms; docs/startup.md, sixth round). YuNet
 * (face/yunet-graph.ts: black padding at 320²) and YOLOX-nano (coco-graph.ts: grey 114 at 416²)
 * are both wrapped here. A change to the graph written here bumps DETECTOR_GRAPH_VERSION
 * (graph-cache.ts), so that optimised graphs cached from the old one are not used.
 *
 * The file's opset goes up to 18 (the Resize and Pad written here are opset 18's); `name` must only hold
 * operators that mean the same there (`ops`, checked: an operator whose attributes became inputs
 * since opset 11, such as Squeeze or ReduceMean, would be misread).
 */
export interface LetterboxGraphOptions {
  /** For error messages: the model's name. */
  name: string;
  /** The detector's square input side. */
  side: number;
  /** The padding's value in every channel (0–255). */
  pad: number;
  /** Operators the detector's own graph may hold: each means the same at opset 18 as at its own opset. */
  ops: readonly string[];
}

export function withLetterbox(bytes: Uint8Array, o: LetterboxGraphOptions): Uint8Array {
  const model = readModel(bytes);
  const graph = model.graph ?? fail(o.name, 'has no graph');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) fail(o.name, `has ${inputs.length} inputs; the detector takes one 1×3×${o.side}×${o.side} image`);
  // a fixed input of another size would be fed a letterbox it was not made for (a free one is fine)
  const dims = (inputs[0]!.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue ? Number(String(d.dimValue)) : null));
  if (dims.length !== 4 || (dims[2] !== null && dims[2] !== o.side) || (dims[3] !== null && dims[3] !== o.side))
    fail(o.name, `takes ${dims.map((d) => d ?? '?').join('×')}, not 1×3×${o.side}×${o.side}`);
  const foreign = [...new Set((graph.node ?? []).map((n) => n.opType!))].filter((op) => !o.ops.includes(op));
  if (foreign.length) fail(o.name, `holds operators not checked at opset 18 (${foreign.join(', ')})`);
  const detectorInput = inputs[0]!.name!;
  const ai = (n: string, i: number): AttributeProto => ({ name: n, type: onnx.AttributeProto.AttributeType.INT, i });
  const ais = (n: string, ints: number[]): AttributeProto => ({ name: n, type: onnx.AttributeProto.AttributeType.INTS, ints });
  const as = (n: string, s: string): AttributeProto => ({ name: n, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) });
  const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []) =>
    onnx.NodeProto.create({ opType, input, output: [output], name: `imgclass_${output}`, attribute });
  const T = onnx.TensorProto.DataType;
  const bgr = new BigInt64Array([2n, 1n, 0n]);
  graph.initializer!.push({ name: 'imgclass_bgr', dims: [3], dataType: T.INT64, rawData: new Uint8Array(bgr.buffer) });
  // Pad reads a constant other than 0 from its third input (a float scalar, the data's type);
  // without one it pads with 0, and a graph that pads black keeps the bytes it always had.
  const padInputs = ['imgclass_resized', LETTERBOX_FEEDS.pads];
  if (o.pad !== 0) {
    graph.initializer!.push({ name: 'imgclass_pad_value', dims: [], dataType: T.FLOAT, rawData: new Uint8Array(new Float32Array([o.pad]).buffer) });
    padInputs.push('imgclass_pad_value');
  }
  const pre = [
    node('Cast', [LETTERBOX_FEEDS.pixels], 'imgclass_float', [ai('to', T.FLOAT)]),
    node('Transpose', ['imgclass_float'], 'imgclass_nchw', [ais('perm', [0, 3, 1, 2])]),
    node('Gather', ['imgclass_nchw', 'imgclass_bgr'], 'imgclass_bgr_planes', [ai('axis', 1)]),
    node('Resize', ['imgclass_bgr_planes', '', '', LETTERBOX_FEEDS.size], 'imgclass_resized', [
      as('mode', 'linear'),
      as('coordinate_transformation_mode', 'half_pixel'),
    ]),
    node('Pad', padInputs, detectorInput, [as('mode', 'constant')]),
  ];
  graph.node = [...pre, ...(graph.node ?? [])];
  const dim = (d: number | string) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d });
  const tensor = (n: string, elemType: number, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType, shape: { dim: dims.map(dim) } } } });
  graph.input = [
    ...(graph.input ?? []).filter((i) => i.name !== detectorInput),
    tensor(LETTERBOX_FEEDS.pixels, T.UINT8, [1, 'height', 'width', 3]),
    tensor(LETTERBOX_FEEDS.size, T.INT64, [4]),
    tensor(LETTERBOX_FEEDS.pads, T.INT64, [8]),
  ];
  model.opsetImport = [{ domain: '', version: 18 }];
  if (Number(model.irVersion) < 8) model.irVersion = 8;
  return writeModel(model);
}

function fail(name: string, msg: string): never {
  throw new ImgclassError('MODEL_CORRUPT', `${name}: the ONNX file ${msg}`);
}
