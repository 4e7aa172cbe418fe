import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fingerprint, loadDataset, type Dataset, type LabeledFile } from '../data/dataset.js';
import { PREPROCESSING_PRESETS, type Preprocessing } from '../data/preprocess.js';
import { stratifiedSplit } from '../data/split.js';
import { describeSkipped } from '../data/walk.js';
import { extractFeatures, type FeatureRow } from '../features/bottleneck.js';
import { backboneSpecWith, loadBackbone, type Backbone } from '../models/backbone.js';
import type { ResizeMode } from '../data/transform.js';
import { loadImagenetClasses } from '../models/imagenet.js';
import { loadModelDir, MODEL_FORMAT, MODEL_FORMAT_VERSION, type ModelInput, type ModelManifest } from '../models/model-dir.js';
import { registryEntry } from '../models/registry.js';
import { initTf, tf } from '../runtime/tf.js';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import { featureHead, imagenetInitHead, seedOtsuCnn, seedScratchCnn, type OptimizerName } from './architectures.js';
import { leakedIntoTraining } from '../data/duplicates.js';
import { resolvedHyperparameters, TRAIN_DEFAULTS } from './hyperparameters.js';
import { calibrateUnknown } from './calibrate-unknown.js';
import { walkImages } from '../data/walk.js';
import type { UnknownCalibration } from '../models/unknown.js';
import { featureMatrix, imageAugmenter, imageTensor, mirrorAugmenter } from './inputs.js';
import { oneHot, trainModel, type TrainResult, type TrainTensors } from './train.js';
import { checkSameData, readRunForResume, resumeOptions, type SavedRun } from './resume.js';
import type * as tfl from '@tensorflow/tfjs-layers';

import type { Architecture } from './choices.js';

export { ARCHITECTURES, DEFAULT_PATIENCE, type Architecture } from './choices.js';

/** Everything one training run needs: data, run directory, architecture, optimizer and schedule (the `train` command's options). */
export interface TrainingOptions {
  dataDir: string;
  runDir: string;
  arch: Architecture;
  backbone: string;
  input?: ModelInput;
  optimizer: OptimizerName;
  learningRate?: number;
  /** Required, except when resuming (then the saved run's count unless given). */
  epochs: number;
  batchSize: number;
  /** Early stopping: epochs without a better validation loss (default 8; 0 = off). */
  patience?: number;
  hidden?: number;
  dropout?: number;
  /** 'balanced': Keras/scikit-learn's n / (k · n_class) weights in the loss; default none. */
  classWeight?: 'none' | 'balanced';
  /** Folders of out-of-class photos for calibrating the "unknown" answer; held-out photos of the classes are always used. */
  unknownPhotos?: string[];
  /** Pixel models: input side (the seeds use 224 and 300; the machine decides). */
  size?: number;
  /** Feature models: how photos are fitted to the backbone (default: the registry's, centre crop). */
  resize?: ResizeMode;
  /** Carve validation from train (stratified); a data set's own valid folder then becomes the test set. */
  validFromTrain?: number;
  augment?: boolean;
  seed?: number;
  featureCache?: string;
  resume?: boolean;
  quiet?: boolean;
  /** Use exactly these parts (k-fold); not saved in config.json. */
  splits?: Omit<PreparedData, 'dataset'>;
}

export interface PreparedData {
  dataset: Dataset;
  train: LabeledFile[];
  valid: LabeledFile[];
  test: LabeledFile[];
}

export { resolvedHyperparameters } from './hyperparameters.js';

/** Decide the train / valid / test files for a run (same rules for train, sweep and kfold). */
export async function prepareSplits(o: Pick<TrainingOptions, 'dataDir' | 'validFromTrain' | 'seed' | 'splits' | 'quiet'>): Promise<PreparedData> {
  const dataset = await loadDataset(o.dataDir, { seed: o.seed });
  const note = o.quiet ? null : describeSkipped(dataset.skipped);
  if (note) process.stderr.write(`imgclass: ${note}\n`);
  if (o.splits) return { dataset, ...o.splits };
  let { train, valid, test } = dataset.splits;
  if (o.validFromTrain || valid.length === 0) {
    const parts = stratifiedSplit(
      train.map((f) => f.label),
      { valid: o.validFromTrain ?? TRAIN_DEFAULTS.validFraction, test: 0 },
      o.seed ?? TRAIN_DEFAULTS.seed,
    );
    if (test.length === 0) test = valid;
    valid = parts.valid.map((i) => train[i]!);
    train = parts.train.map((i) => train[i]!);
  }
  if (train.length === 0 || valid.length === 0) throw new ImgclassError('BAD_DATASET', `${o.dataDir}: needs training and validation images`);
  return { dataset, train, valid, test };
}

