import { readFile } from 'node:fs/promises';
import { onnx, readModel, writeModel, type AttributeProto } from '../../models/onnx/graph.js';
import { getDefaultStore, type ModelStore } from '../../models/store.js';
import { ImgclassError } from '../../util/errors.js';
import { YUNET_FEEDS } from './yunet-decode.js';

/**
 * YuNet with its preprocessing as the first nodes of its own graph, so every host runs the same
 * letterbox: the decoded RGB pixels go in as they are (uint8, 1×H×W×3), and the graph casts them,
 * makes them planar BGR, resizes them to the letterbox size it is given (linear, antialiased when
 * shrinking, pixel centres at half-pixel offsets: what libvips' and PIL's bilinear do) and pads
 * them with black to 320² at the bottom and right. Measured on the app: the same letterbox in
 * sharp and JavaScript took 3–5 ms and 1.4 ms per photo; ORT does it in a fraction of a millisecond,
 * and the browser's device mode runs these very nodes instead of its own resampling.
 *
 * The file's opset goes from 11 to 18 (Resize's `antialias` is opset 18). YuNet's own operators
 * (Conv, Relu, MaxPool, Resize with scales, Add, Transpose, Reshape, Sigmoid) mean the same there.
 */
export function yunetWithPreprocessing(bytes: Uint8Array, name = 'YuNet'): Uint8Array {
  const model = readModel(bytes);
  const graph = model.graph ?? fail(name, 'has no graph');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) fail(name, `has ${inputs.length} inputs; YuNet takes one 1×3×320×320 image`);
  const yunetInput = inputs[0]!.name!;
  const ai = (n: string, i: number): AttributeProto => ({ name: n, type: onnx.AttributeProto.AttributeType.INT, i });
  const ais = (n: string, ints: number[]): AttributeProto => ({ name: n, type: onnx.AttributeProto.AttributeType.INTS, ints });
  const as = (n: string, s: string): AttributeProto => ({ name: n, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) });
  const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []) =>
    onnx.NodeProto.create({ opType, input, output: [output], name: `imgclass_${output}`, attribute });
  const bgr = new BigInt64Array([2n, 1n, 0n]);
  graph.initializer!.push({ name: 'imgclass_bgr', dims: [3], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(bgr.buffer) });
  const pre = [
    node('Cast', [YUNET_FEEDS.pixels], 'imgclass_float', [ai('to', onnx.TensorProto.DataType.FLOAT)]),
    node('Transpose', ['imgclass_float'], 'imgclass_nchw', [ais('perm', [0, 3, 1, 2])]),
    node('Gather', ['imgclass_nchw', 'imgclass_bgr'], 'imgclass_bgr_planes', [ai('axis', 1)]),
    node('Resize', ['imgclass_bgr_planes', '', '', YUNET_FEEDS.size], 'imgclass_resized', [
      as('mode', 'linear'),
      as('coordinate_transformation_mode', 'half_pixel'),
      ai('antialias', 1),
    ]),
    node('Pad', ['imgclass_resized', YUNET_FEEDS.pads], yunetInput, [as('mode', 'constant')]),
  ];
  graph.node = [...pre, ...(graph.node ?? [])];
  const dim = (d: number | string) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d });
  const tensor = (n: string, elemType: number, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType, shape: { dim: dims.map(dim) } } } });
  const T = onnx.TensorProto.DataType;
  graph.input = [
    ...(graph.input ?? []).filter((i) => i.name !== yunetInput),
    tensor(YUNET_FEEDS.pixels, T.UINT8, [1, 'height', 'width', 3]),
    tensor(YUNET_FEEDS.size, T.INT64, [4]),
    tensor(YUNET_FEEDS.pads, T.INT64, [8]),
  ];
  model.opsetImport = [{ domain: '', version: 18 }];
  if (Number(model.irVersion) < 8) model.irVersion = 8;
  return writeModel(model);
}

/** A registry YuNet (`yunet_n` or `yunet_s`), resolved from the store, with its preprocessing in the graph. */
export async function loadYunetGraph(model: 'yunet_n' | 'yunet_s' = 'yunet_n', store: ModelStore = getDefaultStore()): Promise<Uint8Array> {
  return yunetWithPreprocessing(await readFile(await store.resolve(model)), model);
}

function fail(name: string, msg: string): never {
  throw new ImgclassError('MODEL_CORRUPT', `${name}: the ONNX file ${msg}`);
}
