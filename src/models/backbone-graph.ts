import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { GraphBuilder, onnx, readModel, writeModel, type AttributeProto, type ModelProto } from './onnx/graph.js';
import { BACKBONE_TENSORS } from './backbone-types.js';
import { kerasToOnnx } from './onnx/from-keras.js';
import { withPixelInput } from './onnx/preprocessing.js';
import { tfliteBackboneFor } from './tflite/backbone.js';
import { cpuHasVnni } from '../runtime/cpu.js';
import type { BackboneSpec, RegistryEntry } from './registry.js';
import { sha256File, type ModelStore } from './store.js';
import { decodeWeights, readLayersModelFiles } from './tfjs-io.js';

/**
 * Every backbone, whatever its source, becomes one ONNX graph of the same shape for the engine:
 * input `pixels` (the fitted images as they are: uint8, NHWC, RGB; the spec's normalisation and
 * layout are the graph's first nodes, onnx/preprocessing.ts), outputs `probabilities` (softmax
 * over ImageNet) and `features` (the pooled penultimate vector, flat). Benchmarks can ask for the
 * bare network instead (`input: 'normalised'`: input `input`, the preprocessed float batch).
 * - TF.js layers models (MobileNet) are converted here from their weights on first load;
 * - registry ONNX files (ResNet-50, VGG-16, EfficientNet-Lite4 …) get their penultimate tensor
 *   exposed as an output and a softmax on their logits.
 * Either result is cached under the store's cache directory, keyed by the sha256 of the source
 * files (and the converter's version), so it is built once per machine and never goes stale.
 */
export const { input: BACKBONE_INPUT, pixels: BACKBONE_PIXELS, probabilities: BACKBONE_PROBABILITIES, features: BACKBONE_FEATURES } = BACKBONE_TENSORS;

/** Bump when the conversion changes what it writes: cached graphs of older versions are rebuilt. */
const CONVERTER_VERSION = 3;

export interface BackboneGraph {
  /** Path of the cached .onnx file. */
  model: string;
  /** Set when the graph only takes batches of this size. */
  fixedBatch?: number;
}

export async function backboneGraph(
  entry: RegistryEntry,
  spec: BackboneSpec,
  store: ModelStore,
  o: { input?: 'pixels' | 'normalised' } = {},
): Promise<BackboneGraph> {
  const main = await store.resolve(entry);
  const sources = entry.files.map((f) => path.join(path.dirname(main), path.relative(path.dirname(entry.main), f.path)));
  const p = spec.preprocessing;
  const freeSize = p.resize === 'keep-aspect';
  const pixels = (o.input ?? 'pixels') === 'pixels';
  // 8-bit TFLite graphs take int8 weights where the CPU has VNNI (tflite/ops.ts, quantWeights).
  const signedWeights = entry.format === 'tflite' && cpuHasVnni();
  const hash = createHash('sha256').update(
    JSON.stringify({ v: CONVERTER_VERSION, freeSize, probs: spec.probabilitiesOutput, feats: spec.featuresOutput, pre: pixels ? p : null, signedWeights }),
  );
  for (const s of sources) hash.update(await sha256File(s));
  const kind = `${freeSize ? '-free' : ''}${pixels ? '' : '-bare'}`;
  const target = path.join(store.cacheDir, 'converted', `${entry.name}${kind}-${hash.digest('hex').slice(0, 16)}.onnx`);
  // What a start needs to know of the cached graph is in a small note beside it, so a start neither
  // reads nor parses the 10 MB graph (onnxruntime starts from its optimised copy, session-cache.ts).
  const noted = await readNote(target);
  if (noted) return noted;
  const cached = await readFile(target).catch(() => null);
  if (cached) {
    // A cached graph that does not parse (disk trouble, a foreign file) is rebuilt, not trusted.
    try {
      const graph = describe(target, readModel(cached));
      await writeNote(graph, cached.byteLength);
      return graph;
    } catch {
      /* rebuild below */
    }
  }
  const tflite = entry.format === 'tflite' ? tfliteBackboneFor(await readFile(main), spec, pixels ? 'pixels' : 'normalised', { signedWeights }) : undefined;
  const bare =
    tflite?.bytes ?? (entry.format === 'tfjs-layers' ? await convertLayers(path.dirname(main), spec) : exposeOnnx(await readFile(main), spec, entry.name));
  const batch = describe(target, readModel(bare)).fixedBatch ?? 'batch';
  // A quantised TFLite model whose uint8 input is the pixels themselves takes them as they are.
  const bytes =
    pixels && !tflite?.takesPixels
      ? withPixelInput(bare, p, { modelInput: BACKBONE_INPUT, pixels: BACKBONE_PIXELS, dims: [batch, freeSize ? 'height' : p.height, freeSize ? 'width' : p.width, 3] })
      : bare;
  await writeFileAtomic(target, bytes);
  const graph = describe(target, readModel(bytes));
  await writeNote(graph, bytes.byteLength);
  return graph;
}