export function preprocessingFor(o: Pick<TrainingOptions, 'arch' | 'backbone' | 'size' | 'resize'>): Preprocessing {
  if (o.arch === 'scratch' || o.arch === 'otsu') {
    // Pixel CNNs train on one tensor of fixed-size images: squash (the seeds') or centre crop.
    if (o.resize === 'keep-aspect') throw new ImgclassError('BAD_OPTION', `--resize keep-aspect is for feature models; ${o.arch} needs a fixed input size`);
    const p = o.arch === 'scratch' ? PREPROCESSING_PRESETS.rescale(o.size ?? 64) : PREPROCESSING_PRESETS.otsu(o.size ?? 100);
    return o.resize ? { ...p, resize: o.resize } : p;
  }
  const e = registryEntry(o.backbone);
  if (!e.backbone) throw new ImgclassError('BAD_OPTION', `${o.backbone} is not a backbone`);
  return backboneSpecWith(o.backbone, e.backbone, o.resize).preprocessing;
}

export interface FeatureSplits {
  rows: Record<'train' | 'valid' | 'test', FeatureRow[]>;
  labels: Record<'train' | 'valid' | 'test', number[]>;
}

/** Bottleneck features for the three parts (cached), dropping unreadable files. */
export async function featuresFor(data: PreparedData, backbone: Backbone, o: { featureCache?: string; quiet?: boolean }): Promise<FeatureSplits> {
  const rows = { train: [] as FeatureRow[], valid: [] as FeatureRow[], test: [] as FeatureRow[] };
  const labels = { train: [] as number[], valid: [] as number[], test: [] as number[] };
  for (const split of ['train', 'valid', 'test'] as const) {
    const files = data[split];
    if (files.length === 0) continue;
    const bar = o.quiet ? null : progress(`features ${split}`, files.length);
    let last = 0;
    const r = await extractFeatures(
      files.map((f) => f.file),
      backbone,
      {
        cacheDir: o.featureCache,
        onProgress: (d) => {
          bar?.tick(d - last);
          last = d;
        },
      },
    );
    bar?.stop();
    r.rows.forEach((row, i) => {
      if (row) {
        rows[split].push(row);
        labels[split].push(files[i]!.label);
      }
    });
  }
  return { rows, labels };
}

/** Build the untrained network for an architecture. */
export async function buildModel(o: TrainingOptions, classes: Dataset['classes'], inputDim: number, backbone: Backbone | null): Promise<tfl.LayersModel> {
  const n = classes.length;
  switch (o.arch) {
    case 'head':
      return featureHead({ inputDim, classes: n, hidden: resolvedHyperparameters(o).hidden!, dropout: resolvedHyperparameters(o).dropout });
    case 'linear':
      return featureHead({ inputDim, classes: n, hidden: 0, dropout: resolvedHyperparameters(o).dropout });
    case 'imagenet-linear': {
      const head = await backbone?.imagenetHead?.();
      if (!head) throw new ImgclassError('BAD_OPTION', `${o.backbone} exposes no ImageNet head to start from`);
      const all = await loadImagenetClasses();
      const idx = classes.map((c) => all.findIndex((a) => a.wnid === c.wnid));
      if (idx.some((i) => i < 0)) throw new ImgclassError('BAD_OPTION', 'imagenet-linear needs every class folder to be an ImageNet WordNet id');
      return imagenetInitHead(head.kernel, head.bias, inputDim, idx, resolvedHyperparameters(o).dropout);
    }
    case 'scratch':
      return seedScratchCnn({ size: o.size ?? 64, channels: 3, classes: n });
    case 'otsu':
      return seedOtsuCnn({ size: o.size ?? 100, channels: 1, classes: n });
  }
}

export interface TrainingSummary extends TrainResult {
  runDir: string;
  modelDir: string;
  counts: { train: number; valid: number; test: number };
  /** The held-out files this run never trained or selected on. */
  test: LabeledFile[];
  /** The files the weights were fitted on (for leakage checks of whatever is scored later). */
  train: LabeledFile[];
  /** Validation or test photos with a byte-identical copy among the training photos. */
  leaks: { file: string; copies: string[] }[];
  /** The "unknown" answer's calibration (feature models), as stored in the manifest. */
  unknown: UnknownCalibration | null;
  /** Training class counts, largest over smallest (suggest --class-weight balanced when ≥ 1.5). */
  imbalance: number;
}

