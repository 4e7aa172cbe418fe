import { Builder } from 'flatbuffers';

/**
 * A tiny TFLite writer (flatbuffers Builder, schema.fbs's slots) and a float reference interpreter
 * for the ops the importer converts: tests build small float and quantised models with it, run the
 * converted ONNX graph, and check it against this plain, loop-by-loop NHWC arithmetic.
 */

export type TensorType = 'FLOAT32' | 'UINT8' | 'INT8' | 'INT32';
const TYPE_CODE: Record<TensorType, number> = { FLOAT32: 0, INT32: 2, UINT8: 3, INT8: 9 };
export const OP_CODE = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOCAL_RESPONSE_NORMALIZATION: 13,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  PAD: 34,
  MEAN: 40,
  SQUEEZE: 43,
  QUANTIZE: 114,
  HARD_SWISH: 117,
} as const;
export type OpName = keyof typeof OP_CODE;

export interface QuantSpec {
  scale: number[];
  zeroPoint: number[];
  axis?: number;
}

export interface TensorSpec {
  name: string;
  shape: number[];
  type: TensorType;
  /** Constant values, real-valued: quantised on writing when the tensor is. */
  values?: number[];
  quant?: QuantSpec;
}

export type Field = { slot: number; kind: 'int' | 'byte' | 'float' | 'ints'; value: number | number[] };
export interface OpSpec {
  op: OpName;
  inputs: number[];
  outputs: number[];
  /** Builtin options: the union's type index and the table's fields. */
  options?: { type: number; fields: Field[] };
}

export interface ModelSpec {
  tensors: TensorSpec[];
  inputs: number[];
  outputs: number[];
  ops: OpSpec[];
}

export const PADDING = { SAME: 0, VALID: 1 } as const;
export const ACT = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4 } as const;

// Options tables, by the schema's slots and union indices.
export const opts = {
  conv: (padding: number, stride: number, act: number, dilation = 1) => ({
    type: 1,
    fields: [f('byte', 0, padding), f('int', 1, stride), f('int', 2, stride), f('byte', 3, act), f('int', 4, dilation), f('int', 5, dilation)],
  }),
  depthwise: (padding: number, stride: number, multiplier: number, act: number) => ({
    type: 2,
    fields: [f('byte', 0, padding), f('int', 1, stride), f('int', 2, stride), f('int', 3, multiplier), f('byte', 4, act)],
  }),
  pool: (padding: number, stride: number, filter: number, act = 0) => ({
    type: 5,
    fields: [f('byte', 0, padding), f('int', 1, stride), f('int', 2, stride), f('int', 3, filter), f('int', 4, filter), f('byte', 5, act)],
  }),
  fullyConnected: (act: number) => ({ type: 8, fields: [f('byte', 0, act)] }),
  softmax: (beta: number) => ({ type: 9, fields: [f('float', 0, beta)] }),
  concat: (axis: number, act = 0) => ({ type: 10, fields: [f('int', 0, axis), f('byte', 1, act)] }),
  add: (act = 0) => ({ type: 11, fields: [f('byte', 0, act)] }),
  mul: (act = 0) => ({ type: 21, fields: [f('byte', 0, act)] }),
  reducer: (keepDims: boolean) => ({ type: 27, fields: [f('byte', 0, keepDims ? 1 : 0)] }),
  squeeze: (dims: number[]) => ({ type: 30, fields: [f('ints', 0, dims)] }),
};
function f(kind: Field['kind'], slot: number, value: number | number[]): Field {
  return { kind, slot, value };
}

const quantiseValue = (x: number, q: QuantSpec, c: number, type: TensorType) => {
  const [lo, hi] = type === 'INT8' ? [-128, 127] : type === 'UINT8' ? [0, 255] : [-(2 ** 31), 2 ** 31 - 1];
  return Math.min(hi, Math.max(lo, Math.round(x / q.scale[c]!) + q.zeroPoint[c]!));
};

