import { ImgclassError } from '../../util/errors.js';
import { GraphBuilder, onnx } from '../onnx/graph.js';
import type { Quantization, TfliteModel, TfliteTensor } from './reader.js';

/**
 * The state of one TFLite → ONNX conversion (convert.ts drives it, ops.ts adds each operator):
 * the graph being built, the ONNX value standing for each TFLite tensor, and the conversions
 * between the representations a value can have (bytes or floats, NCHW or NHWC).
 */

export type Precision = '8bit' | 'float';

/** An ONNX tensor standing for a TFLite tensor. */
export interface Value {
  name: string;
  /** The TFLite shape (NHWC for 4-D), batch included. */
  shape: number[];
  /** 4-D activations are NCHW in the graph. */
  nchw: boolean;
  /** Set when the ONNX tensor holds the quantised bytes (uint8/int8) rather than floats. */
  q?: QParams;
}

export interface QParams {
  scale: number[];
  zeroPoint: number[];
  /** ONNX element type: uint8 or int8. */
  type: number;
  /** Axis (of the ONNX tensor) of per-channel parameters. */
  axis?: number;
}

const T = onnx.TensorProto.DataType;

export class Converter {
  readonly g = new GraphBuilder();
  readonly values = new Map<number, Value>();
  readonly precision: Precision;
  readonly stats: Record<string, { count: number; int8: number }> = {};

  constructor(
    readonly model: TfliteModel,
    precision: Precision,
    /** uint8 weights given to the 8-bit kernels as int8 (ops.ts, quantWeights). */
    readonly signedWeights = false,
  ) {
    this.precision = precision;
  }

  tensor(i: number): TfliteTensor {
    const t = this.model.tensors[i];
    if (!t) throw new ImgclassError('MODEL_CORRUPT', `TFLite model refers to tensor ${i}, which does not exist`);
    return t;
  }

  /** The 8-bit parameters of a TFLite tensor, when it is an activation quantised per tensor (and we keep 8 bits). */
  qparams(t: TfliteTensor): QParams | undefined {
    if (this.precision === 'float' || !t.quantization) return undefined;
    if (t.type !== 'UINT8' && t.type !== 'INT8') return undefined;
    return toQParams(t.quantization, t.type);
  }

  /** The value of an operator's input tensor: an activation already converted, or a constant. */
  value(i: number): Value {
    const v = this.values.get(i);
    if (v) return v;
    const t = this.tensor(i);
    if (!t.data) throw new ImgclassError('MODEL_CORRUPT', `TFLite tensor ${t.name} is read before it is written`);
    const q = this.qparams(t);
    // A per-tensor quantised constant (an ADD's operand …) stays bytes for the 8-bit kernels.
    const c: Value =
      q && q.scale.length === 1
        ? { name: this.g.typed(sanitise(t.name), q.type, t.shape, t.data.subarray(0, t.shape.reduce((a, b) => a * b, 1))), shape: t.shape, nchw: false, q }
        : { name: this.g.constant(sanitise(t.name), constantFloats(t), t.shape), shape: t.shape, nchw: false };
    return t.shape.length === 4 ? this.toNchw(c) : c;
  }

  set(i: number, v: Value): void {
    this.values.set(i, v);
  }

  toFloat(v: Value): Value {
    if (!v.q) return v;
    const name = this.g.node('DequantizeLinear', [v.name, this.scaleConst(v.q), this.zeroConst(v.q)], v.q.axis === undefined ? {} : { axis: v.q.axis });
    return { name, shape: v.shape, nchw: v.nchw };
  }

  quantize(v: Value, q: QParams): Value {
    const f = this.toFloat(v);
    const name = this.g.node('QuantizeLinear', [f.name, this.scaleConst(q), this.zeroConst(q)]);
    return { name, shape: v.shape, nchw: v.nchw, q };
  }

  /** `v` as bytes with exactly the parameters `q` (requantised if they differ). */
  toQuant(v: Value, q: QParams): Value {
    if (v.q && sameQ(v.q, q)) return v;
    return this.quantize(v, q);
  }

  scaleConst(q: QParams): string {
    return this.g.constant('scale', q.scale, q.scale.length === 1 ? [] : [q.scale.length]);
  }

  zeroConst(q: QParams): string {
    const raw = q.type === T.INT8 ? new Uint8Array(Int8Array.from(q.zeroPoint).buffer) : Uint8Array.from(q.zeroPoint);
    return this.g.typed('zero_point', q.type, q.zeroPoint.length === 1 ? [] : [q.zeroPoint.length], raw);
  }

  toNchw(v: Value): Value {
    if (v.shape.length !== 4 || v.nchw) return v;
    if (isSpatial1x1(v.shape)) return { ...v, name: this.g.node('Reshape', [v.name, this.g.int64('shape', [-1, v.shape[3]!, 1, 1])]), nchw: true };
    return { ...v, name: this.g.node('Transpose', [v.name], { perm: [0, 3, 1, 2] }), nchw: true };
  }

  toNhwc(v: Value): Value {
    if (!v.nchw) return v;
    if (isSpatial1x1(v.shape)) return { ...v, name: this.g.node('Reshape', [v.name, this.g.int64('shape', [-1, 1, 1, v.shape[3]!])]), nchw: false };
    return { ...v, name: this.g.node('Transpose', [v.name], { perm: [0, 2, 3, 1] }), nchw: false };
  }
}

function isSpatial1x1(shape: number[]): boolean {
  return shape[1] === 1 && shape[2] === 1;
}

export function toQParams(q: Quantization, type: string): QParams {
  return { scale: Array.from(q.scale), zeroPoint: q.zeroPoint, type: type === 'INT8' ? T.INT8 : T.UINT8 };
}

function sameQ(a: QParams, b: QParams): boolean {
  return a.type === b.type && a.scale.length === b.scale.length && a.scale.every((s, i) => s === b.scale[i] && a.zeroPoint[i] === b.zeroPoint[i]);
}

/** ONNX tensor names from TFLite's (which join fused op names with ';'). */
export function sanitise(name: string): string {
  return name.replace(/[^A-Za-z0-9_/.-]+/g, '_').slice(0, 120) || 't';
}

/** A constant tensor's real values: float32/float16 as they are, quantised ints dequantised. */
export function constantFloats(t: TfliteTensor): Float32Array {
  const d = t.data!;
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const n = t.shape.reduce((a, b) => a * b, 1);
  let raw: Float32Array;
  switch (t.type) {
    case 'FLOAT32':
      raw = Float32Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, true));
      return raw;
    case 'FLOAT16':
      return Float32Array.from({ length: n }, (_, i) => half(dv.getUint16(2 * i, true)));
    case 'UINT8':
      raw = Float32Array.from(d.subarray(0, n));
      break;
    case 'INT8':
      raw = Float32Array.from(new Int8Array(d.buffer, d.byteOffset, n));
      break;
    case 'INT32':
      raw = Float32Array.from({ length: n }, (_, i) => dv.getInt32(4 * i, true));
      break;
    default:
      throw new ImgclassError('UNSUPPORTED_MODEL', `constant tensor ${t.name} of type ${t.type} is not supported`);
  }
  const q = t.quantization;
  if (!q) return raw;
  const axis = q.scale.length > 1 ? q.axis : -1;
  const inner = axis < 0 ? 1 : t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = axis < 0 ? 1 : t.shape[axis]!;
  for (let i = 0; i < n; i++) {
    const c = axis < 0 ? 0 : Math.floor(i / inner) % channels;
    raw[i] = q.scale[c]! * (raw[i]! - q.zeroPoint[c]!);
  }
  return raw;
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}
