import { ImgclassError } from '../../util/errors.js';
import type { GraphBuilder } from './graph.js';

/**
 * TF.js Layers (Keras) → ONNX, written here so no Python is needed. Covers every layer imgclass
 * trains or loads: MobileNet (Conv2D, DepthwiseConv2D, BatchNormalization, ReLU/ReLU6/softmax,
 * ZeroPadding2D, GlobalAveragePooling2D, Reshape, Dropout), the heads (Dense, Dropout) and the
 * seeds' CNNs (Conv2D, MaxPooling2D, BatchNormalization, Flatten), plus a few neighbours
 * (AveragePooling2D, GlobalMaxPooling2D, Add, Concatenate, Softmax/ReLU layers). Anything else is
 * a clear error naming the layer.
 *
 * Keras is channels-last; ONNX convolutions are channels-first. Inside the graph 4-D tensors are
 * kept NCHW (one Transpose after the input), and converted back to NHWC only where Keras
 * semantics depend on the memory order (Flatten, Reshape) or where a caller asks for the tensor.
 * Facts that matter for exact answers:
 * - Keras 'same' padding pads the extra row/column at the bottom/right (TF's rule), which is
 *   ONNX's SAME_UPPER; a symmetric pad gives the right shapes and wrong numbers.
 * - BatchNormalization's epsilon is Keras' (0.001 by default), not ONNX's 1e-5.
 */

/** Keras shape without the batch dimension; null where it varies (keep-aspect input sizes). */
export type Shape = (number | null)[];

/** A tensor in the graph being built: 4-D ones are stored NCHW, whatever Keras says. */
interface Tensor {
  name: string;
  /** Keras (channels-last) shape, without batch. */
  shape: Shape;
}

export interface Weights {
  get(name: string): { data: Float32Array; shape: number[] } | undefined;
  keys(): IterableIterator<string>;
}

export interface KerasLayer {
  class_name: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes?: unknown[];
  name?: string;
}

export interface KerasConversion {
  /** Tensors (channels-last, like Keras) for each requested layer output. */
  outputs: Record<string, { name: string; shape: Shape }>;
  /** The model's own output layers, in order. */
  modelOutputs: string[];
}

interface ParsedModel {
  layers: KerasLayer[];
  /** For each layer, the names of the layers feeding it. */
  inbound: Map<string, string[]>;
  inputLayers: string[];
  outputLayers: string[];
}

/**
 * Emit the network of `topology` (a TF.js `modelTopology`) into `g`, reading `input` (a float32
 * tensor of Keras shape [N, ...inputShape]). `expose` names layers whose outputs are wanted
 * (default: the model's outputs). `inputShape` overrides the topology's (e.g. free height/width).
 */
export function emitKerasModel(
  g: GraphBuilder,
  topology: unknown,
  weights: Weights,
  input: string,
  opts: { expose?: string[]; inputShape?: Shape; prefix?: string } = {},
): KerasConversion {
  const model = parseTopology(topology);
  if (model.inputLayers.length !== 1)
    throw new ImgclassError('MODEL_CORRUPT', `ONNX conversion supports models with one input, this one has ${model.inputLayers.length}`);
  const byLayer = groupWeights(weights);
  const values = new Map<string, Tensor>();
  const prefix = opts.prefix ?? '';
  const firstInput = model.layers.find((l) => l.config.name === model.inputLayers[0]);
  const declared = inputShapeOf(firstInput ?? model.layers[0]!);
  const shape = opts.inputShape ?? declared;
  const entry: Tensor =
    shape.length === 3 ? { name: g.node('Transpose', [input], { perm: [0, 3, 1, 2] }, g.unique(`${prefix}input_nchw`)), shape } : { name: input, shape };
  for (const layer of model.layers) {
    const name = layer.config.name;
    if (layer.class_name === 'InputLayer') {
      values.set(name, entry);
      continue;
    }
    const sources = model.inbound.get(name) ?? [];
    const ins = sources.map((s) => values.get(s) ?? fail(`layer ${name} reads ${s}, which is not computed before it`));
    if (ins.length === 0) ins.push(entry); // a Sequential's first layer
    const ctx = { g, w: byLayer.get(name) ?? new Map<string, { data: Float32Array; shape: number[] }>(), out: `${prefix}${name}` };
    values.set(name, convertLayer(layer, ins, ctx));
  }
  const wanted = opts.expose ?? model.outputLayers;
  const outputs: KerasConversion['outputs'] = {};
  for (const name of wanted) {
    const t = values.get(name) ?? fail(`no layer named ${name} in this model`);
    outputs[name] = { name: t.shape.length === 3 ? toNhwc(g, t, `${prefix}${name}_nhwc`) : t.name, shape: t.shape };
  }
  return { outputs, modelOutputs: model.outputLayers };
}

