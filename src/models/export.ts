import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Preprocessing } from '../data/preprocess.js';
import { ImgclassError } from '../util/errors.js';
import { BACKBONE_FEATURES } from './backbone-graph.js';
import { BACKBONE_TENSORS } from './backbone-types.js';
import { loadTrainedModel, type TrainedClassifier, type TrainedModel } from './classifier.js';
import { loadImagenetClasses } from './imagenet.js';
import type { ClassInfo } from './model-dir.js';
import { emitKerasModel, type Shape } from './onnx/from-keras.js';
import { GraphBuilder, readModel } from './onnx/graph.js';
import { normalise } from './onnx/preprocessing.js';
import { registryEntry, type BackboneSpec, type RegistryEntry } from './registry.js';
import { getDefaultStore, type ModelStore } from './store.js';
import { decodeWeights, readLayersModelFiles } from './tfjs-io.js';
import { tfliteBackboneFor } from './tflite/backbone.js';

/**
 * One self-contained ONNX file for a trained model, an ensemble or a backbone: normalisation,
 * backbone, flip averaging, head(s) and ensemble averaging all inside the graph, so plain
 * onnxruntime (Node, web, Python, C++) runs it with no imgclass code. The file takes
 * `image`: float32 NHWC RGB pixels 0–255 already resized to the model's input size (the resize
 * mode is in the metadata), and gives `probabilities`. Everything in it mirrors the inference
 * unit (ImageClassifier) op for op; `verifyExport` measures how closely.
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

export async function buildExport(source: string[], o: { flip?: boolean; store?: ModelStore } = {}): Promise<BuiltExport> {
  const store = o.store ?? getDefaultStore();
  const g = new GraphBuilder();
  const isBackbone = source.length === 1 && isBackboneName(source[0]!);
  const model = isBackbone ? null : await loadTrainedModel(source);
  // The unit's flip policy (see ImageClassifier.load), inside the graph.
  const flip = o.flip ?? model?.mirrorInvariant ?? true;
  const backboneName = isBackbone ? source[0]! : model!.backbone;
  const entry = backboneName ? registryEntry(backboneName) : null;
  const pre = entry ? backbonePreprocessing(entry, model) : model!.singleModels()[0]!.manifest.preprocessing;
  const free = pre.resize === 'keep-aspect';
  const image = g.input(EXPORT_INPUT, ['batch', free ? 'height' : pre.height, free ? 'width' : pre.width, 3]);
  // The unit's views: the model-sized image and its mirror image, as one batch of 2N.
  const views = flip ? g.node('Concat', [image, mirror(g, image)], { axis: 0 }) : image;
  const viewsIn = normalise(g, views, pre);
  let outputs: string[];
  let classes: ClassInfo[];
  if (entry) {
    const bb = await emitBackbone(g, entry, entry.backbone!, pre, viewsIn, store);
    const feats = flip ? averageViews(g, bb.features) : bb.features;
    const probs = flip ? averageViews(g, bb.probabilities) : bb.probabilities;
    if (model) {
      const headIn = model.singleModels()[0]!.manifest.input === 'features' ? feats : g.node('Concat', [feats, probs], { axis: 1 });
      g.rename(
        averageMembers(
          g,
          model.singleModels().map((m, i) => emitHead(g, m, headIn, `m${i}/`)),
        ),
        EXPORT_OUTPUT,
      );
      outputs = [EXPORT_OUTPUT];
      classes = model.classes;
    } else {
      g.rename(probs, EXPORT_OUTPUT);
      g.rename(feats, BACKBONE_FEATURES);
      g.output(BACKBONE_FEATURES, ['batch', entry.backbone!.featureDim]);
      outputs = [EXPORT_OUTPUT, BACKBONE_FEATURES];
      classes = (await loadImagenetClasses(store)).map((c) => ({ name: c.name, wnid: c.wnid }));
    }
  } else {
    // A CNN on pixels: each view through the network, the views' probabilities averaged.
    const per = averageMembers(
      g,
      model!.singleModels().map((m, i) => emitHead(g, m, viewsIn, `m${i}/`)),
    );
    g.rename(flip ? averageViews(g, per) : per, EXPORT_OUTPUT);
    outputs = [EXPORT_OUTPUT];
    classes = model!.classes;
  }
  g.output(EXPORT_OUTPUT, ['batch', classes.length]);
  const info: ExportInfo = {
    format: 'imgclass-onnx',
    version: 1,
    source,
    classes,
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
    backbone: backboneName,
    preprocessing: pre,
  };
  model?.dispose();
  const bytes = g.build(
    { imgclass: JSON.stringify(info), classes: JSON.stringify(classes.map((c) => c.name)), resize: pre.resize },
    `imgclass export of ${source.join(' + ')}`,
  );
  return { bytes, info };
}

function isBackboneName(s: string): boolean {
  try {
    return !!registryEntry(s).backbone;
  } catch {
    return false;
  }
}

function backbonePreprocessing(entry: RegistryEntry, model: TrainedModel | null): Preprocessing {
  const p = entry.backbone!.preprocessing;
  return model ? { ...p, resize: model.backboneOptions().resize } : p;
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

async function emitBackbone(
  g: GraphBuilder,
  entry: RegistryEntry,
  spec: BackboneSpec,
  pre: Preprocessing,
  input: string,
  store: ModelStore,
): Promise<{ probabilities: string; features: string }> {
  const main = await store.resolve(entry);
  if (entry.format === 'tfjs-layers') {
    const files = await readLayersModelFiles(path.dirname(main));
    const shape: Shape = pre.resize === 'keep-aspect' ? [null, null, 3] : [pre.height, pre.width, 3];
    const conv = emitKerasModel(g, files.modelTopology, decodeWeights(files), input, {
      expose: [spec.probabilitiesOutput, spec.featuresOutput],
      inputShape: shape,
      prefix: 'backbone/',
    });
    return { probabilities: conv.outputs[spec.probabilitiesOutput]!.name, features: conv.outputs[spec.featuresOutput]!.name };
  }
  if (entry.format === 'tflite') {
    // Converted as the engine runs it (8 bits kept), fed the normalised batch, which it quantises.
    const { bytes } = tfliteBackboneFor(await readFile(main), spec, 'normalised');
    const names = g.embed(readModel(bytes), input, 'backbone/', [BACKBONE_TENSORS.probabilities, BACKBONE_TENSORS.features]);
    return { probabilities: names[BACKBONE_TENSORS.probabilities]!, features: names[BACKBONE_TENSORS.features]! };
  }
  const names = g.embed(readModel(await readFile(main)), input, 'backbone/', [spec.probabilitiesOutput, spec.featuresOutput]);
  const features = g.node('Flatten', [names[spec.featuresOutput]!], { axis: 1 });
  const probabilities = spec.probabilitiesAreSoftmax ? names[spec.probabilitiesOutput]! : g.node('Softmax', [names[spec.probabilitiesOutput]!], { axis: -1 });
  return { probabilities, features };
}

function emitHead(g: GraphBuilder, m: TrainedClassifier, input: string, prefix: string): string {
  const conv = emitKerasModel(g, m.network.topology, m.network.weights, input, { prefix });
  const out = conv.outputs[conv.modelOutputs[0]!];
  if (!out) throw new ImgclassError('MODEL_CORRUPT', `${m.name}: no output to export`);
  return out.name;
}

/**
 * A trained feature head (or an ensemble of them, averaged) alone, as ONNX: input `input` (what
 * `headInput` builds from the backbone's outputs), output `probabilities`. The browser's device
 * mode runs it after the backbone graph, so a `serve --model DIR` head answers there too.
 */
export function buildHeadOnnx(model: TrainedModel): Uint8Array {
  const members = model.singleModels();
  if (members.some((m) => m.manifest.input === 'image'))
    throw new ImgclassError('BAD_OPTION', `${model.name} reads pixels; only heads on backbone features run as a separate head graph`);
  const g = new GraphBuilder();
  const input = g.input('input', ['batch', 'dim']);
  g.rename(
    averageMembers(
      g,
      members.map((m, i) => emitHead(g, m, input, `m${i}/`)),
    ),
    EXPORT_OUTPUT,
  );
  g.output(EXPORT_OUTPUT, ['batch', model.classes.length]);
  return g.build({ classes: JSON.stringify(model.classes.map((c) => c.name)) }, `imgclass head of ${model.name}`);
}
