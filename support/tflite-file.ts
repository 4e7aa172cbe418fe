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

/** BuiltinOperator codes used to infer a missing output shape. */
const OP = { RESHAPE: 22, SOFTMAX: 25, LOGISTIC: 14, QUANTIZE: 114, DEQUANTIZE: 6, SQUEEZE: 43 } as const;
/** Ops whose output has their first input's shape. */
const SAME_SHAPE_OPS: ReadonlySet<number> = new Set([OP.SOFTMAX, OP.LOGISTIC, OP.QUANTIZE, OP.DEQUANTIZE]);

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

/**
 * Some files (MLPerf's MobileNet-EdgeTPU among them) store the classifier's Reshape and Softmax
 * outputs with shape [], trusting TFLite's interpreter to work the shape out in Prepare. LiteRT's
 * CompiledModel allocates output buffers from the stored shape instead and fails ("Custom
 * allocation is too small"). This returns a copy whose empty graph-output shapes are filled in the
 * way the interpreter would infer them (Reshape: its constant new shape, a leading -1 being the input's batch; Squeeze:
 * its input's shape less the squeezed 1s; Softmax, Logistic, (De)Quantize: their input's shape). Only that metadata changes: weights, ops and
 * quantisation are the file's own. Files that need no repair come back unchanged.
 */
export function withStaticOutputShapes(bytes: Uint8Array): { bytes: Uint8Array; repaired: { name: string; shape: number[] }[] } {
  const fb = new Flatbuffer(bytes);
  const g = graph(fb);
  const empty = g.outputs.filter((k) => fb.length(fb.ref(g.tensor(k), 0)) === 0);
  if (empty.length === 0) return { bytes, repaired: [] };

  const opcodes = fb.ref(g.model, 1);
  const builtin = (opcodeIndex: number) => {
    const c = fb.table(opcodes, opcodeIndex);
    // schema ≥ 2.4 keeps codes above 127 in builtin_code; older files only in the deprecated int8
    return Math.max(fb.scalar(c, 0, 'int8'), fb.scalar(c, 3, 'int32'));
  };
  const operators = fb.ref(g.sub, 3);
  const producer = new Map<number, number>();
  for (let k = 0; k < fb.length(operators); k++) for (const out of fb.int32s(fb.ref(fb.table(operators, k), 2))) producer.set(out, k);
  const buffers = fb.ref(g.model, 4);
  const constInt32s = (tensorIndex: number): number[] | undefined => {
    const buf = fb.scalar(g.tensor(tensorIndex), 2, 'uint32');
    if (!buf) return undefined;
    const data = fb.ref(fb.table(buffers, buf), 0);
    const n = fb.length(data);
    if (!n || n % 4) return undefined;
    return Array.from({ length: n / 4 }, (_, i) => fb.dv.getInt32(data + 4 + 4 * i, true));
  };

  const memo = new Map<number, number[]>();
  const shapeOf = (k: number, depth = 0): number[] => {
    const stored = fb.int32s(fb.ref(g.tensor(k), 0));
    if (stored.length > 0) return stored;
    if (memo.has(k)) return memo.get(k)!;
    const name = fb.string(fb.ref(g.tensor(k), 3));
    const opIndex = producer.get(k);
    if (opIndex === undefined || depth > 64) throw new Error(`TFLite tensor ${name} has no stored shape and no op to infer it from`);
    const op = fb.table(operators, opIndex);
    const code = builtin(fb.scalar(op, 0, 'uint32'));
    const ins = fb.int32s(fb.ref(op, 1));
    let shape: number[];
    if (SAME_SHAPE_OPS.has(code)) shape = shapeOf(ins[0]!, depth + 1);
    else if (code === OP.RESHAPE) {
      // the new shape is the constant second input, or (older files) ReshapeOptions.new_shape
      const target = (ins[1] !== undefined && ins[1] >= 0 ? constInt32s(ins[1]) : undefined) ?? fb.int32s(fb.ref(fb.ref(op, 4), 0));
      if (target.length === 0) throw new Error(`cannot infer the shape of TFLite tensor ${name}: its Reshape has no constant shape`);
      if (target[0] === -1 && !target.slice(1).includes(-1)) {
        // a leading -1 is the batch ([-1, classes] ends every classifier); files that leave shapes
        // to the interpreter store none upstream either, so take it from the graph input
        shape = [fb.int32s(fb.ref(g.tensor(g.inputs[0]!), 0))[0] ?? 1, ...target.slice(1)];
      } else if (target.includes(-1)) {
        const count = shapeOf(ins[0]!, depth + 1).reduce((a, b) => a * b, 1);
        const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        shape = target.map((d) => (d === -1 ? count / known : d));
        if (shape.reduce((a, b) => a * b, 1) !== count) throw new Error(`TFLite tensor ${name}: Reshape to [${target}] does not fit ${count} elements`);
      } else shape = target;
    } else if (code === OP.SQUEEZE) {
      // SqueezeOptions.squeeze_dims (negative counts from the end); none listed: every 1 goes
      const inShape = shapeOf(ins[0]!, depth + 1);
      const dims = fb.int32s(fb.ref(fb.ref(op, 4), 0)).map((d) => (d < 0 ? d + inShape.length : d));
      shape = inShape.filter((d, i) => (dims.length ? !dims.includes(i) : d !== 1));
    } else throw new Error(`cannot infer the shape of TFLite tensor ${name}: produced by builtin op ${code}`);
    memo.set(k, shape);
    return shape;
  };

  // Append one int32 vector per repaired tensor and point its shape field there. Flatbuffer offsets
  // are unsigned and forward, so a vector after the end of the file is reachable from any field.
  const repaired = empty.map((k) => ({ k, name: fb.string(fb.ref(g.tensor(k), 3)), shape: shapeOf(k) }));
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
