import type { Preprocessing } from '../data/tensor.js';
import { ImgclassError } from '../util/errors.js';
import { BACKBONE_TENSORS } from './backbone-types.js';
import type { ClassInfo } from './probabilities.js';
import { emitKerasModel, type Shape, type Weights } from './onnx/from-keras.js';
import { GraphBuilder, readModel } from './onnx/graph.js';
import { normalise } from './onnx/preprocessing.js';
import type { BackboneSpec } from './registry.js';

/**
 * The export's graph, host-neutral: the command line (export.ts, which reads the models from disk)
 * and the browser's device-mode training (web/train-device.ts, which holds them in memory) both
 * assemble the exported file here, so the same weights give the same bytes on either host.
 *
 * The file takes `image`: float32 NHWC RGB pixels 0–255 already resized to the model's input size
 * (the resize mode is in the metadata), and gives `probabilities`. Everything in it mirrors the
 * inference unit (ImageClassifier) op for op: normalisation, backbone, flip averaging, head(s) and
 * ensemble averaging.
 */
export const EXPORT_INPUT = 'image';
export const EXPORT_OUTPUT = 'probabilities';

export interface ExportInfo {
  format: 'imgclass-onnx';
  version: 1;
  /** What was exported: model directories or a backbone name. */
  source: string[];
  classes: ClassInfo[];
  input: { name: string; layout: 'nhwc'; colour: 'rgb'; range: '0-255'; height: number | null; width: number | null; resize: Preprocessing['resize'] };
  outputs: string[];
  flip: boolean;
  backbone: string | null;
  preprocessing: Preprocessing;
}

export interface BuiltExport {
  bytes: Uint8Array;
  info: ExportInfo;
}

/** A TF.js layers network as exports read it: the topology and its weights by name. */
export interface LayersNetwork {
  topology: unknown;
  weights: Weights;
}

/** A backbone's network: a TF.js layers model (converted here) or a registry ONNX file (embedded). */
export type BackboneNetwork = { kind: 'layers'; network: LayersNetwork } | { kind: 'onnx'; bytes: Uint8Array };

export interface ExportParts {
  source: string[];
  /** The backbone, for feature heads and backbone-only exports; null for CNNs on pixels. */
  backbone: { name: string; spec: BackboneSpec; network: BackboneNetwork } | null;
  /** Trained members (averaged); none for a backbone-only export. */
  heads: { network: LayersNetwork; input: 'features' | 'features+probabilities' | 'image' }[];
  /** The model's input preprocessing (the backbone's, with the model's resize mode). */
  preprocessing: Preprocessing;
  flip: boolean;
  classes: ClassInfo[];
}

export function assembleExport(p: ExportParts): BuiltExport {
  const g = new GraphBuilder();
  const pre = p.preprocessing;
  const { flip } = p;
  const free = pre.resize === 'keep-aspect';
  const image = g.input(EXPORT_INPUT, ['batch', free ? 'height' : pre.height, free ? 'width' : pre.width, 3]);
  // The unit's views: the model-sized image and its mirror image, as one batch of 2N.
  const views = flip ? g.node('Concat', [image, mirror(g, image)], { axis: 0 }) : image;
  const viewsIn = normalise(g, views, pre);
  let outputs: string[];
  if (p.backbone) {
    const bb = emitBackbone(g, p.backbone.spec, p.backbone.network, pre, viewsIn);
    const feats = flip ? averageViews(g, bb.features) : bb.features;
    const probs = flip ? averageViews(g, bb.probabilities) : bb.probabilities;
    if (p.heads.length > 0) {
      const headIn = p.heads[0]!.input === 'features' ? feats : g.node('Concat', [feats, probs], { axis: 1 });
      g.rename(
        averageMembers(
          g,
          p.heads.map((m, i) => emitHead(g, m.network, headIn, `m${i}/`)),
        ),
        EXPORT_OUTPUT,
      );
      outputs = [EXPORT_OUTPUT];
    } else {
      g.rename(probs, EXPORT_OUTPUT);
      g.rename(feats, BACKBONE_TENSORS.features);
      g.output(BACKBONE_TENSORS.features, ['batch', p.backbone.spec.featureDim]);
      outputs = [EXPORT_OUTPUT, BACKBONE_TENSORS.features];
    }
  } else {
    // A CNN on pixels: each view through the network, the views' probabilities averaged.
    const per = averageMembers(
      g,
      p.heads.map((m, i) => emitHead(g, m.network, viewsIn, `m${i}/`)),
    );
    g.rename(flip ? averageViews(g, per) : per, EXPORT_OUTPUT);
    outputs = [EXPORT_OUTPUT];
  }
  g.output(EXPORT_OUTPUT, ['batch', p.classes.length]);
  const info: ExportInfo = {
    format: 'imgclass-onnx',
    version: 1,
    source: p.source,
    classes: p.classes,
    input: {
      name: EXPORT_INPUT,
      layout: 'nhwc',
      colour: 'rgb',
      range: '0-255',
      height: free ? null : pre.height,
      width: free ? null : pre.width,
      resize: pre.resize,
    },
    outputs,
    flip,
    backbone: p.backbone?.name ?? null,
    preprocessing: pre,
  };
  const bytes = g.build(
    { imgclass: JSON.stringify(info), classes: JSON.stringify(p.classes.map((c) => c.name)), resize: pre.resize },
    `imgclass export of ${p.source.join(' + ')}`,
  );
  return { bytes, info };
}

