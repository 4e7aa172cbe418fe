import type { Preprocessing } from '../../data/tensor.js';
import { GraphBuilder, onnx, readModel, writeModel, type Dim } from './graph.js';

/**
 * A model's Preprocessing as ONNX nodes, written once: the exported pipelines (export.ts) and the
 * engine's own backbone graphs (backbone-graph.ts) normalise with these very nodes, so a model
 * served by imgclass and the same model exported cannot be fed differently. The arithmetic is
 * `writeSample`'s (data/tensor.ts), which the TF.js engine and training still use on the CPU.
 */

/**
 * 0–255 RGB NHWC pixels → the model's input, per its Preprocessing (the same arithmetic as
 * `writeSample`): channel order, greyscale and Otsu binarisation, scale/mean/std, layout.
 */
export function normalise(g: GraphBuilder, x: string, p: Preprocessing): string {
  let y = x;
  if (p.colour === 'grey') {
    // toGrey: round(0.299 R + 0.587 G + 0.114 B), rounding half up like Math.round.
    const weighted = g.node('MatMul', [y, g.constant('grey_weights', [0.299, 0.587, 0.114], [3, 1])]);
    y = g.node('Floor', [g.node('Add', [weighted, g.constant('half', [0.5], [])])]);
    if (p.binarize === 'otsu') y = g.node('Mul', [otsuBinary(g, y), g.constant('white', [255], [])]);
  } else if (p.colour === 'bgr') {
    y = g.node('Gather', [y, g.int64('bgr', [2, 1, 0])], { axis: 3 });
  }
  const c = p.colour === 'grey' ? 1 : 3;
  const mul = Array.from({ length: c }, (_, i) => p.scale / p.std[i]!);
  const add = Array.from({ length: c }, (_, i) => -p.mean[i]! / p.std[i]!);
  // The same factor on every channel (MobileNet's x/127.5 − 1) as scalars: ORT broadcasts a
  // scalar at memory speed, but a [3] vector over NHWC's innermost axis element by element
  // (measured on a pair of 224² views: +0.3 ms against +2.4 ms over the bare pass).
  const uniform = mul.every((v) => v === mul[0]) && add.every((v) => v === add[0]);
  const dims = uniform ? [] : [c];
  y = g.node('Add', [
    g.node('Mul', [y, g.constant('norm_scale', uniform ? [mul[0]!] : mul, dims)]),
    g.constant('norm_shift', uniform ? [add[0]!] : add, dims),
  ]);
  return p.layout === 'nchw' ? g.node('Transpose', [y], { perm: [0, 3, 1, 2] }) : y;
}

/**
 * Otsu's threshold per image, in the graph (otsuThreshold's arithmetic): a 256-bin histogram by
 * comparison with every level, cumulative class weights and sums, the first level of maximal
 * between-class variance; pixels above it are 1.
 */
function otsuBinary(g: GraphBuilder, grey: string): string {
  const flat = g.node('Reshape', [grey, g.int64('otsu_flat', [0, -1, 1])]);
  const levels = g.constant(
    'otsu_levels',
    Array.from({ length: 256 }, (_, i) => i),
    [256],
  );
  const hist = g.node('ReduceSum', [g.node('Cast', [g.node('Equal', [flat, levels])], { to: 1 }), g.int64('otsu_axis1', [1])], { keepdims: 0 });
  const axis = g.int64('otsu_cum_axis', [1]);
  const wB = g.node('CumSum', [hist, axis]);
  const sumB = g.node('CumSum', [g.node('Mul', [hist, levels]), axis]);
  const total = g.node('ReduceSum', [hist, g.int64('otsu_axis1b', [1])], { keepdims: 1 });
  const sumAll = g.node('ReduceSum', [g.node('Mul', [hist, levels]), g.int64('otsu_axis1c', [1])], { keepdims: 1 });
  const wF = g.node('Sub', [total, wB]);
  const mB = g.node('Div', [sumB, wB]);
  const mF = g.node('Div', [g.node('Sub', [sumAll, sumB]), wF]);
  const d = g.node('Sub', [mB, mF]);
  const between = g.node('Mul', [g.node('Mul', [wB, wF]), g.node('Mul', [d, d])]);
  const zero = g.constant('otsu_zero', [0], []);
  const valid = g.node('And', [g.node('Greater', [wB, zero]), g.node('Greater', [wF, zero])]);
  const masked = g.node('Where', [valid, between, g.constant('otsu_invalid', [-1], [])]);
  const t = g.node('Cast', [g.node('ArgMax', [masked], { axis: 1, keepdims: 1, select_last_index: 0 })], { to: 1 });
  const tImage = g.node('Reshape', [t, g.int64('otsu_t_shape', [-1, 1, 1, 1])]);
  return g.node('Cast', [g.node('Greater', [grey, tImage])], { to: 1 });
}


/**
 * The model with its normalisation as its first nodes: it then takes the fitted pixels as they
 * are (uint8 NHWC RGB, `pixels`), instead of a float tensor the caller normalised. For the engine
 * that is a quarter of the bytes handed to the worker thread and no per-pixel loop in JavaScript;
 * ORT fuses the Mul/Add into the first convolution's input. Names of the added nodes carry a
 * prefix, so they cannot collide with the model's own; the operators used (Cast, Gather, Mul,
 * Add, Transpose) mean the same from opset 7 up, so the model keeps its opset.
 */
export function withPixelInput(bytes: Uint8Array, p: Preprocessing, o: { modelInput: string; pixels: string; dims: Dim[] }): Uint8Array {
  const pre = new GraphBuilder();
  const pixels = pre.input(o.pixels, o.dims, onnx.TensorProto.DataType.UINT8);
  pre.rename(normalise(pre, pre.node('Cast', [pixels], { to: onnx.TensorProto.DataType.FLOAT }), p), o.modelInput);
  const prefix = readModel(pre.build()).graph!;
  const model = readModel(bytes);
  const graph = model.graph!;
  const keep = new Set([o.pixels, o.modelInput, '']);
  const rename = (n: string) => (keep.has(n) ? n : `imgclass_pre/${n}`);
  graph.initializer = [...(prefix.initializer ?? []).map((t) => ({ ...t, name: rename(t.name!) })), ...(graph.initializer ?? [])];
  const added = (prefix.node ?? []).map((n) => ({ ...n, name: rename(n.name ?? ''), input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) }));
  graph.node = [...added, ...(graph.node ?? [])];
  graph.input = [...(prefix.input ?? []), ...(graph.input ?? []).filter((i) => i.name !== o.modelInput)];
  // Before IR 4 every initializer had to be declared as a graph input too.
  if (Number(model.irVersion ?? 0) < 4)
    for (const t of prefix.initializer ?? [])
      graph.input.push(
        onnx.ValueInfoProto.create({
          name: rename(t.name!),
          type: { tensorType: { elemType: t.dataType, shape: { dim: (t.dims ?? []).map((d) => ({ dimValue: d })) } } },
        }),
      );
  return writeModel(model);
}
