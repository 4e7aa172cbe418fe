import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Preprocessing } from '../data/preprocess.js';
import { ImgclassError } from '../util/errors.js';
import { loadTrainedModel, type TrainedModel } from './classifier.js';
import { assembleExport, assembleHeadOnnx, type BackboneNetwork, type BuiltExport } from './export-graph.js';
import { loadImagenetClasses } from './imagenet.js';
import type { ClassInfo } from './model-dir.js';
import { registryEntry, type RegistryEntry } from './registry.js';
import { getDefaultStore, type ModelStore } from './store.js';
import { decodeWeights, readLayersModelFiles } from './tfjs-io.js';

/**
 * One self-contained ONNX file for a trained model, an ensemble or a backbone: normalisation,
 * backbone, flip averaging, head(s) and ensemble averaging all inside the graph, so plain
 * onnxruntime (Node, web, Python, C++) runs it with no imgclass code. This module reads the parts
 * from disk; the graph itself is assembled by export-graph.ts (shared with the browser's
 * device-mode training). `verifyExport` measures how closely the file follows the inference unit.
 */
export { EXPORT_INPUT, EXPORT_OUTPUT, type BuiltExport, type ExportInfo } from './export-graph.js';

export async function buildExport(source: string[], o: { flip?: boolean; store?: ModelStore } = {}): Promise<BuiltExport> {
  const store = o.store ?? getDefaultStore();
  const isBackbone = source.length === 1 && isBackboneName(source[0]!);
  const model = isBackbone ? null : await loadTrainedModel(source);
  try {
    // The unit's flip policy (see ImageClassifier.load), inside the graph.
    const flip = o.flip ?? model?.mirrorInvariant ?? true;
    const backboneName = isBackbone ? source[0]! : model!.backbone;
    const entry = backboneName ? registryEntry(backboneName) : null;
    const pre = entry ? backbonePreprocessing(entry, model) : model!.singleModels()[0]!.manifest.preprocessing;
    const classes: ClassInfo[] = model ? model.classes : (await loadImagenetClasses(store)).map((c) => ({ name: c.name, wnid: c.wnid }));
    return assembleExport({
      source,
      backbone: entry ? { name: entry.name, spec: entry.backbone!, network: await backboneNetwork(entry, store) } : null,
      heads: (model?.singleModels() ?? []).map((m) => ({ network: m.network, input: m.manifest.input })),
      preprocessing: pre,
      flip,
      classes,
    });
  } finally {
    model?.dispose();
  }
}

function isBackboneName(s: string): boolean {
  try {
    return !!registryEntry(s).backbone;
  } catch {
    return false;
  }
}

/** The backbone's network as the export embeds it: a TF.js layers model's files, or the registry's ONNX file. */
async function backboneNetwork(entry: RegistryEntry, store: ModelStore): Promise<BackboneNetwork> {
  const main = await store.resolve(entry);
  if (entry.format === 'tfjs-layers') {
    const files = await readLayersModelFiles(path.dirname(main));
    return { kind: 'layers', network: { topology: files.modelTopology, weights: decodeWeights(files) } };
  }
  return { kind: 'onnx', bytes: await readFile(main) };
}

function backbonePreprocessing(entry: RegistryEntry, model: TrainedModel | null): Preprocessing {
  const p = entry.backbone!.preprocessing;
  return model ? { ...p, resize: model.backboneOptions().resize } : p;
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
  return assembleHeadOnnx(
    model.name,
    members.map((m) => m.network),
    model.classes,
  );
}
