import { ByteBuffer } from 'flatbuffers';
import { ImgclassError } from '../../util/errors.js';

/**
 * A reader of TFLite flatbuffers (tensorflow/lite/schema/schema.fbs), written by hand over the
 * `flatbuffers` runtime's ByteBuffer: the converter needs a dozen tables of that schema, and a
 * reader that names their fields by vtable slot is shorter than the generated code for all of
 * them. Slots are counted as in the schema (a union field takes two: its type, then its value).
 * It reads the first subgraph: its tensors (shape, type, buffer, per-tensor or per-channel
 * quantisation), operators (code, inputs, outputs, builtin options) and constant buffers.
 */

/** TensorType in the schema, by value. */
export const TENSOR_TYPES = ['FLOAT32', 'FLOAT16', 'INT32', 'UINT8', 'INT64', 'STRING', 'BOOL', 'INT16', 'COMPLEX64', 'INT8', 'FLOAT64'] as const;
export type TensorType = (typeof TENSOR_TYPES)[number] | `TYPE_${number}`;

/** BuiltinOperator values the converter knows by name; others are reported by number. */
export const BUILTIN_OPS: Record<number, string> = {
  0: 'ADD',
  1: 'AVERAGE_POOL_2D',
  2: 'CONCATENATION',
  3: 'CONV_2D',
  4: 'DEPTHWISE_CONV_2D',
  6: 'DEQUANTIZE',
  8: 'FLOOR',
  9: 'FULLY_CONNECTED',
  11: 'L2_NORMALIZATION',
  13: 'LOCAL_RESPONSE_NORMALIZATION',
  14: 'LOGISTIC',
  17: 'MAX_POOL_2D',
  18: 'MUL',
  19: 'RELU',
  21: 'RELU6',
  22: 'RESHAPE',
  23: 'RESIZE_BILINEAR',
  25: 'SOFTMAX',
  28: 'TANH',
  32: 'CUSTOM',
  34: 'PAD',
  36: 'GATHER',
  39: 'TRANSPOSE',
  40: 'MEAN',
  41: 'SUB',
  42: 'DIV',
  43: 'SQUEEZE',
  45: 'STRIDED_SLICE',
  53: 'CAST',
  54: 'PRELU',
  60: 'PADV2',
  67: 'TRANSPOSE_CONV',
  70: 'EXPAND_DIMS',
  74: 'SUM',
  82: 'REDUCE_MAX',
  98: 'LEAKY_RELU',
  114: 'QUANTIZE',
  117: 'HARD_SWISH',
};

export interface Quantization {
  /** real = scale × (q − zeroPoint); one entry per tensor, or one per channel of `axis`. */
  scale: Float32Array;
  zeroPoint: number[];
  axis: number;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: TensorType;
  /** The constant data (weights, biases, shapes), or undefined for activations. */
  data?: Uint8Array;
  quantization?: Quantization;
}

/** A builtin options table: fields are read by slot as the op's converter asks for them. */
export interface Options {
  int(slot: number, fallback?: number): number;
  /** A byte field (enums: padding, fused activation). */
  byte(slot: number, fallback?: number): number;
  float(slot: number, fallback?: number): number;
  bool(slot: number): boolean;
  ints(slot: number): number[] | undefined;
  /** Slots set in the file (to reject options the converter does not implement). */
  present(slot: number): boolean;
}

export interface TfliteOperator {
  index: number;
  /** BUILTIN_OPS name, `CUSTOM:<code>` or `BUILTIN_<n>`. */
  op: string;
  version: number;
  inputs: number[];
  outputs: number[];
  options: Options;
}

export interface TfliteModel {
  version: number;
  description: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
  subgraphs: number;
}

const corrupt = (msg: string) => new ImgclassError('MODEL_CORRUPT', `not a readable TFLite model: ${msg}`);

