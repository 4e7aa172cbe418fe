import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { sha256FileCached } from '../util/hash-cache.js';
import { BACKBONE_TENSORS, type BackboneGraph } from './backbone-types.js';
import { cpuHasVnni } from '../runtime/cpu.js';
import type { BackboneSpec, RegistryEntry } from './registry.js';
import type { ModelStore } from './store.js';
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

export type { BackboneGraph } from './backbone-types.js';

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
  for (const s of sources) hash.update(await sha256FileCached(s, store.cacheDir));
  const kind = `${freeSize ? '-free' : ''}${pixels ? '' : '-bare'}`;
  const target = path.join(store.cacheDir, 'converted', `${entry.name}${kind}-${hash.digest('hex').slice(0, 16)}.onnx`);
  // What a start needs to know of the cached graph is in a small note beside it, so a start neither
  // reads nor parses the 10 MB graph (onnxruntime starts from its optimised copy, session-cache.ts).
  const noted = await readNote(target);
  if (noted) return noted;
  // A miss: the converters (protobuf, the TFLite reader, the Keras converter) load only now, so a
  // start from the cache never pays for importing them.
  const { buildBackboneGraph } = await import('./backbone-convert.js');
  const built = await buildBackboneGraph({ entry, spec, main, target, pixels, signedWeights });
  await writeNote(built.graph, built.bytes);
  return built.graph;
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

/** The ImageNet classifier of a TF.js layers backbone as a Dense layer on its features (MobileNet's 1×1 conv_preds). */
export async function imagenetHeadFromLayers(dir: string, layer: string): Promise<{ kernel: Float32Array; bias: Float32Array }> {
  const w = decodeWeights(await readLayersModelFiles(dir));
  const kernel = w.get(`${layer}/kernel`);
  const bias = w.get(`${layer}/bias`);
  if (!kernel || !bias) throw new ImgclassError('MODEL_CORRUPT', `${dir}: no weights for layer ${layer}`);
  return { kernel: kernel.data, bias: bias.data };
}