/**
 * A trained feature head (or an ensemble of them, averaged) alone, as ONNX: input `input` (what
 * `headInput` builds from the backbone's outputs), output `probabilities`. The browser's device
 * mode runs it after the backbone graph, so a `serve --model DIR` head answers there too.
 */
export function assembleHeadOnnx(name: string, heads: LayersNetwork[], classes: ClassInfo[]): Uint8Array {
  const g = new GraphBuilder();
  const input = g.input('input', ['batch', 'dim']);
  g.rename(
    averageMembers(
      g,
      heads.map((m, i) => emitHead(g, m, input, `m${i}/`)),
    ),
    EXPORT_OUTPUT,
  );
  g.output(EXPORT_OUTPUT, ['batch', classes.length]);
  return g.build({ classes: JSON.stringify(classes.map((c) => c.name)) }, `imgclass head of ${name}`);
}

/** Mirror left-right: NHWC, reverse the W axis. */
function mirror(g: GraphBuilder, x: string): string {
  return g.node('Slice', [
    x,
    g.int64('flip_starts', [-1]),
    g.int64('flip_ends', [Number.MIN_SAFE_INTEGER]),
    g.int64('flip_axes', [2]),
    g.int64('flip_steps', [-1]),
  ]);
}

/** The mean over the two halves of a batch of 2N (views, then their mirror images). */
function averageViews(g: GraphBuilder, x: string): string {
  const width = g.node('Slice', [g.node('Shape', [x]), g.int64('dim1_start', [1]), g.int64('dim1_end', [2])]);
  const shape = g.node('Concat', [g.int64('views_pair', [2, -1]), width], { axis: 0 });
  return g.node('ReduceMean', [g.node('Reshape', [x, shape])], { axes: [0], keepdims: 0 });
}

function averageMembers(g: GraphBuilder, outs: string[]): string {
  return outs.length === 1 ? outs[0]! : g.node('Mean', outs);
}

function emitBackbone(
  g: GraphBuilder,
  spec: BackboneSpec,
  network: BackboneNetwork,
  pre: Preprocessing,
  input: string,
): { probabilities: string; features: string } {
  if (network.kind === 'layers') {
    const shape: Shape = pre.resize === 'keep-aspect' ? [null, null, 3] : [pre.height, pre.width, 3];
    const conv = emitKerasModel(g, network.network.topology, network.network.weights, input, {
      expose: [spec.probabilitiesOutput, spec.featuresOutput],
      inputShape: shape,
      prefix: 'backbone/',
    });
    return { probabilities: conv.outputs[spec.probabilitiesOutput]!.name, features: conv.outputs[spec.featuresOutput]!.name };
  }
  const names = g.embed(readModel(network.bytes), input, 'backbone/', [spec.probabilitiesOutput, spec.featuresOutput]);
  const features = g.node('Flatten', [names[spec.featuresOutput]!], { axis: 1 });
  const probabilities = spec.probabilitiesAreSoftmax ? names[spec.probabilitiesOutput]! : g.node('Softmax', [names[spec.probabilitiesOutput]!], { axis: -1 });
  return { probabilities, features };
}

function emitHead(g: GraphBuilder, network: LayersNetwork, input: string, prefix: string): string {
  const conv = emitKerasModel(g, network.topology, network.weights, input, { prefix });
  const out = conv.outputs[conv.modelOutputs[0]!];
  if (!out) throw new ImgclassError('MODEL_CORRUPT', `${prefix}: no output to export`);
  return out.name;
}