/** The names of a topology's output layers, in order. */
export function kerasOutputLayers(topology: unknown): string[] {
  return parseTopology(topology).outputLayers;
}

function fail(msg: string): never {
  throw new ImgclassError('MODEL_CORRUPT', msg);
}

function toNhwc(g: GraphBuilder, t: Tensor, out?: string): string {
  return g.node('Transpose', [t.name], { perm: [0, 2, 3, 1] }, out ? g.unique(out) : undefined);
}

function parseTopology(topology: unknown): ParsedModel {
  const t = topology as { model_config?: { class_name: string; config: unknown }; class_name?: string; config?: unknown };
  const root = t.model_config ?? t;
  const cls = root.class_name;
  if (cls === 'Sequential') {
    const cfg = root.config as { layers?: KerasLayer[] } | KerasLayer[];
    const layers = Array.isArray(cfg) ? cfg : (cfg.layers ?? []);
    if (layers.length === 0) fail('empty Sequential model');
    const inbound = new Map<string, string[]>();
    layers.forEach((l, i) => inbound.set(l.config.name, i === 0 ? [] : [layers[i - 1]!.config.name]));
    const first = layers[0]!.class_name === 'InputLayer' ? layers[0]!.config.name : '__input__';
    const all: KerasLayer[] =
      first === '__input__'
        ? [{ class_name: 'InputLayer', config: { name: first, batch_input_shape: layers[0]!.config.batch_input_shape } }, ...layers]
        : layers;
    if (first === '__input__') inbound.set(layers[0]!.config.name, [first]);
    return { layers: all, inbound, inputLayers: [first], outputLayers: [layers[layers.length - 1]!.config.name] };
  }
  if (cls === 'Model' || cls === 'Functional') {
    const cfg = root.config as { layers: KerasLayer[]; input_layers: [string, number, number][]; output_layers: [string, number, number][] };
    const inbound = new Map<string, string[]>();
    for (const l of cfg.layers) {
      const nodes = (l.inbound_nodes ?? []) as unknown[][];
      if (nodes.length > 1) fail(`layer ${l.config.name} is used ${nodes.length} times (shared layers are not supported in ONNX conversion)`);
      const node = (nodes[0] ?? []) as unknown[];
      inbound.set(
        l.config.name,
        node.map((ref) => (Array.isArray(ref) ? String(ref[0]) : fail(`layer ${l.config.name}: unsupported inbound node format`))),
      );
    }
    return { layers: cfg.layers, inbound, inputLayers: cfg.input_layers.map((r) => r[0]), outputLayers: cfg.output_layers.map((r) => r[0]) };
  }
  return fail(`unsupported model class "${String(cls)}" (expected Sequential or Model)`);
}

function inputShapeOf(layer: KerasLayer): Shape {
  const s = (layer.config.batch_input_shape ?? layer.config.batchInputShape) as (number | null)[] | undefined;
  if (!s) fail(`cannot find the input shape of layer ${layer.config.name}`);
  return s.slice(1);
}

