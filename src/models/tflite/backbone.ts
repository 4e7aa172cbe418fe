import { ImgclassError } from '../../util/errors.js';
import type { Preprocessing } from '../../data/tensor.js';
import { BACKBONE_TENSORS } from '../backbone-types.js';
import type { BackboneSpec } from '../registry.js';
import { onnx, readModel, writeModel, type AttributeProto } from '../onnx/graph.js';
import { convertModel, type Precision } from './convert.js';
import { readTflite, type TfliteModel } from './reader.js';

/**
 * A TFLite classifier as an engine backbone graph (backbone-graph.ts): input `pixels` (uint8
 * NHWC, when the model's quantised input is the pixels themselves) or `input` (float, normalised),
 * outputs `probabilities` (softmax over ImageNet's 1000 classes: TFLite's 1001-way classifiers put
 * `background` at 0, dropped here and the rest renormalised) and `features` (the pooled tensor, flat).
 */

export interface TfliteBackboneOptions {
  /** TFLite tensor holding the class probabilities (softmax) or, with `softmaxed: false`, logits. */
  probabilities: string;
  softmaxed: boolean;
  /** TFLite tensor holding the pooled features. */
  features: string;
  /** Outputs before the first class (1 for TFLite's ImageNet classifiers: background). */
  classOffset: number;
  /** Classes kept after the offset (1000 for ImageNet; default all). */
  classes?: number;
  preprocessing: Preprocessing;
  /** The graph takes the fitted pixels (`pixels`, uint8) or the normalised batch (`input`, float). */
  input: 'pixels' | 'normalised';
  names: { pixels: string; input: string; probabilities: string; features: string };
  precision?: Precision;
  /** uint8 weights as int8 for onnxruntime's VNNI kernels (convert.ts). */
  signedWeights?: boolean;
  batch?: number | string;
}

export interface TfliteBackboneGraph {
  bytes: Uint8Array;
  /** false when the caller must still put the normalisation in front (a float model fed pixels). */
  takesPixels: boolean;
}

/**
 * Whether feeding the fitted pixels straight into the model's quantised input is exactly the
 * preprocessing asked for: real = scale·(q − zero point) is (x − mean)/std with mean = zero point
 * and std = 1/scale, RGB, NHWC, no binarisation.
 */
export function pixelsAreQuantisedInput(m: TfliteModel, p: Preprocessing): boolean {
  const t = m.tensors[m.inputs[0]!];
  const q = t?.quantization;
  if (!t || t.type !== 'UINT8' || !q || q.scale.length !== 1) return false;
  const [scale, zp] = [q.scale[0]!, q.zeroPoint[0]!];
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.abs(b);
  return (
    p.colour === 'rgb' &&
    p.layout === 'nhwc' &&
    !p.binarize &&
    p.scale === 1 &&
    p.mean.every((m) => m === zp) &&
    p.std.every((s) => close(1 / s, scale)) &&
    (p.resize === 'keep-aspect' || (p.width === t.shape[2] && p.height === t.shape[1]))
  );
}

export function tfliteBackboneGraph(bytes: Uint8Array, o: TfliteBackboneOptions): TfliteBackboneGraph {
  const m = readTflite(bytes);
  const takesPixels = o.input === 'pixels' && pixelsAreQuantisedInput(m, o.preprocessing);
  const probs = '__imgclass_probabilities_raw';
  const feats = '__imgclass_features_raw';
  const converted = convertModel(m, {
    input: takesPixels ? o.names.pixels : o.names.input,
    inputType: takesPixels ? 'uint8' : 'float',
    precision: o.precision,
    signedWeights: o.signedWeights,
    batch: o.batch,
    outputs: { [o.probabilities]: probs, [o.features]: feats },
  });
  const model = readModel(converted.bytes);
  const graph = model.graph!;
  const probsInfo = graph.output!.find((v) => v.name === probs)!;
  const nOut = Number(probsInfo.type?.tensorType?.shape?.dim?.at(-1)?.dimValue ?? 0);
  const classes = o.classes ?? nOut - o.classOffset;
  if (nOut < o.classOffset + classes)
    throw new ImgclassError('MODEL_CORRUPT', `${o.probabilities} has ${nOut} classes; expected ${o.classOffset} + ${classes}`);
  const nodes = graph.node!;
  const init = graph.initializer!;
  const int64 = (name: string, values: number[]) => {
    init.push(
      onnx.TensorProto.create({
        name,
        dims: [values.length],
        dataType: onnx.TensorProto.DataType.INT64,
        rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer),
      }),
    );
    return name;
  };
  const node = (op: string, inputs: string[], output: string, attrs: AttributeProto[] = []) =>
    nodes.push(onnx.NodeProto.create({ opType: op, input: inputs, output: [output], name: `imgclass_${output}`, attribute: attrs }));
  const int = (n: string, i: number) => onnx.AttributeProto.create({ name: n, type: onnx.AttributeProto.AttributeType.INT, i });
  node('Flatten', [feats], o.names.features, [int('axis', 1)]);
  let p = probs;
  if (o.classOffset > 0 || classes !== nOut) {
    node('Slice', [p, int64('imgclass_class_start', [o.classOffset]), int64('imgclass_class_end', [o.classOffset + classes]), int64('imgclass_class_axis', [-1])], `${p}_kept`);
    p = `${p}_kept`;
    if (o.softmaxed) {
      // The kept classes renormalised: softmax over the logits without the dropped ones.
      node('ReduceSum', [p, int64('imgclass_sum_axis', [-1])], `${p}_sum`, [int('keepdims', 1)]);
      node('Div', [p, `${p}_sum`], `${p}_norm`);
      p = `${p}_norm`;
    }
  }
  node(o.softmaxed ? 'Identity' : 'Softmax', [p], o.names.probabilities, o.softmaxed ? [] : [int('axis', -1)]);
  const floatOut = (n: string) => onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } });
  graph.output = [floatOut(o.names.probabilities), floatOut(o.names.features)];
  return { bytes: writeModel(model), takesPixels };
}

/** A registry TFLite backbone as the engine's graph (backbone-graph.ts) or an export's embedded backbone (export.ts). */
export function tfliteBackboneFor(
  bytes: Uint8Array,
  spec: BackboneSpec,
  input: 'pixels' | 'normalised',
  o: { precision?: Precision; signedWeights?: boolean } = {},
): TfliteBackboneGraph {
  return tfliteBackboneGraph(bytes, {
    probabilities: spec.probabilitiesOutput,
    softmaxed: spec.probabilitiesAreSoftmax,
    features: spec.featuresOutput,
    classOffset: spec.classOffset ?? 0,
    classes: spec.classOffset ? 1000 : undefined,
    preprocessing: spec.preprocessing,
    input,
    names: BACKBONE_TENSORS,
    ...o,
  });
}