/** One table of the buffer: fields by vtable slot. */
class Table {
  constructor(
    readonly bb: ByteBuffer,
    readonly pos: number,
  ) {}
  private field(slot: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * slot);
  }
  has(slot: number): boolean {
    return this.field(slot) !== 0;
  }
  int(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readInt32(this.pos + o) : fallback;
  }
  uint(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readUint32(this.pos + o) : fallback;
  }
  int8(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readInt8(this.pos + o) : fallback;
  }
  uint8(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readUint8(this.pos + o) : fallback;
  }
  float(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readFloat32(this.pos + o) : fallback;
  }
  string(slot: number): string {
    const o = this.field(slot);
    return o ? (this.bb.__string(this.pos + o) as string) : '';
  }
  table(slot: number): Table | undefined {
    const o = this.field(slot);
    return o ? new Table(this.bb, this.bb.__indirect(this.pos + o)) : undefined;
  }
  /** A vector's first element position and length. */
  private vector(slot: number): { start: number; length: number } | undefined {
    const o = this.field(slot);
    if (!o) return undefined;
    return { start: this.bb.__vector(this.pos + o), length: this.bb.__vector_len(this.pos + o) };
  }
  tables(slot: number): Table[] {
    const v = this.vector(slot);
    if (!v) return [];
    return Array.from({ length: v.length }, (_, i) => new Table(this.bb, this.bb.__indirect(v.start + 4 * i)));
  }
  ints(slot: number): number[] | undefined {
    const v = this.vector(slot);
    return v && Array.from({ length: v.length }, (_, i) => this.bb.readInt32(v.start + 4 * i));
  }
  floats(slot: number): Float32Array | undefined {
    const v = this.vector(slot);
    return v && Float32Array.from({ length: v.length }, (_, i) => this.bb.readFloat32(v.start + 4 * i));
  }
  longs(slot: number): number[] | undefined {
    const v = this.vector(slot);
    return v && Array.from({ length: v.length }, (_, i) => Number(this.bb.readInt64(v.start + 8 * i)));
  }
  bytes(slot: number): Uint8Array | undefined {
    const v = this.vector(slot);
    return v && this.bb.bytes().subarray(v.start, v.start + v.length);
  }
}

// Slots of the schema's tables used here.
const MODEL = { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4 };
const OPERATOR_CODE = { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3 };
const SUBGRAPH = { tensors: 0, inputs: 1, outputs: 2, operators: 3 };
const TENSOR = { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, sparsity: 6 };
const QUANT = { scale: 2, zeroPoint: 3, detailsType: 4, quantizedDimension: 6 };
const OPERATOR = { opcodeIndex: 0, inputs: 1, outputs: 2, optionsType: 3, options: 4, customOptions: 5 };
const BUFFER = { data: 0, offset: 1 };

/** Parse a .tflite file (its bytes stay referenced by the tensors' data). */
export function readTflite(bytes: Uint8Array): TfliteModel {
  if (bytes.length < 8) throw corrupt(`${bytes.length} bytes`);
  const bb = new ByteBuffer(bytes);
  if (bb.getBufferIdentifier() !== 'TFL3') throw corrupt('no TFL3 file identifier (is it a .tflite file?)');
  try {
    return parse(bb);
  } catch (e) {
    if (e instanceof ImgclassError) throw e;
    throw corrupt(e instanceof Error ? e.message : String(e));
  }
}