/** Weights grouped by layer: "conv1/kernel" → conv1 → kernel. TF.js may suffix clashing names with _1. */
function groupWeights(weights: Weights): Map<string, Map<string, { data: Float32Array; shape: number[] }>> {
  const out = new Map<string, Map<string, { data: Float32Array; shape: number[] }>>();
  for (const key of weights.keys()) {
    const parts = key.split('/');
    const suffix = parts[parts.length - 1]!.replace(/_\d+$/, '');
    const layer = parts[parts.length - 2] ?? '';
    if (!out.has(layer)) out.set(layer, new Map());
    out.get(layer)!.set(suffix, weights.get(key)!);
  }
  return out;
}

interface Ctx {
  g: GraphBuilder;
  w: Map<string, { data: Float32Array; shape: number[] }>;
  /** Name for the layer's output tensor. */
  out: string;
}

function weight(ctx: Ctx, layer: string, suffix: string): { data: Float32Array; shape: number[] } {
  return ctx.w.get(suffix) ?? fail(`layer ${layer}: weight "${suffix}" not found`);
}

const pair = (v: unknown, what: string): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') return [v[0], v[1]];
  return fail(`bad ${what}: ${JSON.stringify(v)}`);
};

function convertLayer(layer: KerasLayer, ins: Tensor[], ctx: Ctx): Tensor {
  const c = layer.config;
  const name = c.name;
  const x = ins[0]!;
  const { g } = ctx;
  if (c.data_format !== undefined && c.data_format !== 'channels_last') fail(`layer ${name}: data_format ${String(c.data_format)} is not supported`);
  switch (layer.class_name) {
    case 'Dropout':
    case 'SpatialDropout2D':
    case 'GaussianNoise':
    case 'GaussianDropout':
    case 'AlphaDropout':
    case 'ActivityRegularization':
      return x; // identity at inference
    case 'Conv2D':
    case 'DepthwiseConv2D':
      return conv(layer, x, ctx);
    case 'Dense': {
      if (x.shape.length !== 1) fail(`layer ${name}: Dense on a ${x.shape.length + 1}-D tensor is not supported (Flatten first)`);
      const k = weight(ctx, name, 'kernel');
      const inputs = [x.name, g.constant(`${ctx.out}/kernel`, k.data, k.shape)];
      if (c.use_bias !== false) {
        const b = weight(ctx, name, 'bias');
        inputs.push(g.constant(`${ctx.out}/bias`, b.data, b.shape));
      }
      const act = activationName(c.activation);
      const y = g.node('Gemm', inputs, {}, act === 'linear' ? g.unique(ctx.out) : undefined);
      return { name: activation(g, y, act, 1, ctx.out, name), shape: [k.shape[1]!] };
    }
    case 'BatchNormalization': {
      const axis = c.axis as number | number[];
      const ax = Array.isArray(axis) ? axis[0] : axis;
      if (ax !== -1 && ax !== x.shape.length) fail(`layer ${name}: BatchNormalization over axis ${String(axis)} is not supported (only the channel axis)`);
      const mean = weight(ctx, name, 'moving_mean');
      const variance = weight(ctx, name, 'moving_variance');
      const n = mean.data.length;
      const gamma = c.scale === false ? new Float32Array(n).fill(1) : weight(ctx, name, 'gamma').data;
      const beta = c.center === false ? new Float32Array(n) : weight(ctx, name, 'beta').data;
      const epsilon = typeof c.epsilon === 'number' ? c.epsilon : 0.001;
      const inputs = [
        x.name,
        g.constant(`${ctx.out}/gamma`, gamma, [n]),
        g.constant(`${ctx.out}/beta`, beta, [n]),
        g.constant(`${ctx.out}/mean`, mean.data, [n]),
        g.constant(`${ctx.out}/variance`, variance.data, [n]),
      ];
      return { name: g.node('BatchNormalization', inputs, { epsilon: { float: epsilon } }, g.unique(ctx.out)), shape: x.shape };
    }
    case 'Activation':
      return { name: activation(g, x.name, activationName(c.activation), x.shape.length === 3 ? 1 : -1, ctx.out, name, true), shape: x.shape };
    case 'ReLU': {
      if (c.threshold && c.threshold !== 0) fail(`layer ${name}: ReLU with a threshold is not supported`);
      if (c.negative_slope && c.negative_slope !== 0)
        return { name: g.node('LeakyRelu', [x.name], { alpha: { float: c.negative_slope as number } }, g.unique(ctx.out)), shape: x.shape };
      const max = c.max_value as number | null | undefined;
      return { name: max == null ? g.node('Relu', [x.name], {}, g.unique(ctx.out)) : clip(g, x.name, 0, max, ctx.out), shape: x.shape };
    }
    case 'Softmax': {
      const axis = (c.axis as number | undefined) ?? -1;
      if (axis !== -1 && axis !== x.shape.length) fail(`layer ${name}: softmax over axis ${axis} is not supported`);
      return { name: g.node('Softmax', [x.name], { axis: x.shape.length === 3 ? 1 : -1 }, g.unique(ctx.out)), shape: x.shape };
    }
    case 'ZeroPadding2D': {
      const p = c.padding;
      const [[top, bottom], [left, right]] =
        typeof p === 'number'
          ? [
              [p, p],
              [p, p],
            ]
          : Array.isArray(p) && typeof p[0] === 'number'
            ? [
                [p[0] as number, p[0] as number],
                [(p[1] ?? p[0]) as number, (p[1] ?? p[0]) as number],
              ]
            : (p as [[number, number], [number, number]]);
      const pads = g.int64(`${ctx.out}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
      const [h, w, ch] = x.shape;
      return {
        name: g.node('Pad', [x.name, pads], {}, g.unique(ctx.out)),
        shape: [h == null ? null : h + top + bottom, w == null ? null : w + left + right, ch!],
      };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const k = pair(c.pool_size, 'pool_size');
      const s = c.strides == null ? k : pair(c.strides, 'strides');
      const padding = String(c.padding ?? 'valid');
      const attrs = { kernel_shape: k, strides: s, ...padAttrs(padding, x.shape, k, s, [1, 1]) };
      if (layer.class_name === 'AveragePooling2D' && padding === 'same') Object.assign(attrs, { count_include_pad: 0 });
      return {
        name: g.node(layer.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], attrs, g.unique(ctx.out)),
        shape: spatialOut(x.shape, k, s, [1, 1], padding, x.shape[2]!),
      };
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      const pooled = g.node(layer.class_name === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x.name]);
      if (c.keepdims === true) return { name: pooled, shape: [1, 1, x.shape[2]!] };
      return { name: g.node('Flatten', [pooled], { axis: 1 }, g.unique(ctx.out)), shape: [x.shape[2]!] };
    }
    case 'Flatten': {
      if (x.shape.length === 1) return x;
      const src = x.shape.length === 3 ? toNhwc(g, x) : x.name;
      const n = x.shape.reduce<number | null>((a, b) => (a == null || b == null ? null : a * b), 1);
      return { name: g.node('Flatten', [src], { axis: 1 }, g.unique(ctx.out)), shape: [n] };
    }
    case 'Reshape': {
      const target = c.target_shape as number[];
      const src = x.shape.length === 3 ? toNhwc(g, x) : x.name;
      const shape = g.int64(`${ctx.out}/shape`, [0, ...target]);
      const reshaped = g.node('Reshape', [src, shape], {}, target.length === 3 ? undefined : g.unique(ctx.out));
      if (target.length !== 3) return { name: reshaped, shape: target };
      return { name: g.node('Transpose', [reshaped], { perm: [0, 3, 1, 2] }, g.unique(ctx.out)), shape: target };
    }
    case 'Add':
    case 'Multiply':
    case 'Maximum':
    case 'Average': {
      if (ins.some((t) => t.shape.length !== x.shape.length)) fail(`layer ${name}: inputs of different ranks`);
      const op = { Add: 'Add', Multiply: 'Mul', Maximum: 'Max', Average: 'Sum' }[layer.class_name]!;
      let y = ins.slice(1).reduce((acc, t) => g.node(op === 'Sum' ? 'Add' : op, [acc, t.name]), x.name);
      if (layer.class_name === 'Average') y = g.node('Mul', [y, g.constant(`${ctx.out}/scale`, [1 / ins.length], [])]);
      return { name: g.node('Identity', [y], {}, g.unique(ctx.out)), shape: x.shape };
    }
    case 'Concatenate': {
      const axis = (c.axis as number | undefined) ?? -1;
      const rank = x.shape.length;
      if (axis !== -1 && axis !== rank) fail(`layer ${name}: concatenation over axis ${axis} is not supported (only the last axis)`);
      const shape = [...x.shape];
      shape[rank - 1] = ins.reduce<number | null>((a, t) => (a == null || t.shape[rank - 1] == null ? null : a + t.shape[rank - 1]!), 0);
      return {
        name: g.node(
          'Concat',
          ins.map((t) => t.name),
          { axis: rank === 3 ? 1 : -1 },
          g.unique(ctx.out),
        ),
        shape,
      };
    }
    default:
      return fail(`layer ${name} (${layer.class_name}) cannot be converted to ONNX: unsupported layer type`);
  }
}

function conv(layer: KerasLayer, x: Tensor, ctx: Ctx): Tensor {
  const c = layer.config;
  const name = c.name;
  const { g } = ctx;
  if (x.shape.length !== 3) fail(`layer ${name}: expects a 4-D input`);
  const depthwise = layer.class_name === 'DepthwiseConv2D';
  const k = weight(ctx, name, depthwise ? 'depthwise_kernel' : 'kernel');
  const [kh, kw, cin, cout] = k.shape as [number, number, number, number];
  const s = pair(c.strides ?? 1, 'strides');
  const d = pair(c.dilation_rate ?? 1, 'dilation_rate');
  // Keras [kh, kw, in, out] (depthwise: [kh, kw, in, multiplier]) → ONNX [out, in/group, kh, kw].
  const outCh = depthwise ? cin * cout : cout;
  const kernel = new Float32Array(k.data.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let a = 0; a < cin; a++)
        for (let b = 0; b < cout; b++) {
          const src = ((i * kw + j) * cin + a) * cout + b;
          const dst = depthwise ? ((a * cout + b) * kh + i) * kw + j : ((b * cin + a) * kh + i) * kw + j;
          kernel[dst] = k.data[src]!;
        }
  const inputs = [x.name, g.constant(`${ctx.out}/kernel`, kernel, depthwise ? [outCh, 1, kh, kw] : [outCh, cin, kh, kw])];
  if (c.use_bias !== false) {
    const b = weight(ctx, name, 'bias');
    inputs.push(g.constant(`${ctx.out}/bias`, b.data, [outCh]));
  }
  const padding = String(c.padding ?? 'valid');
  if (padding !== 'same' && padding !== 'valid') fail(`layer ${name}: padding "${padding}" is not supported`);
  const attrs = { kernel_shape: [kh, kw], strides: s, dilations: d, group: depthwise ? cin : 1, ...padAttrs(padding, x.shape, [kh, kw], s, d) };
  const act = activationName(c.activation);
  const y = g.node('Conv', inputs, attrs, act === 'linear' ? g.unique(ctx.out) : undefined);
  return { name: activation(g, y, act, 1, ctx.out, name), shape: spatialOut(x.shape, [kh, kw], s, d, padding, outCh) };
}

/**
 * Keras 'same' → explicit pads when the input size is known (what ORT's fused NCHWc kernels like
 * best), else SAME_UPPER, computed at run time (free input sizes). Both put the odd pixel last.
 */
function padAttrs(padding: string, shape: Shape, k: [number, number], s: [number, number], d: [number, number]): Record<string, number[] | string> {
  if (padding === 'valid') return { pads: [0, 0, 0, 0] };
  const [h, w] = shape;
  if (h == null || w == null) return { auto_pad: 'SAME_UPPER' };
  const total = (size: number, i: 0 | 1) => Math.max(0, (Math.ceil(size / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - size);
  const th = total(h, 0);
  const tw = total(w, 1);
  return { pads: [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)] };
}

function spatialOut(shape: Shape, k: [number, number], s: [number, number], d: [number, number], padding: string, channels: number): Shape {
  const one = (size: number | null, i: 0 | 1) =>
    size == null ? null : padding === 'same' ? Math.ceil(size / s[i]) : Math.floor((size - d[i] * (k[i] - 1) - 1) / s[i]) + 1;
  return [one(shape[0]!, 0), one(shape[1]!, 1), channels];
}

function activationName(a: unknown): string {
  if (a == null) return 'linear';
  if (typeof a === 'string') return a;
  const o = a as { class_name?: string; config?: { activation?: string } };
  return o.config?.activation ?? o.class_name ?? fail(`unrecognised activation ${JSON.stringify(a)}`);
}

function clip(g: GraphBuilder, x: string, min: number, max: number, out: string): string {
  return g.node('Clip', [x, g.constant(`${out}/min`, [min], []), g.constant(`${out}/max`, [max], [])], {}, g.unique(out));
}

/**
 * Apply a Keras activation to `x`. `channelAxis` is where Keras' last axis lives in our layout
 * (1 for NCHW tensors). `always` names the output even for 'linear' (an Activation layer).
 */
function activation(g: GraphBuilder, x: string, act: string, channelAxis: number, out: string, layer: string, always = false): string {
  const o = () => g.unique(out);
  switch (act) {
    case 'linear':
      return always ? g.node('Identity', [x], {}, o()) : x;
    case 'relu':
      return g.node('Relu', [x], {}, o());
    case 'relu6':
      return clip(g, x, 0, 6, out);
    case 'sigmoid':
      return g.node('Sigmoid', [x], {}, o());
    case 'hard_sigmoid':
      return g.node('HardSigmoid', [x], { alpha: { float: 0.2 }, beta: { float: 0.5 } }, o());
    case 'tanh':
      return g.node('Tanh', [x], {}, o());
    case 'elu':
      return g.node('Elu', [x], {}, o());
    case 'selu':
      return g.node('Selu', [x], {}, o());
    case 'softplus':
      return g.node('Softplus', [x], {}, o());
    case 'softsign':
      return g.node('Softsign', [x], {}, o());
    case 'swish':
    case 'silu':
      return g.node('Mul', [x, g.node('Sigmoid', [x])], {}, o());
    case 'softmax':
      return g.node('Softmax', [x], { axis: channelAxis }, o());
    default:
      return fail(`layer ${layer}: activation "${act}" cannot be converted to ONNX`);
  }
}

/**
 * A whole TF.js layers model as a standalone ONNX model: input `input` (Keras layout, batch
 * first, `inputShape` overriding the declared one), and one graph output per entry of `outputs`
 * (layer name → output name; default: the model's outputs under their layer names).
 */
export function kerasToOnnx(
  g: GraphBuilder,
  topology: unknown,
  weights: Weights,
  opts: { input?: string; inputShape?: Shape; outputs?: Record<string, string> } = {},
): { bytes: Uint8Array; shapes: Record<string, Shape> } {
  const model = parseTopology(topology);
  const first = model.layers.find((l) => l.config.name === model.inputLayers[0]) ?? model.layers[0]!;
  const shape = opts.inputShape ?? inputShapeOf(first);
  const input = g.input(opts.input ?? 'input', ['batch', ...shape.map((d, i) => d ?? (i === 0 ? 'height' : i === 1 ? 'width' : `d${i}`))]);
  const wanted = opts.outputs ?? Object.fromEntries(model.outputLayers.map((n) => [n, n]));
  const conv = emitKerasModel(g, topology, weights, input, { expose: Object.keys(wanted), inputShape: shape });
  const shapes: Record<string, Shape> = {};
  for (const [layer, outName] of Object.entries(wanted)) {
    const t = conv.outputs[layer]!;
    g.rename(t.name, outName);
    g.output(outName, ['batch', ...t.shape.map((d, i) => d ?? `d${i}`)]);
    shapes[outName] = t.shape;
  }
  return { bytes: g.build(), shapes };
}