/** The bytes a constant is stored as. */
function constantBytes(t: TensorSpec): Uint8Array {
  const v = t.values!;
  const n = v.length;
  const axis = t.quant && t.quant.scale.length > 1 ? (t.quant.axis ?? 0) : -1;
  const inner = axis < 0 ? 1 : t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const chan = (i: number) => (axis < 0 ? 0 : Math.floor(i / inner) % t.shape[axis]!);
  const q = (i: number) => (t.quant ? quantiseValue(v[i]!, t.quant, chan(i), t.type) : v[i]!);
  switch (t.type) {
    case 'FLOAT32':
      return new Uint8Array(Float32Array.from(v).buffer);
    case 'INT32':
      return new Uint8Array(Int32Array.from({ length: n }, (_, i) => q(i)).buffer);
    case 'UINT8':
      return Uint8Array.from({ length: n }, (_, i) => q(i));
    case 'INT8':
      return new Uint8Array(Int8Array.from({ length: n }, (_, i) => q(i)).buffer);
  }
}

export function writeTflite(m: ModelSpec): Uint8Array {
  const b = new Builder(1024);
  const intVector = (xs: number[]) => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
    return b.endVector();
  };
  const floatVector = (xs: number[]) => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addFloat32(xs[i]!);
    return b.endVector();
  };
  const longVector = (xs: number[]) => {
    b.startVector(8, xs.length, 8);
    for (let i = xs.length - 1; i >= 0; i--) b.addInt64(BigInt(xs[i]!));
    return b.endVector();
  };
  const offsets = (xs: number[]) => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
    return b.endVector();
  };
  // Buffer 0 is the empty one; each constant gets its own.
  const bufferData = [null, ...m.tensors.filter((t) => t.values).map(constantBytes)];
  const buffers = bufferData.map((d) => {
    const data = d ? b.createByteVector(d) : 0;
    b.startObject(1);
    if (data) b.addFieldOffset(0, data, 0);
    return b.endObject();
  });
  let nextBuffer = 1;
  const tensors = m.tensors.map((t) => {
    const name = b.createString(t.name);
    const shape = intVector(t.shape);
    let quant = 0;
    if (t.quant) {
      const scale = floatVector(t.quant.scale);
      const zp = longVector(t.quant.zeroPoint);
      b.startObject(7);
      b.addFieldOffset(2, scale, 0);
      b.addFieldOffset(3, zp, 0);
      b.addFieldInt32(6, t.quant.axis ?? 0, 0);
      quant = b.endObject();
    }
    b.startObject(8);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, TYPE_CODE[t.type], 0);
    b.addFieldInt32(2, t.values ? nextBuffer++ : 0, 0);
    b.addFieldOffset(3, name, 0);
    if (quant) b.addFieldOffset(4, quant, 0);
    return b.endObject();
  });
  const codes = [...new Set(m.ops.map((o) => o.op))];
  const codeTables = codes.map((c) => {
    b.startObject(4);
    b.addFieldInt8(0, Math.min(OP_CODE[c], 127), 0);
    b.addFieldInt32(2, 1, 1);
    b.addFieldInt32(3, OP_CODE[c], 0);
    return b.endObject();
  });
  const operators = m.ops.map((o) => {
    const inputs = intVector(o.inputs);
    const outputs = intVector(o.outputs);
    let options = 0;
    if (o.options) {
      const vectors = o.options.fields.map((fl) => (fl.kind === 'ints' ? intVector(fl.value as number[]) : 0));
      b.startObject(8);
      o.options.fields.forEach((fl, i) => {
        if (fl.kind === 'int') b.addFieldInt32(fl.slot, fl.value as number, null);
        else if (fl.kind === 'byte') b.addFieldInt8(fl.slot, fl.value as number, null);
        else if (fl.kind === 'float') b.addFieldFloat32(fl.slot, fl.value as number, null);
        else b.addFieldOffset(fl.slot, vectors[i]!, 0);
      });
      options = b.endObject();
    }
    b.startObject(9);
    b.addFieldInt32(0, codes.indexOf(o.op), 0);
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    if (options) {
      b.addFieldInt8(3, o.options!.type, 0);
      b.addFieldOffset(4, options, 0);
    }
    return b.endObject();
  });
  const tensorVec = offsets(tensors);
  const inputs = intVector(m.inputs);
  const outputs = intVector(m.outputs);
  const opVec = offsets(operators);
  b.startObject(5);
  b.addFieldOffset(0, tensorVec, 0);
  b.addFieldOffset(1, inputs, 0);
  b.addFieldOffset(2, outputs, 0);
  b.addFieldOffset(3, opVec, 0);
  const subgraph = b.endObject();
  const codeVec = offsets(codeTables);
  const subgraphVec = offsets([subgraph]);
  const desc = b.createString('imgclass test model');
  const bufferVec = offsets(buffers);
  b.startObject(5);
  b.addFieldInt32(0, 3, 0);
  b.addFieldOffset(1, codeVec, 0);
  b.addFieldOffset(2, subgraphVec, 0);
  b.addFieldOffset(3, desc, 0);
  b.addFieldOffset(4, bufferVec, 0);
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array();
}

