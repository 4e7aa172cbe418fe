/**
 * The few facts about a .tflite file that the LiteRT reference needs and LiteRT.js does not give:
 * the graph inputs' and outputs' element types, shapes and quantisation (LiteRT.js hands back raw
 * uint8 without the scale and zero point), and a repair of output shapes that a file leaves to the
 * interpreter. This is a reader of a handful of fields of TFLite's flatbuffer schema
 * (tensorflow/lite/schema/schema.fbs), not the project's TFLite importer: the reference must not
 * share code with what it checks.
 */

/** TFLite's TensorType values that a classifier's inputs and outputs use. */
const TENSOR_TYPES: Record<number, TensorDType> = { 0: 'float32', 2: 'int32', 3: 'uint8', 9: 'int8' };
export type TensorDType = 'float32' | 'int32' | 'uint8' | 'int8';

/** BuiltinOperator codes (schema.fbs) whose output shapes the reference can infer. */
const OP = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  TANH: 28,
  SQUEEZE: 43,
  QUANTIZE: 114,
  HARD_SWISH: 117,
} as const;
/** Ops whose output has their first input's shape. */
const SAME_SHAPE_OPS: ReadonlySet<number> = new Set([OP.SOFTMAX, OP.LOGISTIC, OP.QUANTIZE, OP.DEQUANTIZE, OP.RELU, OP.RELU6, OP.TANH, OP.HARD_SWISH]);
/** Padding enum: SAME = 0, VALID = 1. */
const PADDING_SAME = 0;

/** One graph input or output of subgraph 0. */
export interface TfliteTensorInfo {
  index: number;
  name: string;
  dtype: TensorDType;
  /** As stored in the file (may be [] when the file leaves it to the interpreter). */
  shape: number[];
  /** Per-tensor quantisation (`real = scale × (q − zeroPoint)`); undefined for float tensors. */
  quantization?: { scale: number; zeroPoint: number };
}