/** The note beside a cached graph: its description and its size, which a torn or replaced graph would not match. */
const notePath = (graph: string) => `${graph}.json`;

async function readNote(target: string): Promise<BackboneGraph | null> {
  try {
    const [note, st] = await Promise.all([readFile(notePath(target), 'utf8').then((t) => JSON.parse(t) as { bytes: number; fixedBatch?: number }), stat(target)]);
    if (note.bytes !== st.size) return null;
    return { model: target, ...(note.fixedBatch ? { fixedBatch: note.fixedBatch } : {}) };
  } catch {
    return null;
  }
}

async function writeNote(graph: BackboneGraph, bytes: number): Promise<void> {
  await writeFileAtomic(notePath(graph.model), JSON.stringify({ bytes, ...(graph.fixedBatch ? { fixedBatch: graph.fixedBatch } : {}) }) + '\n');
}

function describe(file: string, model: ModelProto): BackboneGraph {
  const batch = model.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.[0]?.dimValue;
  const fixed = batch == null ? undefined : Number(batch);
  return { model: file, ...(fixed && fixed > 0 ? { fixedBatch: fixed } : {}) };
}

async function convertLayers(dir: string, spec: BackboneSpec): Promise<Uint8Array> {
  const files = await readLayersModelFiles(dir);
  const p = spec.preprocessing;
  // Fully convolutional up to a global pool: with 'keep-aspect' the height and width stay free.
  const inputShape = p.resize === 'keep-aspect' ? [null, null, 3] : [p.height, p.width, 3];
  return kerasToOnnx(new GraphBuilder(), files.modelTopology, decodeWeights(files), {
    input: BACKBONE_INPUT,
    inputShape,
    outputs: { [spec.probabilitiesOutput]: BACKBONE_PROBABILITIES, [spec.featuresOutput]: BACKBONE_FEATURES },
  }).bytes;
}

/**
 * A registry ONNX file, edited: its input renamed `input`, its penultimate tensor flattened into
 * `features`, its class scores softmaxed into `probabilities` (zoo models end in logits).
 */
export function exposeOnnx(bytes: Uint8Array, spec: BackboneSpec, name: string): Uint8Array {
  const model = readModel(bytes);
  const graph = model.graph ?? fail(name, 'has no graph');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const realInputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (realInputs.length !== 1) fail(name, `has ${realInputs.length} inputs; a backbone takes one image batch`);
  const oldInput = realInputs[0]!.name!;
  const produced = new Set((graph.node ?? []).flatMap((n) => n.output ?? []));
  for (const t of [spec.probabilitiesOutput, spec.featuresOutput]) if (!produced.has(t)) fail(name, `has no tensor named "${t}"`);
  for (const n of graph.node ?? []) n.input = (n.input ?? []).map((i) => (i === oldInput ? BACKBONE_INPUT : i));
  realInputs[0]!.name = BACKBONE_INPUT;
  const node = (op: string, input: string, output: string, attrs: AttributeProto[]) =>
    onnx.NodeProto.create({ opType: op, input: [input], output: [output], name: `imgclass_${output}`, attribute: attrs });
  const int = (n: string, i: number) => onnx.AttributeProto.create({ name: n, type: onnx.AttributeProto.AttributeType.INT, i });
  graph.node!.push(node('Flatten', spec.featuresOutput, BACKBONE_FEATURES, [int('axis', 1)]));
  graph.node!.push(
    spec.probabilitiesAreSoftmax
      ? node('Identity', spec.probabilitiesOutput, BACKBONE_PROBABILITIES, [])
      : node('Softmax', spec.probabilitiesOutput, BACKBONE_PROBABILITIES, [int('axis', -1)]),
  );
  const floatOut = (n: string) => onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } });
  graph.output = [floatOut(BACKBONE_PROBABILITIES), floatOut(BACKBONE_FEATURES)];
  return writeModel(model);
}

function fail(name: string, msg: string): never {
  throw new ImgclassError('MODEL_CORRUPT', `${name}: the ONNX file ${msg}`);
}

/** The ImageNet classifier of a TF.js layers backbone as a Dense layer on its features (MobileNet's 1×1 conv_preds). */
export async function imagenetHeadFromLayers(dir: string, layer: string): Promise<{ kernel: Float32Array; bias: Float32Array }> {
  const w = decodeWeights(await readLayersModelFiles(dir));
  const kernel = w.get(`${layer}/kernel`);
  const bias = w.get(`${layer}/bias`);
  if (!kernel || !bias) throw new ImgclassError('MODEL_CORRUPT', `${dir}: no weights for layer ${layer}`);
  return { kernel: kernel.data, bias: bias.data };
}
