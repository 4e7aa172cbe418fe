import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { BACKBONE_TENSORS, type BackboneGraph } from './backbone-types.js';
import { GraphBuilder, onnx, readModel, writeModel, type AttributeProto, type ModelProto } from './onnx/graph.js';
import { kerasToOnnx } from './onnx/from-keras.js';
import { withPixelInput } from './onnx/preprocessing.js';
import type { BackboneSpec, RegistryEntry } from './registry.js';
import { tfliteBackboneFor } from './tflite/backbone.js';
import { decodeWeights, readLayersModelFiles } from './tfjs-io.js';

/**
 * The backbone conversions themselves, behind the conversion cache (backbone-graph.ts): imported
 * only when the cache misses, so that a start from the cache loads none of protobuf, the TFLite
 * reader or the Keras converter.
 */
const { input: BACKBONE_INPUT, pixels: BACKBONE_PIXELS, probabilities: BACKBONE_PROBABILITIES, features: BACKBONE_FEATURES } = BACKBONE_TENSORS;

export interface BuildRequest {
  entry: RegistryEntry;
  spec: BackboneSpec;
  /** The resolved main file of the entry. */
  main: string;
  /** Where the graph is cached. */
  target: string;
  /** The graph takes the fitted uint8 pixels (else the normalised float batch). */
  pixels: boolean;
  /** 8-bit TFLite weights as int8 (VNNI). */
  signedWeights: boolean;
}

/** The cached graph when it parses (a note was missing), else the graph converted and written; with its byte size. */
export async function buildBackboneGraph(r: BuildRequest): Promise<{ graph: BackboneGraph; bytes: number }> {
  const { entry, spec, main, target, pixels, signedWeights } = r;
  const cached = await readFile(target).catch(() => null);
  if (cached) {
    // A cached graph that does not parse (disk trouble, a foreign file) is rebuilt, not trusted.
    try {
      return { graph: describe(target, readModel(cached)), bytes: cached.byteLength };
    } catch {
      /* rebuild below */
    }
  }
  const p = spec.preprocessing;
  const freeSize = p.resize === 'keep-aspect';
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
  return { graph: describe(target, readModel(bytes)), bytes: bytes.byteLength };
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

