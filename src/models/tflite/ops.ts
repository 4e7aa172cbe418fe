import { ImgclassError } from '../../util/errors.js';
import { onnx } from '../onnx/graph.js';
import { constantFloats, type Converter, type QParams, type Value } from './context.js';
import { intValues, type TfliteOperator, type TfliteTensor } from './reader.js';

/**
 * One converter per TFLite builtin op. Each reads its inputs' ONNX values from the context, adds
 * nodes, records its output's value, and says whether it ran on an 8-bit kernel. Semantics follow
 * TFLite's reference kernels: SAME padding puts the odd pixel bottom/right, average pools divide
 * by the pixels inside the image, fused activations clamp in the quantised domain with rounded
 * bounds (CalculateActivationRangeQuantized).
 */
export type OpConverter = (c: Converter, op: TfliteOperator) => boolean;

const T = onnx.TensorProto.DataType;
const MS = 'com.microsoft';

const ACTIVATIONS = ['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'TANH', 'SIGN_BIT'];
/** Real-valued range of each fused activation TFLite clamps to. */
const ACTIVATION_RANGE: Record<string, [number, number]> = { NONE: [-Infinity, Infinity], RELU: [0, Infinity], RELU_N1_TO_1: [-1, 1], RELU6: [0, 6] };

function unsupported(op: TfliteOperator, what: string): never {
  throw new ImgclassError('UNSUPPORTED_MODEL', `TFLite ${op.op} (operator ${op.index}): ${what} is not supported`);
}

function activation(op: TfliteOperator, slot: number): string {
  const a = ACTIVATIONS[op.options.byte(slot)] ?? `#${op.options.byte(slot)}`;
  if (!(a in ACTIVATION_RANGE)) unsupported(op, `fused activation ${a}`);
  return a;
}

/** The fused activation applied to a float value. */
function floatActivation(c: Converter, v: Value, act: string): Value {
  if (act === 'NONE') return v;
  if (act === 'RELU') return { ...v, name: c.g.node('Relu', [v.name]) };
  const [lo, hi] = ACTIVATION_RANGE[act]!;
  return { ...v, name: c.g.node('Clip', [v.name, c.g.constant('clip_min', [lo], []), c.g.constant('clip_max', [hi], [])]) };
}

/** The fused activation on bytes: a Clip to the rounded quantised bounds, only where it is narrower than the type. */
function quantActivation(c: Converter, v: Value, act: string): Value {
  const q = v.q!;
  const [qmin, qmax] = q.type === T.INT8 ? [-128, 127] : [0, 255];
  const [lo, hi] = ACTIVATION_RANGE[act]!;
  const s = q.scale[0]!;
  const z = q.zeroPoint[0]!;
  const qlo = Math.max(qmin, lo === -Infinity ? qmin : z + Math.round(lo / s));
  const qhi = Math.min(qmax, hi === Infinity ? qmax : z + Math.round(hi / s));
  if (qlo <= qmin && qhi >= qmax) return v;
  const bound = (x: number) => c.g.typed('clip_bound', q.type, [], q.type === T.INT8 ? new Uint8Array(Int8Array.of(x).buffer) : Uint8Array.of(x));
  return { ...v, name: c.g.node('Clip', [v.name, bound(qlo), bound(qhi)]) };
}

/** Record an op's output: quantised again if the file says it is (QDQ) and it was computed in float. */
function finish(c: Converter, op: TfliteOperator, v: Value, act = 'NONE'): void {
  const t = c.tensor(op.outputs[0]!);
  const q = c.qparams(t);
  if (v.q) {
    const out = q ? c.toQuant(v, q) : c.toFloat(v);
    c.set(t.index, out.q ? quantActivation(c, out, act) : floatActivation(c, out, act));
    return;
  }
  const f = floatActivation(c, v, act);
  c.set(t.index, q ? c.quantize(f, q) : f);
}

/** An output-size and padding computation as TFLite does it (SAME: odd pixel bottom/right). */
function window(
  op: TfliteOperator,
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: number,
): { out: number; before: number; after: number } {
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 1) return { out: Math.floor((size - effective) / stride) + 1, before: 0, after: 0 };
  if (padding !== 0) unsupported(op, `padding ${padding}`);
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/** Reorder a constant's elements (weights from TFLite's OHWI to ONNX's OIHW, etc.). */
function permute<A extends Uint8Array | Int8Array | Float32Array>(data: A, shape: number[], perm: number[]): A {
  const out = new (data.constructor as new (n: number) => A)(data.length);
  const outShape = perm.map((p) => shape[p]!);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < perm.length; d++) src += idx[d]! * strides[perm[d]!]!;
    out[o] = data[src]!;
    for (let d = perm.length - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

function weightBytes(t: TfliteTensor): Uint8Array | Int8Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  return t.type === 'INT8' ? new Int8Array(t.data!.buffer, t.data!.byteOffset, n) : t.data!.subarray(0, n);
}

const asBytes = (a: Uint8Array | Int8Array): Uint8Array => (a instanceof Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

/**
 * A quantised weight tensor as QLinearConv takes it. With `signedWeights`, uint8 weights become
 * int8 (q − 128, zero point − 128: the same real values): onnxruntime's x86 kernels multiply
 * uint8 activations by int8 weights with AVX-512 VNNI / AVX-VNNI, uint8 × uint8 without.
 */
function quantWeights(c: Converter, wt: TfliteTensor, data: Uint8Array | Int8Array, dims: number[]): { W: string; wParams: QParams } {
  const q = wt.quantization!;
  if (wt.type === 'UINT8' && c.signedWeights) {
    const shifted = Int8Array.from(data, (v) => v - 128);
    const wParams: QParams = { scale: Array.from(q.scale), zeroPoint: q.zeroPoint.map((z) => z - 128), type: T.INT8 };
    return { W: c.g.typed('weights', T.INT8, dims, asBytes(shifted)), wParams };
  }
  const type = wt.type === 'INT8' ? T.INT8 : T.UINT8;
  return { W: c.g.typed('weights', type, dims, asBytes(data)), wParams: { scale: Array.from(q.scale), zeroPoint: q.zeroPoint, type } };
}

/** Whether an op runs on 8-bit kernels: 8-bit precision asked, its input and output quantised. */
function quantised(c: Converter, ...tensors: TfliteTensor[]): boolean {
  return c.precision === '8bit' && tensors.every((t) => c.qparams(t) !== undefined);
}

/** CONV_2D and DEPTHWISE_CONV_2D → Conv / QLinearConv, NCHW, weights OIHW. */
function conv(depthwise: boolean): OpConverter {
  return (c, op) => {
    const o = op.options;
    const [xi, wi, bi] = op.inputs as [number, number, number | undefined];
    const xt = c.tensor(xi);
    const wt = c.tensor(wi);
    const yt = c.tensor(op.outputs[0]!);
    if (!wt.data) unsupported(op, 'weights computed at run time');
    const padding = o.byte(0);
    const [strideW, strideH] = [o.int(1), o.int(2)];
    const act = activation(op, depthwise ? 4 : 3);
    const [dilW, dilH] = depthwise ? [o.int(5, 1), o.int(6, 1)] : [o.int(4, 1), o.int(5, 1)];
    const x = c.value(xi);
    const [n, h, w, cin] = x.shape as [number, number, number, number];
    const [kh, kw] = [wt.shape[1]!, wt.shape[2]!];
    const cout = depthwise ? wt.shape[3]! : wt.shape[0]!;
    if (!depthwise && wt.shape[3] !== cin) {
      if (cin % wt.shape[3]! !== 0) unsupported(op, `weights of ${wt.shape[3]} input channels on ${cin}`);
    }
    const group = depthwise ? cin : cin / wt.shape[3]!;
    const row = window(op, h, kh, strideH, dilH, padding);
    const col = window(op, w, kw, strideW, dilW, padding);
    // TFLite OHWI (depthwise: 1HWC) → ONNX OIHW (depthwise: C1HW).
    const perm = depthwise ? [3, 0, 1, 2] : [0, 3, 1, 2];
    const wShape = perm.map((p) => wt.shape[p]!);
    const attrs = {
      kernel_shape: [kh, kw],
      strides: [strideH, strideW],
      dilations: [dilH, dilW],
      pads: [row.before, col.before, row.after, col.after],
      group,
    };
    const shape = [n, row.out, col.out, cout];
    const bt = bi !== undefined && bi >= 0 ? c.tensor(bi) : undefined;
    if (quantised(c, xt, wt, yt) && (!bt || bt.type === 'INT32')) {
      const xq = c.toQuant(x, c.qparams(xt)!);
      const yq = c.qparams(yt)!;
      const { W, wParams } = quantWeights(c, wt, permute(weightBytes(wt), wt.shape, perm), wShape);
      const inputs = [xq.name, c.scaleConst(xq.q!), c.zeroConst(xq.q!), W, c.scaleConst(wParams), c.zeroConst(wParams), c.scaleConst(yq), c.zeroConst(yq)];
      if (bt) inputs.push(c.g.typed('bias', T.INT32, [cout], bt.data!.subarray(0, 4 * cout)));
      const y: Value = { name: c.g.node('QLinearConv', inputs, attrs), shape, nchw: true, q: yq };
      c.set(yt.index, quantActivation(c, y, act));
      return true;
    }
    const xf = c.toFloat(x);
    const W = c.g.constant('weights', permute(constantFloats(wt), wt.shape, perm), wShape);
    const inputs = [xf.name, W];
    if (bt) inputs.push(c.g.constant('bias', constantFloats(bt), [cout]));
    finish(c, op, { name: c.g.node('Conv', inputs, attrs), shape, nchw: true }, act);
    return false;
  };
}

/** FULLY_CONNECTED: the input flattened to [-1, K]; on bytes a 1×1 QLinearConv (it takes the int32 bias), else Gemm. */
const fullyConnected: OpConverter = (c, op) => {
  const o = op.options;
  const act = activation(op, 0);
  if (o.byte(1) !== 0) unsupported(op, 'shuffled weights format');
  const [xi, wi, bi] = op.inputs as [number, number, number | undefined];
  const xt = c.tensor(xi);
  const wt = c.tensor(wi);
  const yt = c.tensor(op.outputs[0]!);
  if (!wt.data) unsupported(op, 'weights computed at run time');
  const [cout, k] = wt.shape as [number, number];
  const x = c.toNhwc(c.value(xi));
  const rows = x.shape.reduce((a, b) => a * b, 1) / k;
  const keep = o.bool(2) && x.shape.length > 2;
  const shape = keep ? [...x.shape.slice(0, -1), cout] : [rows, cout];
  const bt = bi !== undefined && bi >= 0 ? c.tensor(bi) : undefined;
  const reshaped = (v: Value, dims: number[]) => ({ ...v, name: c.g.node('Reshape', [v.name, c.g.int64('shape', dims)]) });
  let y: Value;
  let int8 = false;
  if (quantised(c, xt, wt, yt) && (!bt || bt.type === 'INT32') && wt.quantization!.scale.length === 1) {
    const xq = c.toQuant(x, c.qparams(xt)!);
    const yq = c.qparams(yt)!;
    const { W, wParams } = quantWeights(c, wt, weightBytes(wt), [cout, k, 1, 1]);
    const x4 = reshaped(xq, [-1, k, 1, 1]);
    const inputs = [x4.name, c.scaleConst(xq.q!), c.zeroConst(xq.q!), W, c.scaleConst(wParams), c.zeroConst(wParams), c.scaleConst(yq), c.zeroConst(yq)];
    if (bt) inputs.push(c.g.typed('bias', T.INT32, [cout], bt.data!.subarray(0, 4 * cout)));
    const conv = c.g.node('QLinearConv', inputs, { kernel_shape: [1, 1] });
    y = reshaped({ name: conv, shape, nchw: false, q: yq }, keep ? [-1, ...shape.slice(1)] : [-1, cout]);
    int8 = true;
  } else {
    const x2 = reshaped(c.toFloat(x), [-1, k]);
    const inputs = [x2.name, c.g.constant('weights', constantFloats(wt), [cout, k])];
    if (bt) inputs.push(c.g.constant('bias', constantFloats(bt), [cout]));
    y = { name: c.g.node('Gemm', inputs, { transB: 1 }), shape: [rows, cout], nchw: false };
    if (keep) y = reshaped(y, [-1, ...shape.slice(1)]);
    y.shape = shape;
  }
  finish(c, op, shape.length === 4 ? c.toNchw(y) : y, act);
  return int8;
};

/** A constant operand of lower rank, broadcast against a 4-D NCHW value: made 4-D NCHW itself. */
function alignForBroadcast(c: Converter, v: Value, other: Value): Value {
  if (!other.nchw || v.shape.length >= 4 || v.shape.length === 0) return v;
  const shape = [...new Array<number>(4 - v.shape.length).fill(1), ...v.shape];
  return c.toNchw({ ...v, name: c.g.node('Reshape', [v.name, c.g.int64('shape', shape)]), shape });
}

function broadcastShape(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
}

/** ADD and MUL: QLinearAdd / QLinearMul (onnxruntime's contrib ops) on bytes, else Add / Mul. */
function binary(floatOp: 'Add' | 'Mul', qOp: 'QLinearAdd' | 'QLinearMul'): OpConverter {
  return (c, op) => {
    const act = activation(op, 0);
    const [ai, bi] = op.inputs as [number, number];
    const [at, bt, yt] = [c.tensor(ai), c.tensor(bi), c.tensor(op.outputs[0]!)];
    let a = c.value(ai);
    let b = c.value(bi);
    a = alignForBroadcast(c, a, b);
    b = alignForBroadcast(c, b, a);
    if (a.nchw !== b.nchw) [a, b] = [c.toNchw(a), c.toNchw(b)];
    const shape = broadcastShape(a.shape, b.shape);
    const nchw = a.nchw || b.nchw;
    if (quantised(c, at, bt, yt)) {
      const aq = c.toQuant(a, c.qparams(at)!);
      const bq = c.toQuant(b, c.qparams(bt)!);
      const yq = c.qparams(yt)!;
      const inputs = [aq.name, c.scaleConst(aq.q!), c.zeroConst(aq.q!), bq.name, c.scaleConst(bq.q!), c.zeroConst(bq.q!), c.scaleConst(yq), c.zeroConst(yq)];
      c.set(yt.index, quantActivation(c, { name: c.g.node(qOp, inputs, {}, undefined, MS), shape, nchw, q: yq }, act));
      return true;
    }
    finish(c, op, { name: c.g.node(floatOp, [c.toFloat(a).name, c.toFloat(b).name]), shape, nchw }, act);
    return false;
  };
}

/** AVERAGE_POOL_2D and MAX_POOL_2D. */
function pool(kind: 'average' | 'max'): OpConverter {
  return (c, op) => {
    const o = op.options;
    const padding = o.byte(0);
    const [strideW, strideH, fw, fh] = [o.int(1), o.int(2), o.int(3), o.int(4)];
    const act = activation(op, 5);
    const [xt, yt] = [c.tensor(op.inputs[0]!), c.tensor(op.outputs[0]!)];
    const x = c.value(xt.index);
    const [n, h, w, ch] = x.shape as [number, number, number, number];
    const row = window(op, h, fh, strideH, 1, padding);
    const col = window(op, w, fw, strideW, 1, padding);
    const shape = [n, row.out, col.out, ch];
    const global = row.out === 1 && col.out === 1 && fh >= h && fw >= w && row.before + row.after + col.before + col.after === 0;
    const attrs = { kernel_shape: [fh, fw], strides: [strideH, strideW], pads: [row.before, col.before, row.after, col.after] };
    const q = quantised(c, xt, yt);
    if (kind === 'max') {
      // Max commutes with a monotonic quantisation: pool the bytes, requantise if the output's parameters differ.
      const xin = q ? c.toQuant(x, c.qparams(xt)!) : c.toFloat(x);
      finish(c, op, { ...xin, name: c.g.node('MaxPool', [xin.name], attrs), shape }, act);
      return q;
    }
    if (q) {
      const xq = c.toQuant(x, c.qparams(xt)!);
      const yq = c.qparams(yt)!;
      const inputs = [xq.name, c.scaleConst(xq.q!), c.zeroConst(xq.q!), c.scaleConst(yq), c.zeroConst(yq)];
      const name = global
        ? c.g.node('QLinearGlobalAveragePool', inputs, { channels_last: 0 }, undefined, MS)
        : c.g.node('QLinearAveragePool', inputs, { ...attrs, count_include_pad: 0 }, undefined, MS);
      c.set(yt.index, quantActivation(c, { name, shape, nchw: true, q: yq }, act));
      return true;
    }
    const xf = c.toFloat(x);
    const name = global ? c.g.node('GlobalAveragePool', [xf.name]) : c.g.node('AveragePool', [xf.name], { ...attrs, count_include_pad: 0 });
    finish(c, op, { name, shape, nchw: true }, act);
    return false;
  };
}

/** NHWC axis → the axis of the same dimension in an NCHW value. */
const NCHW_AXIS = [0, 2, 3, 1];
const axisIn = (v: Value, axis: number) => {
  const a = axis < 0 ? axis + v.shape.length : axis;
  return v.nchw ? NCHW_AXIS[a]! : a;
};

/** MEAN: over height and width a global average pool (QLinearGlobalAveragePool on bytes), else ReduceMean. */
const mean: OpConverter = (c, op) => {
  const [xt, yt] = [c.tensor(op.inputs[0]!), c.tensor(op.outputs[0]!)];
  const x = c.value(xt.index);
  const axes = [...new Set(intValues(c.tensor(op.inputs[1]!)).map((a) => (a < 0 ? a + x.shape.length : a)))].sort();
  const keep = op.options.bool(0);
  const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  if (x.shape.length === 4 && axes.join() === '1,2') {
    const xn = c.toNchw(x);
    let y: Value;
    let int8 = false;
    if (quantised(c, xt, yt)) {
      const xq = c.toQuant(xn, c.qparams(xt)!);
      const yq = c.qparams(yt)!;
      const inputs = [xq.name, c.scaleConst(xq.q!), c.zeroConst(xq.q!), c.scaleConst(yq), c.zeroConst(yq)];
      y = { name: c.g.node('QLinearGlobalAveragePool', inputs, { channels_last: 0 }, undefined, MS), shape: [x.shape[0]!, 1, 1, x.shape[3]!], nchw: true, q: yq };
      int8 = true;
    } else {
      y = { name: c.g.node('GlobalAveragePool', [c.toFloat(xn).name]), shape: [x.shape[0]!, 1, 1, x.shape[3]!], nchw: true };
    }
    if (!keep) y = { ...y, name: c.g.node('Reshape', [y.name, c.g.int64('shape', [-1, x.shape[3]!])]), shape, nchw: false };
    finish(c, op, y);
    return int8;
  }
  const xf = c.toFloat(x);
  const name = c.g.node('ReduceMean', [xf.name], { axes: axes.map((a) => axisIn(xf, a)), keepdims: keep ? 1 : 0 });
  finish(c, op, { name, shape, nchw: xf.nchw && keep });
  return false;
};

/** The value with a new TFLite shape: memory order is NHWC's, so spatial NCHW maps are turned back first. */
function reshapeTo(c: Converter, x: Value, shape: number[]): Value {
  const flatIn = x.nchw ? c.toNhwc(x) : x;
  const target = shape.map((d, i) => (i === 0 && d === x.shape[0] ? -1 : d));
  const y: Value = { ...flatIn, name: c.g.node('Reshape', [flatIn.name, c.g.int64('shape', target)]), shape, nchw: false };
  return shape.length === 4 ? c.toNchw(y) : y;
}

/** RESHAPE's target with its -1 resolved (the shape comes from the second input or the options). */
function resolveShape(op: TfliteOperator, from: number[], target: number[]): number[] {
  const size = from.reduce((a, b) => a * b, 1);
  const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const out = target.map((d) => (d === -1 ? size / known : d));
  if (out.reduce((a, b) => a * b, 1) !== size || out.some((d) => !Number.isInteger(d)))
    throw new ImgclassError('MODEL_CORRUPT', `TFLite ${op.op} (operator ${op.index}): cannot reshape [${from}] to [${target}]`);
  return out;
}

const reshape: OpConverter = (c, op) => {
  const x = c.value(op.inputs[0]!);
  const si = op.inputs[1];
  const target = si !== undefined && si >= 0 && c.tensor(si).data ? intValues(c.tensor(si)) : op.options.ints(0);
  if (!target) unsupported(op, 'a shape computed at run time');
  c.set(op.outputs[0]!, reshapeTo(c, x, resolveShape(op, x.shape, target)));
  return x.q !== undefined;
};

const squeeze: OpConverter = (c, op) => {
  const x = c.value(op.inputs[0]!);
  const given = (op.options.ints(0) ?? []).map((a) => (a < 0 ? a + x.shape.length : a));
  // No axes: every dimension of 1 except the batch (a batch of one photo must stay a batch).
  const axes = given.length ? given : x.shape.map((d, i) => (d === 1 && i > 0 ? i : -1)).filter((i) => i >= 0);
  c.set(
    op.outputs[0]!,
    reshapeTo(
      c,
      x,
      x.shape.filter((_, i) => !axes.includes(i)),
    ),
  );
  return x.q !== undefined;
};

/**
 * SOFTMAX in float on the dequantised logits. The result is kept in float (the probabilities
 * are finer than TFLite's 1/256 steps); an op that reads it as bytes quantises it then.
 */
const softmax: OpConverter = (c, op) => {
  const x = c.toNhwc(c.toFloat(c.value(op.inputs[0]!)));
  const beta = op.options.float(0, 1);
  const logits = beta === 1 ? x.name : c.g.node('Mul', [x.name, c.g.constant('beta', [beta], [])]);
  const y: Value = { name: c.g.node('Softmax', [logits], { axis: -1 }), shape: x.shape, nchw: false };
  c.set(op.outputs[0]!, x.shape.length === 4 ? c.toNchw(y) : y);
  return false;
};

const concatenation: OpConverter = (c, op) => {
  const act = activation(op, 1);
  const yt = c.tensor(op.outputs[0]!);
  const inputs = op.inputs.map((i) => c.value(i));
  const rank = inputs[0]!.shape.length;
  const axis = op.options.int(0) < 0 ? op.options.int(0) + rank : op.options.int(0);
  const all = rank === 4 ? inputs.map((v) => c.toNchw(v)) : inputs;
  const shape = all[0]!.shape.map((d, i) => (i === axis ? all.reduce((s, v) => s + v.shape[i]!, 0) : d));
  const yq = c.qparams(yt);
  // Bytes are concatenated as they are when every input already has the output's parameters.
  const asBytes = yq !== undefined && op.inputs.every((i) => c.qparams(c.tensor(i)) !== undefined);
  const parts = all.map((v) => (asBytes ? c.toQuant(v, yq) : c.toFloat(v)));
  const y: Value = { name: c.g.node('Concat', parts.map((v) => v.name), { axis: axisIn(parts[0]!, axis) }), shape, nchw: rank === 4, ...(asBytes ? { q: yq } : {}) };
  finish(c, op, y, act);
  return asBytes;
};

/** PAD and PADV2: paddings [rank, 2] in TFLite's axis order; quantised tensors pad with the zero point (real 0). */
const pad: OpConverter = (c, op) => {
  const [xt, yt] = [c.tensor(op.inputs[0]!), c.tensor(op.outputs[0]!)];
  const x = c.value(xt.index);
  const p = intValues(c.tensor(op.inputs[1]!));
  const rank = x.shape.length;
  const order = x.nchw ? [0, 3, 1, 2] : Array.from({ length: rank }, (_, i) => i);
  const pads = [...order.map((a) => p[2 * a]!), ...order.map((a) => p[2 * a + 1]!)];
  const shape = x.shape.map((d, i) => d + p[2 * i]! + p[2 * i + 1]!);
  const vi = op.inputs[2];
  const q = quantised(c, xt, yt);
  const xin = q ? c.toQuant(x, c.qparams(xt)!) : c.toFloat(x);
  let value: string;
  if (vi !== undefined && vi >= 0) {
    const vt = c.tensor(vi);
    const real = constantFloats(vt)[0]!;
    value = q ? quantConst(c, xin.q!, real) : c.g.constant('pad_value', [real], []);
  } else value = q ? quantConst(c, xin.q!, 0) : c.g.constant('pad_value', [0], []);
  finish(c, op, { ...xin, name: c.g.node('Pad', [xin.name, c.g.int64('pads', pads), value], { mode: 'constant' }), shape });
  return q;
};

function quantConst(c: Converter, q: QParams, real: number): string {
  const [qmin, qmax] = q.type === T.INT8 ? [-128, 127] : [0, 255];
  const v = Math.min(qmax, Math.max(qmin, Math.round(real / q.scale[0]!) + q.zeroPoint[0]!));
  return c.g.typed('pad_value', q.type, [], q.type === T.INT8 ? new Uint8Array(Int8Array.of(v).buffer) : Uint8Array.of(v));
}

/** QUANTIZE (float → bytes, or requantise bytes) and DEQUANTIZE (bytes or float16 constants → float). */
const quantize: OpConverter = (c, op) => {
  const [xt, yt] = [c.tensor(op.inputs[0]!), c.tensor(op.outputs[0]!)];
  const x = c.value(xt.index);
  const q = c.qparams(yt);
  c.set(yt.index, q ? c.toQuant(x, q) : c.toFloat(x));
  return q !== undefined;
};

const dequantize: OpConverter = (c, op) => {
  c.set(op.outputs[0]!, c.toFloat(c.value(op.inputs[0]!)));
  return false;
};

/** Element-wise float ops: on quantised tensors dequantised, computed, requantised (QDQ). */
function unary(build: (c: Converter, x: string) => string): OpConverter {
  return (c, op) => {
    const x = c.toFloat(c.value(op.inputs[0]!));
    finish(c, op, { ...x, name: build(c, x.name) });
    return false;
  };
}

// x · relu6(x + 3) / 6 = x · HardSigmoid(x; 1/6, 1/2) (HardSwish itself is opset 14).
const hardSwish = unary((c, x) => c.g.node('Mul', [x, c.g.node('HardSigmoid', [x], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } })]));

export const OP_CONVERTERS: Record<string, OpConverter> = {
  ADD: binary('Add', 'QLinearAdd'),
  AVERAGE_POOL_2D: pool('average'),
  CONCATENATION: concatenation,
  CONV_2D: conv(false),
  DEPTHWISE_CONV_2D: conv(true),
  DEQUANTIZE: dequantize,
  FULLY_CONNECTED: fullyConnected,
  HARD_SWISH: hardSwish,
  LOGISTIC: unary((c, x) => c.g.node('Sigmoid', [x])),
  MAX_POOL_2D: pool('max'),
  MEAN: mean,
  MUL: binary('Mul', 'QLinearMul'),
  PAD: pad,
  PADV2: pad,
  QUANTIZE: quantize,
  RELU: unary((c, x) => c.g.node('Relu', [x])),
  RELU6: unary((c, x) => c.g.node('Clip', [x, c.g.constant('clip_min', [0], []), c.g.constant('clip_max', [6], [])])),
  RESHAPE: reshape,
  SOFTMAX: softmax,
  SQUEEZE: squeeze,
  TANH: unary((c, x) => c.g.node('Tanh', [x])),
};