/** `--resume`: the run directory and data; any other option given must equal the run's. */
export type ResumeRequest = Partial<TrainingOptions> & Pick<TrainingOptions, 'dataDir' | 'runDir'> & { resume: true };

/**
 * The seed's whole training step: data → (features) → model → fit with checkpoints → run directory.
 * A new run refuses a directory that already holds one. A resumed run (`resume: true`) is read
 * and checked (resume.ts: the run itself, options, data set, last weights) before anything in the
 * run directory is written, so a refused resume leaves the run exactly as it was.
 */
export async function runTraining(request: TrainingOptions | ResumeRequest): Promise<TrainingSummary> {
  await initTf();
  const configPath = path.join(request.runDir, 'config.json');
  let o: TrainingOptions;
  let saved: SavedRun | null = null;
  if (request.resume) {
    saved = await readRunForResume(request.runDir);
    const merged = resumeOptions<TrainingOptions>(request.runDir, saved.config, request, saved.point.epoch);
    o = {
      ...merged,
      dataDir: request.dataDir,
      runDir: request.runDir,
      resume: true,
      quiet: request.quiet,
      featureCache: request.featureCache ?? merged.featureCache,
      splits: request.splits,
    };
  } else {
    o = request;
    if (
      await stat(configPath).then(
        () => true,
        () => false,
      )
    )
      throw new ImgclassError('BAD_RUN', `${o.runDir} already holds a training run; continue it with --resume ${o.runDir}, or choose another --out`);
  }
  const data = await prepareSplits(o);
  const dataRecord = {
    root: data.dataset.root,
    splitSource: data.dataset.splitSource,
    classes: data.dataset.classes,
    fingerprint: await fingerprint(data.dataset),
    counts: { train: data.train.length, valid: data.valid.length, test: data.test.length },
  };
  if (saved?.data) checkSameData(o.runDir, o.dataDir, saved.data, dataRecord);
  // Only now, every check passed: recorded with every default resolved, and rewritten on resume
  // so it states the epochs now aimed at.
  await writeFileAtomic(configPath, JSON.stringify({ ...o, ...resolvedHyperparameters(o), resume: undefined, quiet: undefined, splits: undefined }, null, 2));
  const preprocessing = preprocessingFor(o);
  const pixelModel = o.arch === 'scratch' || o.arch === 'otsu';
  const input: ModelInput = pixelModel ? 'image' : (o.input ?? 'features');
  const seed = o.seed ?? 42;
  const hp = resolvedHyperparameters(o);
  const leaks = await leakedIntoTraining([...data.valid, ...data.test], data.train);
  let unknown: UnknownCalibration | null = null;
  let trainLabels: number[];
  let tensors: TrainTensors;
  let backbone: Backbone | null = null;
  let inputDim = 0;
  if (pixelModel) {
    const [tr, va] = [await imageTensor(data.train, preprocessing), await imageTensor(data.valid, preprocessing)];
    tensors = { xTrain: tr.x, yTrain: oneHot(tr.labels, data.dataset.classes.length), xValid: va.x, yValid: oneHot(va.labels, data.dataset.classes.length) };
    trainLabels = tr.labels;
    if (o.augment !== false)
      tensors.augment = imageAugmenter(tr.x, { flip: true, shift: 0.1, zoom: 0.15, brightness: 0.2, rotation: 10 }, o.arch === 'otsu', seed);
  } else {
    backbone = await loadBackbone(o.backbone, { resize: o.resize });
    const f = await featuresFor(data, backbone, o);
    tensors = {
      xTrain: featureMatrix(f.rows.train, input),
      yTrain: oneHot(f.labels.train, data.dataset.classes.length),
      xValid: featureMatrix(f.rows.valid, input),
      yValid: oneHot(f.labels.valid, data.dataset.classes.length),
    };
    if (o.augment !== false) tensors.augment = mirrorAugmenter(f.rows.train, input, seed);
    inputDim = tensors.xTrain.shape[1]!;
    trainLabels = f.labels.train;
    const walked = o.unknownPhotos?.length ? await walkImages(o.unknownPhotos) : null;
    const skippedNote = walked ? describeSkipped(walked.skipped) : null;
    if (skippedNote && !o.quiet) process.stderr.write(`--unknown-photos: ${skippedNote}\n`);
    const outFiles = walked?.files ?? [];
    if (o.unknownPhotos?.length && outFiles.length === 0)
      throw new ImgclassError('BAD_OPTION', `no photos found in --unknown-photos ${o.unknownPhotos.join(', ')}`);
    const outOfClass = outFiles.length ? await extractFeatures(outFiles, backbone, { cacheDir: o.featureCache }) : null;
    unknown = calibrateUnknown(f.rows, outOfClass ? { rows: outOfClass.rows.filter((r) => r !== null), source: o.unknownPhotos!.join(', ') } : null);
  }
  const counts = data.dataset.classes.map((_, c) => trainLabels.filter((l) => l === c).length);
  const imbalance = Math.max(...counts) / Math.max(1, Math.min(...counts));
  const classWeight =
    hp.classWeight === 'balanced' ? Object.fromEntries(counts.map((n, c) => [c, n > 0 ? trainLabels.length / (counts.length * n) : 0])) : undefined;
  const model = await buildModel(o, data.dataset.classes, inputDim, backbone);
  backbone?.dispose();
  if (saved?.point.lastDir) await loadWeightsInto(model, saved.point.lastDir, o.runDir);
  // the first writes of a resumed run: every check above has passed
  if (saved) await writeFileAtomic(configPath, JSON.stringify({ ...saved.config, epochs: o.epochs, featureCache: o.featureCache }, null, 2));
  await writeFileAtomic(path.join(o.runDir, 'data.json'), JSON.stringify(dataRecord, null, 2));
  const manifest: Omit<ModelManifest, 'createdAt'> = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    backbone: pixelModel ? null : o.backbone,
    input,
    preprocessing,
    classes: data.dataset.classes,
    training: {
      name: path.basename(o.runDir),
      arch: o.arch,
      resize: preprocessing.resize,
      optimizer: o.optimizer,
      learningRate: hp.learningRate,
      epochs: o.epochs,
      batchSize: o.batchSize,
      patience: hp.patience,
      hidden: hp.hidden,
      dropout: hp.dropout,
      classWeight: classWeight ? { mode: 'balanced', weights: classWeight } : 'none',
      augment: o.augment !== false,
      seed,
      data: o.dataDir,
    },
    ...(unknown ? { unknown } : {}),
  };
  const result = await trainModel(
    model,
    tensors,
    { optimizer: o.optimizer, learningRate: hp.learningRate, epochs: o.epochs, batchSize: o.batchSize, patience: hp.patience, seed, classWeight },
    o.runDir,
    manifest,
    { resume: saved?.point, quiet: o.quiet },
  );
  tf.dispose([tensors.xTrain, tensors.yTrain, tensors.xValid, tensors.yValid]);
  model.dispose();
  if (result.history.length > 0) await recordOutcome(path.join(o.runDir, 'model'), result, o.epochs);
  return {
    ...result,
    runDir: o.runDir,
    modelDir: path.join(o.runDir, 'model'),
    counts: { train: data.train.length, valid: data.valid.length, test: data.test.length },
    test: data.test,
    train: data.train,
    leaks,
    unknown,
    imbalance,
  };
}

