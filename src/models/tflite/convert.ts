import { ImgclassError } from '../../util/errors.js';
import { onnx } from '../onnx/graph.js';
import { Converter, toQParams, type Precision, type Value } from './context.js';
import { OP_CONVERTERS } from './ops.js';
import { readTflite, type TfliteModel, type TfliteTensor } from './reader.js';

export type { Precision } from './context.js';

/**
 * TFLite → ONNX. TFLite is NHWC; ONNX's convolutions and pools are NCHW, so every 4-D activation
 * is kept NCHW inside the graph (its TFLite shape is still tracked, NHWC) and converted back only
 * where an op reads memory order (RESHAPE of a spatial map, the graph's outputs).
 *
 * A quantised model stays quantised (`precision: '8bit'`): its uint8/int8 tensors stay 8-bit
 * tensors with the file's own scale and zero point, convolutions become QLinearConv, ADD/MUL
 * onnxruntime's QLinearAdd/QLinearMul, pools QLinear(Global)AveragePool or MaxPool on bytes;
 * ops with no 8-bit kernel dequantise, run in float and requantise (QDQ). `precision: 'float'`
 * dequantises every constant and runs the whole graph in float, to measure one against the other.
 */

export interface ConvertOptions {
  /** Name of the ONNX graph input (default: the TFLite input's name). */
  input?: string;
  /**
   * What the input takes: 'float' (the model's real-valued input; a quantised model quantises it
   * with its own scale/zero point), or 'uint8' (the quantised input's bytes as they are: for the
   * shipped classifiers, the fitted pixels). Default 'float'.
   */
  inputType?: 'float' | 'uint8';
  /** Batch dimension of the input (default: a free 'batch'). */
  batch?: number | string;
  /** TFLite tensors (by name) to give as float outputs, and their ONNX names. Default: the model's outputs, by their own names. */
  outputs?: Record<string, string>;
  precision?: Precision;
  /** Hand uint8 weights to the 8-bit kernels as int8 (same values; see ops.ts quantWeights). */
  signedWeights?: boolean;
}

export interface ConvertResult {
  bytes: Uint8Array;
  /** Ops converted, and how many of each run on 8-bit kernels. */
  ops: Record<string, { count: number; int8: number }>;
}

const T = onnx.TensorProto.DataType;

export function convertTflite(bytes: Uint8Array, o: ConvertOptions = {}): ConvertResult {
  return convertModel(readTflite(bytes), o);
}

export function convertModel(m: TfliteModel, o: ConvertOptions = {}): ConvertResult {
  const c = new Converter(m, o.precision ?? '8bit', o.signedWeights ?? false);
  if (m.inputs.length !== 1) throw new ImgclassError('UNSUPPORTED_MODEL', `the TFLite model has ${m.inputs.length} inputs; an image model takes one`);
  addInput(c, c.tensor(m.inputs[0]!), o);
  for (const op of m.operators) {
    const convert = OP_CONVERTERS[op.op];
    if (!convert)
      throw new ImgclassError('UNSUPPORTED_MODEL', `TFLite op ${op.op} (operator ${op.index}) is not supported; supported: ${Object.keys(OP_CONVERTERS).join(', ')}`);
    const int8 = convert(c, op);
    const s = (c.stats[op.op] ??= { count: 0, int8: 0 });
    s.count++;
    if (int8) s.int8++;
  }
  const outputs = o.outputs ?? Object.fromEntries(m.outputs.map((i) => [c.tensor(i).name, c.tensor(i).name]));
  for (const [tflite, onnxName] of Object.entries(outputs)) {
    const t = m.tensors.find((x) => x.name === tflite);
    const v = t && c.values.get(t.index);
    if (!v) throw new ImgclassError('BAD_OPTION', `the TFLite model has no tensor named "${tflite}"`);
    const out = c.toNhwc(c.toFloat(v));
    c.g.node('Identity', [out.name], {}, onnxName);
    c.g.output(
      onnxName,
      out.shape.map((d, i) => (i === 0 ? (o.batch ?? 'batch') : d)),
    );
  }
  return { bytes: c.g.build({ source: 'tflite', precision: c.precision }, m.description), ops: c.stats };
}

function addInput(c: Converter, t: TfliteTensor, o: ConvertOptions): void {
  if (t.shape.length !== 4) throw new ImgclassError('UNSUPPORTED_MODEL', `the TFLite input ${t.name} has shape [${t.shape}]; an image model takes NHWC`);
  const dims = t.shape.map((d, i) => (i === 0 ? (o.batch ?? 'batch') : d));
  const name = o.input ?? t.name;
  const quant = t.quantization && (t.type === 'UINT8' || t.type === 'INT8') ? toQParams(t.quantization, t.type) : undefined;
  let v: Value;
  if ((o.inputType ?? 'float') === 'uint8') {
    if (!quant || quant.type !== T.UINT8) throw new ImgclassError('BAD_OPTION', `the TFLite input ${t.name} is ${t.type}, not quantised uint8`);
    const raw: Value = { name: c.g.input(name, dims, T.UINT8), shape: t.shape, nchw: false, q: quant };
    v = c.precision === '8bit' ? raw : c.toFloat(raw);
  } else {
    const raw: Value = { name: c.g.input(name, dims), shape: t.shape, nchw: false };
    v = quant && c.precision === '8bit' ? c.quantize(raw, quant) : raw;
  }
  c.set(t.index, c.toNchw(v));
}
