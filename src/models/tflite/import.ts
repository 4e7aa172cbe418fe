import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Preprocessing } from '../../data/tensor.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { ImgclassError } from '../../util/errors.js';
import { registerModel, type BackboneSpec, type RegistryEntry } from '../registry.js';
import type { ModelStore } from '../store.js';
import { IMPORTED } from '../imported-models.js';
import { convertModel } from './convert.js';
import { readTflite, type TfliteModel } from './reader.js';

/**
 * `imgclass import model.tflite`: a user's TFLite image classifier (Teachable Machine, Model
 * Maker, a TFLite ImageNet file) becomes a registry entry every command resolves by name, like
 * the built-in backbones. The file is copied into the store's cache (`imported/<name>/`, pinned by
 * its sha256) beside `entry.json`, which `loadImportedModels` registers when the CLI starts.
 * The tensors are found in the graph: the output (softmaxed or not), and the classifier's input
 * (the pooled features) as features; options override each guess.
 */

export interface ImportOptions {
  name?: string;
  /** A labels file (one class a line): its count checks the output's, and it ships with the entry. */
  labels?: string;
  /** Outputs before the first class (1 for TFLite's ImageNet files, whose output 0 is `background`). */
  classOffset?: number;
  /** Override the guessed tensors. */
  probabilities?: string;
  features?: string;
  /** Normalisation of a float model's input (default x/127.5 − 1, Teachable Machine's); a quantised uint8 input uses its own scale and zero point. */
  mean?: number;
  std?: number;
  crop?: number;
}

export interface TfliteGuess {
  probabilities: string;
  softmaxed: boolean;
  features: string;
  featureDim: number;
  classes: number;
  preprocessing: Preprocessing;
}

/** The tensors and preprocessing of a TFLite classifier, as far as its graph tells. */
export function guessTfliteClassifier(m: TfliteModel, o: ImportOptions = {}): TfliteGuess {
  const input = m.tensors[m.inputs[0]!];
  if (!input || input.shape.length !== 4 || input.shape[3] !== 3)
    throw new ImgclassError('UNSUPPORTED_MODEL', `the TFLite input is [${input?.shape ?? []}]; an image classifier takes 1×H×W×3`);
  const producer = new Map<number, (typeof m.operators)[number]>();
  for (const op of m.operators) for (const t of op.outputs) producer.set(t, op);
  const byName = (name: string) => {
    const t = m.tensors.find((x) => x.name === name);
    if (!t) throw new ImgclassError('BAD_OPTION', `the TFLite model has no tensor named "${name}"`);
    return t;
  };
  const out = o.probabilities ? byName(o.probabilities) : m.tensors[m.outputs[0]!]!;
  // Through DEQUANTIZE/RESHAPE/SQUEEZE to the op that made the scores.
  const passThrough = new Set(['DEQUANTIZE', 'QUANTIZE', 'RESHAPE', 'SQUEEZE']);
  let op = producer.get(out.index);
  let softmaxed = false;
  while (op && (passThrough.has(op.op) || op.op === 'SOFTMAX')) {
    if (op.op === 'SOFTMAX') softmaxed = true;
    op = producer.get(op.inputs[0]!);
  }
  let features = o.features ? byName(o.features) : undefined;
  if (!features) {
    if (!op || (op.op !== 'FULLY_CONNECTED' && op.op !== 'CONV_2D'))
      throw new ImgclassError('UNSUPPORTED_MODEL', `cannot tell the features of this model (its scores come from ${op?.op ?? 'nothing'}); name them with --features`);
    features = m.tensors[op.inputs[0]!]!;
  }
  const shape = m.tensors[features.index]!.shape;
  const probsWidth = out.shape.at(-1);
  // Features are pooled (1×1 spatially or flat); their width from the classifier's weights when the file leaves shapes out.
  const w = op ? m.tensors[op.inputs[1]!] : undefined;
  const featureDim = shape.length ? shape.slice(1).reduce((a, b) => a * b, 1) : (w?.shape.at(-1) ?? 0);
  const classes = probsWidth ?? (w ? w.shape[0]! : 0);
  const q = input.quantization;
  const quantised = input.type === 'UINT8' && q && q.scale.length === 1;
  const [mean, std] = quantised ? [q.zeroPoint[0]!, 1 / q.scale[0]!] : [o.mean ?? 127.5, o.std ?? 127.5];
  const preprocessing: Preprocessing = {
    width: input.shape[2]!,
    height: input.shape[1]!,
    resize: 'center-crop',
    ...(o.crop !== undefined ? { crop: o.crop } : {}),
    colour: 'rgb',
    layout: 'nhwc',
    scale: 1,
    mean: [mean, mean, mean],
    std: [std, std, std],
  };
  return { probabilities: out.name, softmaxed, features: features.name, featureDim, classes, preprocessing };
}


/** Copy, check (it converts), describe and register a TFLite classifier; returns its entry. */
export async function importTflite(file: string, store: ModelStore, o: ImportOptions = {}): Promise<RegistryEntry> {
  const bytes = new Uint8Array(await readFile(file));
  const m = readTflite(bytes);
  const guess = guessTfliteClassifier(m, o);
  // Convert once now, so an unsupported op is reported at import rather than at first use.
  convertModel(m, { outputs: { [guess.probabilities]: 'p', [guess.features]: 'f' } });
  const name = o.name ?? path.basename(file).replace(/\.tflite$/i, '');
  if (!/^[\w.-]+$/.test(name)) throw new ImgclassError('BAD_OPTION', `model name "${name}" may hold letters, digits, '.', '_' and '-' only`);
  const dir = `${IMPORTED}/${name}`;
  const files = [{ path: `${dir}/${path.basename(file)}`, sha256: createHash('sha256').update(bytes).digest('hex'), url: null }];
  let labelsNote = '';
  if (o.labels) {
    const labels = new Uint8Array(await readFile(o.labels));
    const count = new TextDecoder().decode(labels).split('\n').filter((l) => l.trim()).length;
    if (count !== guess.classes - (o.classOffset ?? 0) && count !== guess.classes)
      throw new ImgclassError('BAD_OPTION', `${o.labels} has ${count} labels; the model has ${guess.classes} outputs`);
    files.push({ path: `${dir}/labels.txt`, sha256: createHash('sha256').update(labels).digest('hex'), url: null });
    await mkdir(path.join(store.cacheDir, dir), { recursive: true });
    await writeFileAtomic(path.join(store.cacheDir, dir, 'labels.txt'), labels);
    labelsNote = `, ${count} labels`;
  }
  await mkdir(path.join(store.cacheDir, dir), { recursive: true });
  await writeFileAtomic(path.join(store.cacheDir, files[0]!.path), bytes);
  const backbone: BackboneSpec = {
    preprocessing: guess.preprocessing,
    probabilitiesOutput: guess.probabilities,
    probabilitiesAreSoftmax: guess.softmaxed,
    featuresOutput: guess.features,
    featureDim: guess.featureDim,
    resizeModes: ['center-crop', 'squash'],
    ...(o.classOffset ? { classOffset: o.classOffset } : {}),
  };
  const entry: RegistryEntry = {
    name,
    format: 'tflite',
    description: `imported from ${path.basename(file)}: ${guess.classes} outputs${labelsNote}, ${guess.featureDim}-d features`,
    license: 'see the model’s source',
    main: files[0]!.path,
    files,
    backbone,
  };
  await writeFileAtomic(path.join(store.cacheDir, dir, 'entry.json'), JSON.stringify(entry, null, 2) + '\n');
  registerModel(entry);
  return entry;
}

export { loadImportedModels } from '../imported-models.js';
