import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Preprocessing } from '../data/preprocess.js';
import { settledDir, writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { fileLoader, fileSaver } from './tfjs-io.js';

/**
 * The trained-model directory format that `imgclass train` writes and `predict --model` loads:
 *
 *   manifest.json   what the model is: backbone, input kind, preprocessing, classes, metrics
 *   model.json      TF.js layers topology + weights manifest
 *   weights.bin     the weights
 *
 * The preprocessing travels inside the manifest so the model is always served the way it was trained.
 */
export const MODEL_FORMAT = 'imgclass-model';
export const MODEL_FORMAT_VERSION = 1;

/** What a trained model reads: the backbone's features, features plus ImageNet probabilities, or the image itself (a CNN on pixels). */
export type ModelInput =
  /** the backbone's pooled feature vector */
  | 'features'
  /** features followed by the 1000 ImageNet probabilities */
  | 'features+probabilities'
  /** the preprocessed image itself (CNNs from scratch) */
  | 'image';

import type { ClassInfo } from './probabilities.js';

export type { ClassInfo } from './probabilities.js';

/** Same class names in the same order (models whose probabilities can be averaged). */
export function sameClasses(a: ClassInfo[], b: ClassInfo[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i]!.name);
}

/** `manifest.json` of a trained model directory: classes, backbone and preprocessing, training record and metrics. */
export interface ModelManifest {
  format: typeof MODEL_FORMAT;
  version: number;
  /** Registry name of the backbone; null for models that take the image itself. */
  backbone: string | null;
  input: ModelInput;
  preprocessing: Preprocessing;
  classes: ClassInfo[];
  createdAt: string;
  /** Free-form: architecture, optimiser, epochs, data fingerprint … */
  training?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/** Reads and checks a model directory's `manifest.json`; a missing or damaged one is an `ImgclassError` naming the file. */
export async function readManifest(modelDir: string): Promise<ModelManifest> {
  const dir = await settledDir(modelDir);
  const file = path.join(dir, 'manifest.json');
  let m: ModelManifest;
  try {
    m = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ImgclassError(
      missing ? 'MODEL_NOT_FOUND' : 'MODEL_CORRUPT',
      missing ? `${modelDir} is not an imgclass model directory (no manifest.json)` : `${file} is not valid JSON`,
      { cause: e },
    );
  }
  if (m.format !== MODEL_FORMAT) throw new ImgclassError('MODEL_CORRUPT', `${file}: format is "${String(m.format)}", expected "${MODEL_FORMAT}"`);
  if (m.version > MODEL_FORMAT_VERSION)
    throw new ImgclassError('MODEL_CORRUPT', `${file}: version ${m.version} is newer than this imgclass understands (${MODEL_FORMAT_VERSION})`);
  if (!Array.isArray(m.classes) || m.classes.length < 2) throw new ImgclassError('MODEL_CORRUPT', `${file}: needs at least two classes`);
  if (!['features', 'features+probabilities', 'image'].includes(m.input)) throw new ImgclassError('MODEL_CORRUPT', `${file}: unknown input kind "${m.input}"`);
  return m;
}

export interface LoadedModel {
  manifest: ModelManifest;
  model: tfl.LayersModel;
}

/** Loads a trained model directory as a TF.js model with its manifest (what training and export start from); TF.js is loaded on first use, not with this module. */
export async function loadModelDir(modelDir: string): Promise<LoadedModel> {
  const [{ initTf }, tfl] = await Promise.all([import('../runtime/tf.js'), import('@tensorflow/tfjs-layers')]);
  await initTf();
  // a checkpoint swap cut short by a kill leaves the previous complete version beside the target
  const dir = await settledDir(modelDir);
  const manifest = await readManifest(dir);
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(fileLoader(dir));
  } catch (e) {
    if (e instanceof ImgclassError) throw e;
    throw new ImgclassError('MODEL_CORRUPT', `cannot load the network in ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const outUnits = model.outputs[0]!.shape[model.outputs[0]!.shape.length - 1];
  if (outUnits !== manifest.classes.length)
    throw new ImgclassError('MODEL_CORRUPT', `${dir}: the network has ${outUnits} outputs but the manifest lists ${manifest.classes.length} classes`);
  return { manifest, model };
}

/**
 * Write a model directory atomically: a reader (or a crash) never sees half a model. `extra` files
 * (name → content) land in the same directory in the same swap, e.g. a training checkpoint's state.
 */
export async function saveModelDir(dir: string, model: tfl.LayersModel, manifest: ModelManifest, extra: Record<string, string> = {}): Promise<void> {
  await writeDirAtomic(dir, async (tmp) => {
    await model.save(fileSaver(tmp));
    await writeFileAtomic(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    for (const [name, content] of Object.entries(extra)) await writeFileAtomic(path.join(tmp, name), content);
  });
}