// ---------------------------------------------------------------------------------------------
// The reference: real values, NHWC, loops. Quantised tensors are rounded to their grid after
// each op (what an 8-bit runtime stores), so a converted 8-bit graph is compared within a step.

export interface Tensor {
  shape: number[];
  data: Float64Array;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function fakeQuant(t: Tensor, spec: TensorSpec): Tensor {
  if (!spec.quant || spec.type === 'FLOAT32' || spec.type === 'INT32') return t;
  const q = spec.quant;
  return { shape: t.shape, data: t.data.map((x) => q.scale[0]! * (quantiseValue(x, q, 0, spec.type) - q.zeroPoint[0]!)) };
}

/** The real value a constant holds once stored (quantised constants rounded to their grid). */
function constant(spec: TensorSpec): Tensor {
  const v = spec.values!;
  if (!spec.quant || spec.type === 'FLOAT32') return { shape: spec.shape, data: Float64Array.from(v) };
  const axis = spec.quant.scale.length > 1 ? (spec.quant.axis ?? 0) : -1;
  const inner = axis < 0 ? 1 : spec.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return {
    shape: spec.shape,
    data: Float64Array.from(v, (x, i) => {
      const c = axis < 0 ? 0 : Math.floor(i / inner) % spec.shape[axis]!;
      return spec.quant!.scale[c]! * (quantiseValue(x, spec.quant!, c, spec.type) - spec.quant!.zeroPoint[c]!);
    }),
  };
}

const activate = (x: number, act: number) =>
  act === 1 ? Math.max(0, x) : act === 3 ? Math.min(6, Math.max(0, x)) : act === 2 ? Math.min(1, Math.max(-1, x)) : x;

function field(o: OpSpec, slot: number, fallback = 0): number {
  const fl = o.options?.fields.find((x) => x.slot === slot);
  return fl ? (fl.value as number) : fallback;
}

/** TFLite's output size and leading pad (SAME: the odd pixel goes bottom/right). */
function windowOf(inSize: number, k: number, stride: number, dil: number, padding: number) {
  const eff = (k - 1) * dil + 1;
  if (padding === PADDING.VALID) return { out: Math.floor((inSize - eff) / stride) + 1, before: 0 };
  const out = Math.ceil(inSize / stride);
  return { out, before: Math.floor(Math.max((out - 1) * stride + eff - inSize, 0) / 2) };
}

function conv(x: Tensor, w: Tensor, bias: Tensor | undefined, o: OpSpec, depthwise: boolean): Tensor {
  const [n, h, wd, cin] = x.shape as [number, number, number, number];
  const [kh, kw] = [w.shape[1]!, w.shape[2]!];
  const cout = depthwise ? w.shape[3]! : w.shape[0]!;
  const padding = field(o, 0);
  const stride = field(o, 1);
  const act = field(o, depthwise ? 4 : 3);
  const dil = depthwise ? 1 : field(o, 4, 1);
  const mult = depthwise ? cout / cin : 1;
  const r = windowOf(h, kh, stride, dil, padding);
  const c = windowOf(wd, kw, stride, dil, padding);
  const out = new Float64Array(n * r.out * c.out * cout);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < r.out; oy++)
      for (let ox = 0; ox < c.out; ox++)
        for (let oc = 0; oc < cout; oc++) {
          let s = bias ? bias.data[oc]! : 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = oy * stride - r.before + ky * dil;
              const ix = ox * stride - c.before + kx * dil;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              const base = ((b * h + iy) * wd + ix) * cin;
              if (depthwise) s += x.data[base + Math.floor(oc / mult)]! * w.data[(ky * kw + kx) * cout + oc]!;
              else for (let ic = 0; ic < cin; ic++) s += x.data[base + ic]! * w.data[((oc * kh + ky) * kw + kx) * cin + ic]!;
            }
          out[((b * r.out + oy) * c.out + ox) * cout + oc] = activate(s, act);
        }
  return { shape: [n, r.out, c.out, cout], data: out };
}