/**
 * The kept model's manifest was written at its best epoch; when the run ends (or is stopped, or
 * was resumed with a new budget) it is brought up to date: the epoch budget, the epochs run,
 * early stopping, resumes.
 */
async function recordOutcome(modelDir: string, r: TrainResult, epochs: number): Promise<void> {
  const file = path.join(modelDir, 'manifest.json');
  const m = JSON.parse(await readFile(file, 'utf8')) as ModelManifest;
  m.training = { ...m.training, epochs, epochsRun: r.history.length, stoppedEarly: r.stoppedEarly, interrupted: r.interrupted, resumedAfter: r.resumes };
  await writeFileAtomic(file, JSON.stringify(m, null, 2) + '\n');
}

/** The last checkpoint's weights into a freshly built network; a mismatch is a damaged run, not a crash. */
async function loadWeightsInto(model: tfl.LayersModel, lastDir: string, runDir: string): Promise<void> {
  let last: Awaited<ReturnType<typeof loadModelDir>>;
  try {
    last = await loadModelDir(lastDir);
  } catch (e) {
    throw new ImgclassError('BAD_RUN', `cannot resume ${runDir}: its last checkpoint cannot be loaded: ${(e as Error).message}`, { cause: e });
  }
  try {
    model.setWeights(last.model.getWeights());
  } catch (e) {
    throw new ImgclassError('BAD_RUN', `cannot resume ${runDir}: its last checkpoint does not fit the network these options build: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    last.model.dispose();
  }
}