function parse(bb: ByteBuffer): TfliteModel {
  const model = new Table(bb, bb.readInt32(bb.position()) + bb.position());
  const buffers = model.tables(MODEL.buffers);
  const codes = model.tables(MODEL.operatorCodes).map((c) => {
    // Codes above 127 live in builtin_code (int32); older files only have the byte field.
    const code = Math.max(c.int8(OPERATOR_CODE.deprecatedBuiltinCode), c.int(OPERATOR_CODE.builtinCode));
    const name = code === 32 ? `CUSTOM:${c.string(OPERATOR_CODE.customCode)}` : (BUILTIN_OPS[code] ?? `BUILTIN_${code}`);
    return { name, version: c.int(OPERATOR_CODE.version, 1) };
  });
  const subgraphs = model.tables(MODEL.subgraphs);
  const g = subgraphs[0];
  if (!g) throw corrupt('no subgraph');
  const tensors = g.tables(SUBGRAPH.tensors).map((t, index): TfliteTensor => {
    if (t.has(TENSOR.sparsity)) throw new ImgclassError('UNSUPPORTED_MODEL', `tensor ${t.string(TENSOR.name)} is sparse; sparse TFLite tensors are not supported`);
    const typeCode = t.int8(TENSOR.type);
    const buffer = buffers[t.uint(TENSOR.buffer)];
    if (buffer?.has(BUFFER.offset))
      throw new ImgclassError('UNSUPPORTED_MODEL', 'the model keeps its weights outside the flatbuffer (files over 2 GB); not supported');
    const data = buffer?.bytes(BUFFER.data);
    return {
      index,
      name: t.string(TENSOR.name) || `tensor_${index}`,
      shape: t.ints(TENSOR.shape) ?? [],
      type: TENSOR_TYPES[typeCode] ?? `TYPE_${typeCode}`,
      ...(data && data.length > 0 ? { data } : {}),
      ...quantization(t.table(TENSOR.quantization)),
    };
  });
  const operators = g.tables(SUBGRAPH.operators).map((o, index): TfliteOperator => {
    const code = codes[o.uint(OPERATOR.opcodeIndex)];
    if (!code) throw corrupt(`operator ${index} has no operator code`);
    const opts = o.table(OPERATOR.options);
    const options: Options = {
      int: (s, f = 0) => opts?.int(s, f) ?? f,
      byte: (s, f = 0) => opts?.int8(s, f) ?? f,
      float: (s, f = 0) => opts?.float(s, f) ?? f,
      bool: (s) => (opts?.uint8(s) ?? 0) !== 0,
      ints: (s) => opts?.ints(s),
      present: (s) => opts?.has(s) ?? false,
    };
    return { index, op: code.name, version: code.version, inputs: o.ints(OPERATOR.inputs) ?? [], outputs: o.ints(OPERATOR.outputs) ?? [], options };
  });
  return {
    version: model.uint(MODEL.version),
    description: model.string(MODEL.description),
    tensors,
    inputs: g.ints(SUBGRAPH.inputs) ?? [],
    outputs: g.ints(SUBGRAPH.outputs) ?? [],
    operators,
    subgraphs: subgraphs.length,
  };
}

function quantization(q: Table | undefined): { quantization?: Quantization } {
  if (!q) return {};
  if (q.uint8(QUANT.detailsType) !== 0) throw new ImgclassError('UNSUPPORTED_MODEL', 'custom TFLite quantisation (QuantizationDetails) is not supported');
  const scale = q.floats(QUANT.scale);
  if (!scale || scale.length === 0) return {};
  const zeroPoint = q.longs(QUANT.zeroPoint) ?? [];
  return { quantization: { scale, zeroPoint: zeroPoint.length ? zeroPoint : Array.from(scale, () => 0), axis: q.int(QUANT.quantizedDimension) } };
}

/** A constant tensor's values as numbers (int32/int64 shapes and axes). */
export function intValues(t: TfliteTensor): number[] {
  if (!t.data) throw new ImgclassError('UNSUPPORTED_MODEL', `tensor ${t.name} must be a constant`);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.type === 'INT32') return Array.from({ length: t.data.byteLength / 4 }, (_, i) => dv.getInt32(4 * i, true));
  if (t.type === 'INT64') return Array.from({ length: t.data.byteLength / 8 }, (_, i) => Number(dv.getBigInt64(8 * i, true)));
  throw new ImgclassError('UNSUPPORTED_MODEL', `tensor ${t.name} is ${t.type}; expected int32 or int64`);
}