function pool(x: Tensor, o: OpSpec, max: boolean): Tensor {
  const [n, h, w, ch] = x.shape as [number, number, number, number];
  const [padding, stride, k] = [field(o, 0), field(o, 1), field(o, 3)];
  const r = windowOf(h, k, stride, 1, padding);
  const c = windowOf(w, k, stride, 1, padding);
  const out = new Float64Array(n * r.out * c.out * ch);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < r.out; oy++)
      for (let ox = 0; ox < c.out; ox++)
        for (let cc = 0; cc < ch; cc++) {
          let s = max ? -Infinity : 0;
          let count = 0;
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const [iy, ix] = [oy * stride - r.before + ky, ox * stride - c.before + kx];
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const v = x.data[((b * h + iy) * w + ix) * ch + cc]!;
              s = max ? Math.max(s, v) : s + v;
              count++;
            }
          out[((b * r.out + oy) * c.out + ox) * ch + cc] = activate(max ? s : s / count, field(o, 5));
        }
  return { shape: [n, r.out, c.out, ch], data: out };
}

/** Numpy-style broadcasting of two tensors. */
function broadcast(a: Tensor, b: Tensor, fn: (x: number, y: number) => number): Tensor {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pa = [...new Array<number>(rank - a.shape.length).fill(1), ...a.shape];
  const pb = [...new Array<number>(rank - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((d, i) => Math.max(d, pb[i]!));
  const out = new Float64Array(size(shape));
  const idx = new Array<number>(rank).fill(0);
  const at = (s: number[], data: Float64Array) => data[s.reduce((acc, d, i) => acc * d + (d === 1 ? 0 : idx[i]!), 0)]!;
  for (let i = 0; i < out.length; i++) {
    out[i] = fn(at(pa, a.data), at(pb, b.data));
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { shape, data: out };
}

export function runReference(m: ModelSpec, input: Tensor): Tensor[] {
  const values = new Map<number, Tensor>();
  const get = (i: number) => values.get(i) ?? constant(m.tensors[i]!);
  values.set(m.inputs[0]!, input);
  for (const o of m.ops) {
    const x = get(o.inputs[0]!);
    let y: Tensor;
    switch (o.op) {
      case 'CONV_2D':
      case 'DEPTHWISE_CONV_2D':
        y = conv(x, get(o.inputs[1]!), o.inputs[2] !== undefined && o.inputs[2] >= 0 ? get(o.inputs[2]) : undefined, o, o.op === 'DEPTHWISE_CONV_2D');
        break;
      case 'FULLY_CONNECTED': {
        const w = get(o.inputs[1]!);
        const [cout, k] = w.shape as [number, number];
        const bias = o.inputs[2] !== undefined && o.inputs[2] >= 0 ? get(o.inputs[2]) : undefined;
        const rows = x.data.length / k;
        const data = new Float64Array(rows * cout);
        for (let r = 0; r < rows; r++)
          for (let oc = 0; oc < cout; oc++) {
            let s = bias ? bias.data[oc]! : 0;
            for (let i = 0; i < k; i++) s += x.data[r * k + i]! * w.data[oc * k + i]!;
            data[r * cout + oc] = activate(s, field(o, 0));
          }
        y = { shape: [rows, cout], data };
        break;
      }
      case 'ADD':
      case 'MUL': {
        const act = field(o, 0);
        y = broadcast(x, get(o.inputs[1]!), o.op === 'ADD' ? (a, b) => activate(a + b, act) : (a, b) => activate(a * b, act));
        break;
      }
      case 'AVERAGE_POOL_2D':
      case 'MAX_POOL_2D':
        y = pool(x, o, o.op === 'MAX_POOL_2D');
        break;
      case 'MEAN': {
        const [n, h, w, ch] = x.shape as [number, number, number, number];
        const data = new Float64Array(n * ch);
        for (let b = 0; b < n; b++)
          for (let i = 0; i < h * w; i++) for (let c = 0; c < ch; c++) data[b * ch + c] = data[b * ch + c]! + x.data[(b * h * w + i) * ch + c]! / (h * w);
        y = { shape: field(o, 0) ? [n, 1, 1, ch] : [n, ch], data };
        break;
      }
      case 'RESHAPE': {
        const target = m.tensors[o.inputs[1]!]!.values!;
        const known = size(target.filter((d) => d !== -1));
        y = { shape: target.map((d) => (d === -1 ? x.data.length / known : d)), data: x.data };
        break;
      }
      case 'SQUEEZE': {
        const dims = (o.options?.fields[0]?.value as number[]) ?? [];
        y = { shape: x.shape.filter((_, i) => !dims.includes(i)), data: x.data };
        break;
      }
      case 'SOFTMAX': {
        const beta = field(o, 0, 1);
        const c = x.shape.at(-1)!;
        const data = new Float64Array(x.data.length);
        for (let r = 0; r < x.data.length / c; r++) {
          const row = x.data.subarray(r * c, (r + 1) * c);
          const mx = Math.max(...row);
          const e = Array.from(row, (v) => Math.exp(beta * (v - mx)));
          const s = e.reduce((a, b) => a + b, 0);
          e.forEach((v, i) => (data[r * c + i] = v / s));
        }
        y = { shape: x.shape, data };
        break;
      }
      case 'CONCATENATION': {
        const parts = o.inputs.map(get);
        const rank = x.shape.length;
        const axis = (field(o, 0) + rank) % rank;
        const outer = size(x.shape.slice(0, axis));
        const shape = x.shape.map((d, i) => (i === axis ? parts.reduce((s, p) => s + p.shape[i]!, 0) : d));
        const data: number[] = [];
        for (let r = 0; r < outer; r++)
          for (const p of parts) {
            const chunk = size(p.shape.slice(axis));
            data.push(...p.data.subarray(r * chunk, (r + 1) * chunk));
          }
        y = { shape, data: Float64Array.from(data, (v) => activate(v, field(o, 1))) };
        break;
      }
      case 'PAD': {
        const p = m.tensors[o.inputs[1]!]!.values!;
        const [n, h, w, ch] = x.shape as [number, number, number, number];
        const shape = x.shape.map((d, i) => d + p[2 * i]! + p[2 * i + 1]!);
        const data = new Float64Array(size(shape));
        for (let b = 0; b < n; b++)
          for (let iy = 0; iy < h; iy++)
            for (let ix = 0; ix < w; ix++)
              for (let c = 0; c < ch; c++)
                data[(((b + p[0]!) * shape[1]! + iy + p[2]!) * shape[2]! + ix + p[4]!) * shape[3]! + c + p[6]!] = x.data[((b * h + iy) * w + ix) * ch + c]!;
        y = { shape, data };
        break;
      }
      case 'QUANTIZE':
      case 'DEQUANTIZE':
        y = x;
        break;
      case 'HARD_SWISH':
        y = { shape: x.shape, data: x.data.map((v) => (v * Math.min(6, Math.max(0, v + 3))) / 6) };
        break;
      case 'LOGISTIC':
        y = { shape: x.shape, data: x.data.map((v) => 1 / (1 + Math.exp(-v))) };
        break;
      case 'RELU':
        y = { shape: x.shape, data: x.data.map((v) => Math.max(0, v)) };
        break;
      case 'RELU6':
        y = { shape: x.shape, data: x.data.map((v) => Math.min(6, Math.max(0, v))) };
        break;
      default:
        throw new Error(`reference: ${o.op}`);
    }
    values.set(o.outputs[0]!, fakeQuant(y, m.tensors[o.outputs[0]!]!));
  }
  return m.outputs.map((i) => values.get(i)!);
}

/** The range of every tensor the reference computes on an input (to calibrate a quantised copy). */
export function tensorRanges(m: ModelSpec, input: Tensor): Map<number, [number, number]> {
  const ranges = new Map<number, [number, number]>();
  const probe: ModelSpec = { ...m, outputs: m.ops.map((o) => o.outputs[0]!) };
  runReference(probe, input).forEach((t, i) => {
    let [lo, hi] = [0, 0];
    for (const v of t.data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    ranges.set(probe.outputs[i]!, [lo, hi]);
  });
  let [lo, hi] = [0, 0];
  for (const v of input.data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  ranges.set(m.inputs[0]!, [lo, hi]);
  return ranges;
}

/** Asymmetric 8-bit parameters covering [lo, hi] (0 included, as TFLite's converter does). */
export function quantFor([lo, hi]: [number, number], type: 'UINT8' | 'INT8'): QuantSpec {
  const [qmin, qmax] = type === 'UINT8' ? [0, 255] : [-128, 127];
  const scale = Math.max(hi - lo, 1e-6) / (qmax - qmin);
  return { scale: [scale], zeroPoint: [Math.round(qmin - lo / scale)] };
}

/** A pseudo-random sequence in [-1, 1) (fixed seed: tests see the same weights every run). */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}