/** A read-only view on a TFLite flatbuffer with the offsets resolved as schema.fbs lays them out. */
class Flatbuffer {
  readonly dv: DataView;
  constructor(readonly bytes: Uint8Array) {
    if (bytes.byteLength < 8 || String.fromCharCode(...bytes.subarray(4, 8)) !== 'TFL3') throw new Error('not a TFLite file (no TFL3 identifier)');
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u32 = (p: number) => this.dv.getUint32(p, true);
  root = () => this.u32(0);
  /** Position of field `i` of the table at `t`, or 0 when the field is absent (default value). */
  field(t: number, i: number): number {
    const vt = t - this.dv.getInt32(t, true);
    if (4 + 2 * i >= this.dv.getUint16(vt, true)) return 0;
    const o = this.dv.getUint16(vt + 4 + 2 * i, true);
    return o ? t + o : 0;
  }
  /** Follow an offset field (table, vector or string) to what it points at; 0 when absent. */
  ref(t: number, i: number): number {
    const p = this.field(t, i);
    return p ? p + this.u32(p) : 0;
  }
  length = (v: number) => (v ? this.u32(v) : 0);
  /** Element k of a vector of tables. */
  table(v: number, k: number): number {
    const p = v + 4 + 4 * k;
    return p + this.u32(p);
  }
  int32s(v: number): number[] {
    return Array.from({ length: this.length(v) }, (_, k) => this.dv.getInt32(v + 4 + 4 * k, true));
  }
  string(v: number): string {
    return v ? new TextDecoder().decode(this.bytes.subarray(v + 4, v + 4 + this.u32(v))) : '';
  }
  scalar(t: number, i: number, kind: 'int8' | 'int32' | 'uint32', fallback = 0): number {
    const p = this.field(t, i);
    if (!p) return fallback;
    return kind === 'int8' ? this.dv.getInt8(p) : kind === 'int32' ? this.dv.getInt32(p, true) : this.dv.getUint32(p, true);
  }
}

/** Model → subgraphs[0] and its tensors, with the accessors the functions below share. */
function graph(fb: Flatbuffer) {
  const model = fb.root();
  const subgraphs = fb.ref(model, 2);
  if (fb.length(subgraphs) < 1) throw new Error('TFLite file has no subgraph');
  const sub = fb.table(subgraphs, 0);
  const tensors = fb.ref(sub, 0);
  const tensor = (k: number) => {
    if (k < 0 || k >= fb.length(tensors)) throw new Error(`TFLite tensor index ${k} out of range`);
    return fb.table(tensors, k);
  };
  return { model, sub, tensor, inputs: fb.int32s(fb.ref(sub, 1)), outputs: fb.int32s(fb.ref(sub, 2)) };
}

function tensorInfo(fb: Flatbuffer, t: number, index: number): TfliteTensorInfo {
  const typeCode = fb.scalar(t, 1, 'int8');
  const dtype = TENSOR_TYPES[typeCode];
  const name = fb.string(fb.ref(t, 3));
  if (!dtype) throw new Error(`TFLite tensor ${name} has element type ${typeCode}, which the reference does not handle`);
  const info: TfliteTensorInfo = { index, name, dtype, shape: fb.int32s(fb.ref(t, 0)) };
  const q = fb.ref(t, 4);
  const scales = q ? fb.ref(q, 2) : 0;
  if (scales && fb.length(scales) > 0) {
    if (fb.length(scales) !== 1) throw new Error(`TFLite tensor ${name} is quantised per channel; a graph input or output must be per tensor`);
    const zps = fb.ref(q, 3);
    const zeroPoint = fb.length(zps) ? Number(fb.dv.getBigInt64(zps + 4, true)) : 0;
    info.quantization = { scale: fb.dv.getFloat32(scales + 4, true), zeroPoint };
  }
  return info;
}

/** The graph inputs and outputs of subgraph 0, in order. */
export function readTfliteIo(bytes: Uint8Array): { inputs: TfliteTensorInfo[]; outputs: TfliteTensorInfo[] } {
  const fb = new Flatbuffer(bytes);
  const g = graph(fb);
  return { inputs: g.inputs.map((k) => tensorInfo(fb, g.tensor(k), k)), outputs: g.outputs.map((k) => tensorInfo(fb, g.tensor(k), k)) };
}

/** Every tensor's shape as stored in the file, by name ([] where the file leaves it to the interpreter). */
export function readStoredShapes(bytes: Uint8Array): Map<string, number[]> {
  const fb = new Flatbuffer(bytes);
  const g = graph(fb);
  const out = new Map<string, number[]>();
  for (let k = 0; k < fb.length(fb.ref(g.sub, 0)); k++) out.set(fb.string(fb.ref(g.tensor(k), 3)), fb.int32s(fb.ref(g.tensor(k), 0)));
  return out;
}

/**
 * Some files (MLPerf's MobileNet-EdgeTPU among them) store no shape for most activation tensors
 * (the classifier's Softmax output included), trusting TFLite's interpreter to work them out in
 * Prepare. LiteRT's CompiledModel allocates output buffers from the stored shape instead and fails
 * ("Custom allocation is too small"), and its XNNPack delegate only takes ops whose tensors have
 * static shapes. This returns a copy with the missing shapes filled in as the interpreter infers
 * them: `which` 'outputs' fills the graph outputs only (the least change that lets LiteRT run the
 * file), 'all' every activation (so XNNPack can take the whole graph). Only shape metadata
 * changes: weights, ops and quantisation are the file's own. A file that needs nothing comes back
 * unchanged.
 */
export function withStaticShapes(
  bytes: Uint8Array,
  which: 'outputs' | 'all' = 'outputs',
): { bytes: Uint8Array; repaired: { name: string; shape: number[] }[] } {
  const fb = new Flatbuffer(bytes);
  const g = graph(fb);
  const storedShape = (k: number) => fb.int32s(fb.ref(g.tensor(k), 0));
  const tensorName = (k: number) => fb.string(fb.ref(g.tensor(k), 3));
  const operators = fb.ref(g.sub, 3);
  const producer = new Map<number, number>();
  for (let k = 0; k < fb.length(operators); k++) for (const out of fb.int32s(fb.ref(fb.table(operators, k), 2))) producer.set(out, k);
  const candidates = which === 'outputs' ? g.outputs : [...producer.keys()].sort((x, y) => x - y);
  const empty = candidates.filter((k) => storedShape(k).length === 0);
  if (empty.length === 0) return { bytes, repaired: [] };

  const opcodes = fb.ref(g.model, 1);
  const builtin = (opcodeIndex: number) => {
    const c = fb.table(opcodes, opcodeIndex);
    // schema ≥ 2.4 keeps codes above 127 in builtin_code; older files only in the deprecated int8
    return Math.max(fb.scalar(c, 0, 'int8'), fb.scalar(c, 3, 'int32'));
  };
  const buffers = fb.ref(g.model, 4);
  const constInt32s = (tensorIndex: number): number[] | undefined => {
    const buf = fb.scalar(g.tensor(tensorIndex), 2, 'uint32');
    if (!buf) return undefined;
    const data = fb.ref(fb.table(buffers, buf), 0);
    const n = fb.length(data);
    if (!n || n % 4) return undefined;
    return Array.from({ length: n / 4 }, (_, i) => fb.dv.getInt32(data + 4 + 4 * i, true));
  };
  /** TFLite's output size along one axis: SAME pads to ceil(in / stride), VALID drops what the window cannot cover. */
  const windowOut = (size: number, kernel: number, stride: number, dilation: number, padding: number) =>
    padding === PADDING_SAME ? Math.ceil(size / stride) : Math.floor((size - (kernel - 1) * dilation - 1) / stride) + 1;

  const memo = new Map<number, number[]>();
  const shapeOf = (k: number, depth = 0): number[] => {
    const stored = storedShape(k);
    if (stored.length > 0) return stored;
    const known = memo.get(k);
    if (known) return known;
    const name = tensorName(k);
    const opIndex = producer.get(k);
    if (opIndex === undefined || depth > 1000) throw new Error(`TFLite tensor ${name} has no stored shape and no op to infer it from`);
    const op = fb.table(operators, opIndex);
    const code = builtin(fb.scalar(op, 0, 'uint32'));
    const ins = fb.int32s(fb.ref(op, 1));
    const options = fb.ref(op, 4);
    const opt = (i: number, fallback = 0) => (options ? fb.scalar(options, i, 'int32', fallback) : fallback);
    const optByte = (i: number) => (options ? fb.scalar(options, i, 'int8') : 0);
    const input = () => shapeOf(ins[0]!, depth + 1);
    let shape: number[];
    if (SAME_SHAPE_OPS.has(code)) shape = input();
    else if (code === OP.CONV_2D || code === OP.DEPTHWISE_CONV_2D) {
      // Conv2DOptions: padding, stride_w, stride_h, activation, dilation_w, dilation_h;
      // DepthwiseConv2DOptions has depth_multiplier before the activation
      const [n, h, w] = input();
      const weights = storedShape(ins[1]!); // conv [out, kh, kw, in]; depthwise [1, kh, kw, out]
      const d = code === OP.CONV_2D ? 4 : 5;
      const out = code === OP.CONV_2D ? weights[0]! : weights[3]!;
      shape = [n!, windowOut(h!, weights[1]!, opt(2), opt(d + 1, 1), optByte(0)), windowOut(w!, weights[2]!, opt(1), opt(d, 1), optByte(0)), out];
    } else if (code === OP.AVERAGE_POOL_2D || code === OP.MAX_POOL_2D) {
      // Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height
      const [n, h, w, c] = input();
      shape = [n!, windowOut(h!, opt(4), opt(2), 1, optByte(0)), windowOut(w!, opt(3), opt(1), 1, optByte(0)), c!];
    } else if (code === OP.ADD || code === OP.MUL) {
      const [x, y] = [input(), shapeOf(ins[1]!, depth + 1)];
      const rank = Math.max(x.length, y.length);
      shape = Array.from({ length: rank }, (_, i) => Math.max(x[x.length - rank + i] ?? 1, y[y.length - rank + i] ?? 1));
    } else if (code === OP.RESHAPE) {
      // the new shape is the constant second input, or (older files) ReshapeOptions.new_shape
      const target = (ins[1] !== undefined && ins[1] >= 0 ? constInt32s(ins[1]) : undefined) ?? fb.int32s(fb.ref(options, 0));
      if (target.length === 0) throw new Error(`cannot infer the shape of TFLite tensor ${name}: its Reshape has no constant shape`);
      const count = input().reduce((a, b) => a * b, 1);
      const rest = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      shape = target.map((d) => (d === -1 ? count / rest : d));
      if (shape.reduce((a, b) => a * b, 1) !== count) throw new Error(`TFLite tensor ${name}: Reshape to [${target}] does not fit ${count} elements`);
    } else if (code === OP.SQUEEZE) {
      // SqueezeOptions.squeeze_dims (negative counts from the end); none listed: every 1 goes
      const inShape = input();
      const dims = fb.int32s(fb.ref(options, 0)).map((d) => (d < 0 ? d + inShape.length : d));
      shape = inShape.filter((d, i) => (dims.length ? !dims.includes(i) : d !== 1));
    } else
      throw new Error(`cannot infer the shape of TFLite tensor ${name}: produced by builtin op ${code}, which the reference's shape inference does not know`);
    if (shape.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`inferred an impossible shape [${shape}] for TFLite tensor ${name}`);
    memo.set(k, shape);
    return shape;
  };

  // Append one int32 vector per repaired tensor and point its shape field there. Flatbuffer offsets
  // are unsigned and forward, so a vector after the end of the file is reachable from any field.
  const repaired = empty.map((k) => ({ k, name: tensorName(k), shape: shapeOf(k) }));
  const start = Math.ceil(bytes.byteLength / 16) * 16;
  const size = start + repaired.reduce((s, r) => s + 4 + 4 * r.shape.length, 0);
  const out = new Uint8Array(size);
  out.set(bytes);
  const dv = new DataView(out.buffer);
  let at = start;
  for (const r of repaired) {
    const fieldPos = fb.field(g.tensor(r.k), 0);
    if (!fieldPos) throw new Error(`TFLite tensor ${r.name} has no shape field to repair`);
    dv.setUint32(at, r.shape.length, true);
    r.shape.forEach((d, i) => dv.setInt32(at + 4 + 4 * i, d, true));
    dv.setUint32(fieldPos, at - fieldPos, true);
    at += 4 + 4 * r.shape.length;
  }
  return { bytes: out, repaired: repaired.map(({ name, shape }) => ({ name, shape })) };
}

/**
 * A copy with the stored shapes of every activation tensor (not a graph input or output, not a
 * constant) emptied, as some converters write them: TFLite's interpreter infers them at Prepare.
 * LiteRT's XNNPack delegate only takes ops whose tensors have static shapes in the file, so this
 * sends a model to TFLite's built-in kernels instead. Only shape metadata changes.
 */
export function withoutActivationShapes(bytes: Uint8Array): Uint8Array {
  const fb = new Flatbuffer(bytes);
  const g = graph(fb);
  const buffers = fb.ref(g.model, 4);
  const keep = new Set([...g.inputs, ...g.outputs]);
  const start = Math.ceil(bytes.byteLength / 16) * 16;
  const out = new Uint8Array(start + 4); // one empty vector: length 0
  out.set(bytes);
  const dv = new DataView(out.buffer);
  const tensors = fb.ref(g.sub, 0);
  for (let k = 0; k < fb.length(tensors); k++) {
    if (keep.has(k)) continue;
    const t = g.tensor(k);
    const buf = fb.scalar(t, 2, 'uint32');
    if (buf && fb.length(fb.ref(fb.table(buffers, buf), 0)) > 0) continue; // a constant
    for (const fieldIndex of [0, 7]) {
      // shape, shape_signature
      const p = fb.field(t, fieldIndex);
      if (p) dv.setUint32(p, start - p, true);
    }
  }
  return out;
}
