/**
 * Device-mode training: the Train page's whole run (features, head, held-out report, ONNX export)
 * in this tab, with nothing uploaded. Bundled by esbuild on the server (server/device-assets.ts,
 * `bundleTrainDevice`) and loaded by the page when device mode is on.
 *
 * Every step is the command line's own module, run on a browser host:
 * - decode and fit: decode.ts (the server's decode: upload checks, EXIF, alpha on white, lanczos3
 *   to maxSide) and resample.ts's pure resize (which reproduces sharp), as device mode does;
 * - features: the server's backbone graph on onnxruntime-web, each photo and its mirror image
 *   (views.ts), as bottleneck.ts extracts them;
 * - split: data/split.ts's seeded stratified 70/15/15 split, as `loadDataset` makes it;
 * - head: architectures.ts's network, feature-inputs.ts's mirror augmentation, train-loop.ts's
 *   epoch loop (early stopping, best weights kept), with the CLI's defaults (hyperparameters.ts);
 * - report: evaluation/metrics.ts, calibrate-unknown.ts and models/unknown.ts;
 * - export: models/export-graph.ts, the very graph `imgclass export` writes;
 * - Try it (`classifyOnDevice`): the run's saved model on a new photo, through the same fitting,
 *   features, flip averaging, head and unknown check as the held-out report.
 * What the browser cannot do as the CLI does (the PNG charts, the feature cache on disk) is left
 * to the page: the report carries the numbers to draw them.
 */
import type * as Ort from 'onnxruntime-web';
import * as tfl from '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { leaksBy } from '../data/leaks.js';
import { packPixels, type RgbImage } from '../data/pixels.js';
import { resizeLike } from '../data/resample.js';
import { DEFAULT_SPLIT_SEED, DEFAULT_HELD_OUT, stratifiedSplit } from '../data/split.js';
import { sniffFormat } from '../data/upload.js';
import { evaluate, topLosses, argmax, type Evaluation } from '../evaluation/metrics.js';
import type { FeatureRow } from '../features/bottleneck.js';
import { BACKBONE_TENSORS } from '../models/backbone-types.js';
import { assembleExport, EXPORT_INPUT, EXPORT_OUTPUT, type BackboneNetwork, type ExportInfo, type LayersNetwork } from '../models/export-graph.js';
import { decodeWeights, layersModelJson, weightBytes } from '../models/layers-weights.js';
import type { ClassInfo, ModelManifest } from '../models/model-dir.js';
import { topK, type ClassProbability } from '../models/probabilities.js';
import { calibrationsOf, imagenetView, unknownVerdict, type UnknownCalibration, type UnknownVerdict } from '../models/unknown.js';
import { viewsOf } from '../models/views.js';
import { initTf, tf, type TfBackendName } from '../runtime/tf.js';
import { featureHead, type OptimizerName } from '../training/architectures.js';
import { calibrateUnknown } from '../training/calibrate-unknown.js';
import type { EpochMetrics } from '../training/epoch-metrics.js';
import { featureMatrix, mirrorAugmenter } from '../training/feature-inputs.js';
import { resolvedHyperparameters, TRAIN_DEFAULTS } from '../training/hyperparameters.js';
import { epochLine, fitEpochs, metricsCsv, metricsJsonl, oneHot, type LoopState } from '../training/train-loop.js';
import { ImgclassError, isImgclassError } from '../util/errors.js';
import type { TrainDeviceManifest } from '../app/device-manifest.js';
import { ORT_WEB_SESSION, startOrtWeb } from './ort-web.js';
import { decodeInBrowser } from './decode.js';

export type { TrainDeviceManifest } from '../app/device-manifest.js';

export interface TrainDeviceInput {
  /** Each class by name with its photos. Classes are taken in name order and each class's photos in name order, as the CLI walks folders. */
  classes: { name: string; files: Blob[] }[];
}

export interface TrainDeviceOptions {
  manifest: TrainDeviceManifest;
  /** The run's name (the run directory's name when saved; default `device-<ISO time>`). */
  name?: string;
  epochs?: number;
  batchSize?: number;
  patience?: number;
  optimizer?: OptimizerName;
  learningRate?: number;
  hidden?: number;
  dropout?: number;
  seed?: number;
  augment?: boolean;
  classWeight?: 'none' | 'balanced';
  /** TF.js backend for the head (default wasm; bench:train-device measures both). */
  tfBackend?: TfBackendName;
  /** Worst mistakes kept in the report (default 10, as eval). */
  topLosses?: number;
  /** Held-out photos the export is checked on (default 50, as `imgclass export`). */
  verifyCount?: number;
}

export type TrainDeviceStage = 'loading' | 'features' | 'training' | 'evaluating' | 'exporting';

export type TrainDeviceEvent =
  | { type: 'stage'; stage: TrainDeviceStage }
  | { type: 'load'; loaded: number; total: number }
  | { type: 'features'; done: number; total: number; failed: number }
  /** Keras' epoch line and its numbers, after each finished epoch (`best`: the kept weights are now this epoch's). */
  | { type: 'epoch'; metrics: EpochMetrics; epochs: number; best: boolean; line: string };

/** A held-out photo's answer, as the report scored it. */
export interface HeldOutPrediction {
  file: string;
  label: number;
  probabilities: number[];
}

export interface TrainDeviceReport {
  name: string;
  classes: string[];
  counts: { train: number; valid: number; test: number };
  /** Entries that are not images (by content), left out before the split, as the CLI's walk does. */
  skipped: { file: string; reason: string }[];
  /** Images that could not be decoded, left out of their part after the split, as the CLI does. */
  failures: { file: string; reason: string }[];
  /** Validation or test photos with a byte-identical copy among the training photos. */
  leaks: { file: string; copies: string[] }[];
  /** Training class counts, largest over smallest. */
  imbalance: number;
  history: EpochMetrics[];
  best: EpochMetrics;
  stoppedEarly: boolean;
  /** Stopped by the signal: the best epoch so far is kept. */
  interrupted: boolean;
  /** The held-out report (the CLI's eval-test/eval.json numbers). */
  test: Evaluation & {
    scored: { split: 'test'; description: string; n: number };
    topLosses: ReturnType<typeof topLosses>;
    unknown?: { falseUnknownRate: number; n: number };
  };
  unknown: UnknownCalibration | null;
  predictions: HeldOutPrediction[];
  /** How the ONNX export answers the held-out photos next to the model the report scored. */
  verification: ExportCheck;
  tfBackend: string;
  ortThreads: number;
  /** Milliseconds per stage (`exportMs`: building the file; `verifyMs`: running it on the held-out photos), and how many photos' features were computed (not in this tab's cache). */
  timings: {
    loadMs: number;
    featuresMs: number;
    computedFeatures: number;
    trainMs: number;
    evalMs: number;
    exportMs: number;
    verifyMs: number;
    totalMs: number;
  };
}

export interface ExportCheck {
  n: number;
  /** The reference: the model the report scored (this device's backbone and the TF.js head). */
  reference: 'device-model';
  maxAbsDiff: number;
  meanAbsDiff: number;
  top1Agreement: number;
  photos: string;
}

export interface TrainDeviceResult {
  report: TrainDeviceReport;
  /** The verified export: what `imgclass export` writes for this model. */
  onnx: Uint8Array;
  /** The export's JSON (what `imgclass export` writes beside the file), with the verification figures. */
  exportJson: ExportInfo & { verification: ExportCheck; bytes: number };
  /** The run directory's files by relative path (zip them, unpack under `serve --runs DIR`). */
  run: Record<string, Uint8Array>;
}

/** One photo of the data set, once known to be an image. */
interface Photo {
  blob: Blob;
  file: string;
  label: number;
  hash: string;
}

/** The loaded models, kept for the page's next run (content-addressed URLs never go stale). */
interface Engine {
  ort: typeof Ort;
  threads: number;
  backbone: Ort.InferenceSession;
  backboneNetwork: BackboneNetwork;
}
let engineFor: { key: string; engine: Promise<Engine> } | null = null;

/**
 * Rows already computed in this tab, by the photo's sha256 (as the server caches them by content):
 * training again after adding photos only computes the new ones. Bounded; cleared for another backbone.
 */
const FEATURE_CACHE_ROWS = 5000;
let rowsFor: { key: string; rows: Map<string, FeatureRow | { error: string }> } | null = null;
function featureCache(m: TrainDeviceManifest): Map<string, FeatureRow | { error: string }> {
  const key = m.backbone.graph.url + JSON.stringify(m.limits);
  if (rowsFor?.key !== key || rowsFor.rows.size > FEATURE_CACHE_ROWS) rowsFor = { key, rows: new Map() };
  return rowsFor.rows;
}

const text = new TextEncoder();
const enc = (s: string) => text.encode(s);
const json = (x: unknown) => enc(JSON.stringify(x, null, 2) + '\n');

function aborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new DOMException('training was stopped', 'AbortError');
}

export async function trainOnDevice(
  input: TrainDeviceInput,
  options: TrainDeviceOptions,
  onEvent: (e: TrainDeviceEvent) => void = () => {},
  signal?: AbortSignal,
): Promise<TrainDeviceResult> {
  const t0 = performance.now();
  const m = options.manifest;
  const name = options.name ?? `device-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const seed = options.seed ?? TRAIN_DEFAULTS.seed;
  const o = {
    arch: TRAIN_DEFAULTS.arch,
    optimizer: options.optimizer ?? TRAIN_DEFAULTS.optimizer,
    learningRate: options.learningRate,
    hidden: options.hidden,
    dropout: options.dropout,
    patience: options.patience,
    classWeight: options.classWeight,
  };
  const hp = resolvedHyperparameters(o);
  const epochs = options.epochs ?? TRAIN_DEFAULTS.epochs;
  const batchSize = options.batchSize ?? TRAIN_DEFAULTS.batchSize;
  const augment = options.augment !== false;

  // The data set, as loadDataset reads folders: classes and files in name order, non-images left out.
  const named = [...input.classes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (named.length < 2) throw new ImgclassError('BAD_DATASET', `found ${named.length} class(es); training needs at least two`);
  const dupNames = named.filter((c, i) => i > 0 && c.name === named[i - 1]!.name);
  if (dupNames.length) throw new ImgclassError('BAD_DATASET', `two classes are named "${dupNames[0]!.name}"`);
  const classes: ClassInfo[] = named.map((c) => ({ name: c.name }));
  const skipped: TrainDeviceReport['skipped'] = [];
  const photos: Photo[] = [];
  for (const [label, c] of named.entries()) {
    const files = c.files.map((blob, i) => ({ blob, file: `${c.name}/${fileName(blob, i)}` }));
    files.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    let kept = 0;
    for (const f of files) {
      const head = new Uint8Array(await f.blob.slice(0, 512).arrayBuffer());
      const fmt = sniffFormat(head);
      if (typeof fmt !== 'string') {
        skipped.push({ file: f.file, reason: head.length === 0 ? 'empty file' : fmt.rejected });
        continue;
      }
      photos.push({ ...f, label, hash: '' });
      kept++;
    }
    if (kept === 0)
      throw new ImgclassError(
        'BAD_DATASET',
        `class ${c.name} holds no images${skipped.length ? ` (e.g. ${skipped.at(-1)!.file}: ${skipped.at(-1)!.reason})` : ''}`,
      );
  }
  for (const p of photos) p.hash = await sha256(p.blob);
  const parts = stratifiedSplit(
    photos.map((p) => p.label),
    { valid: DEFAULT_HELD_OUT.valid, test: DEFAULT_HELD_OUT.test },
    options.seed ?? DEFAULT_SPLIT_SEED,
  );
  const split = { train: parts.train.map((i) => photos[i]!), valid: parts.valid.map((i) => photos[i]!), test: parts.test.map((i) => photos[i]!) };
  if (split.train.length === 0 || split.valid.length === 0)
    throw new ImgclassError('BAD_DATASET', `${photos.length} photos are too few to hold some out: add photos to every class`);
  const leaks = await leaksBy(
    [...split.valid, ...split.test],
    split.train,
    async (p) => p.hash,
    (p) => p.file,
  );

  // Models: onnxruntime-web with the server's backbone graph; TF.js for the head.
  onEvent({ type: 'stage', stage: 'loading' });
  const engine = await loadEngine(m, onEvent);
  const tfBackend = await startTf(m, options.tfBackend ?? 'wasm');
  const t1 = performance.now();
  aborted(signal);

  // Features of every photo and its mirror image, computed once per distinct photo.
  onEvent({ type: 'stage', stage: 'features' });
  const byHash = featureCache(m);
  const failures: TrainDeviceReport['failures'] = [];
  const rows = { train: [] as FeatureRow[], valid: [] as FeatureRow[], test: [] as FeatureRow[] };
  const kept = { train: [] as Photo[], valid: [] as Photo[], test: [] as Photo[] };
  let done = 0;
  let computed = 0;
  for (const part of ['train', 'valid', 'test'] as const) {
    for (const p of split[part]) {
      aborted(signal);
      let row = byHash.get(p.hash);
      if (!row) {
        computed++;
        // a photo the decoder refuses is counted and left out, as the CLI does; anything else is a fault
        row = await featureRow(engine, m, p.blob).catch((e: unknown) => {
          if (!isImgclassError(e)) throw e;
          return { error: e.message };
        });
        byHash.set(p.hash, row);
      }
      if ('error' in row) failures.push({ file: p.file, reason: row.error });
      else {
        rows[part].push(row);
        kept[part].push(p);
      }
      onEvent({ type: 'features', done: ++done, total: photos.length, failed: failures.length });
    }
  }
  if (rows.train.length === 0 || rows.valid.length === 0) throw new ImgclassError('BAD_DATASET', 'no readable photos left to train or validate on');
  const t2 = performance.now();

  // The head, as `imgclass train --arch head` trains it.
  onEvent({ type: 'stage', stage: 'training' });
  const unknown = calibrateUnknown(rows, null);
  const trainLabels = kept.train.map((p) => p.label);
  const counts = classes.map((_, c) => trainLabels.filter((l) => l === c).length);
  const imbalance = Math.max(...counts) / Math.max(1, Math.min(...counts));
  const classWeight =
    hp.classWeight === 'balanced' ? Object.fromEntries(counts.map((n, c) => [c, n > 0 ? trainLabels.length / (counts.length * n) : 0])) : undefined;
  const tensors = {
    xTrain: featureMatrix(rows.train, 'features'),
    yTrain: oneHot(trainLabels, classes.length),
    xValid: featureMatrix(rows.valid, 'features'),
    yValid: oneHot(
      kept.valid.map((p) => p.label),
      classes.length,
    ),
    ...(augment ? { augment: mirrorAugmenter(rows.train, 'features', seed) } : {}),
  };
  const inputDim = tensors.xTrain.shape[1]!;
  const model = featureHead({ inputDim, classes: classes.length, hidden: hp.hidden!, dropout: hp.dropout });
  const preprocessing = m.backbone.spec.preprocessing;
  const manifest: Omit<ModelManifest, 'createdAt'> = {
    format: 'imgclass-model',
    version: 1,
    backbone: m.backbone.name,
    input: 'features',
    preprocessing,
    classes,
    training: {
      name,
      arch: o.arch,
      resize: preprocessing.resize,
      optimizer: o.optimizer,
      learningRate: hp.learningRate,
      epochs,
      batchSize,
      patience: hp.patience,
      hidden: hp.hidden,
      dropout: hp.dropout,
      classWeight: classWeight ? { mode: 'balanced', weights: classWeight } : 'none',
      augment,
      seed,
      data: 'device',
    },
    ...(unknown ? { unknown } : {}),
  };
  let bestWeights: tf.Tensor[] | null = null;
  let lastState: LoopState | null = null;
  const loop = await fitEpochs(
    model,
    tensors,
    { optimizer: o.optimizer, learningRate: hp.learningRate, epochs, batchSize, patience: hp.patience, seed, classWeight },
    {
      stopRequested: () => signal?.aborted ?? false,
      onEpoch: async (metrics, improved, state) => {
        // ModelCheckpoint(save_best_only): the best epoch's weights, kept in memory
        if (improved) {
          bestWeights?.forEach((w) => w.dispose());
          bestWeights = model.getWeights().map((w) => w.clone());
        }
        lastState = state;
        onEvent({ type: 'epoch', metrics, epochs, best: improved, line: epochLine(metrics, epochs, improved) });
        // let the page paint between epochs
        await new Promise((r) => setTimeout(r, 0));
      },
    },
  );
  tf.dispose([tensors.xTrain, tensors.yTrain, tensors.xValid, tensors.yValid]);
  const state = loop.state;
  if (!state.best || !bestWeights) {
    model.dispose();
    throw new ImgclassError(
      'BAD_OPTION',
      loop.interrupted ? 'stopped before the first epoch finished; nothing to keep' : `no epoch was trained (epochs ${epochs})`,
    );
  }
  const lastArtifacts = await saveArtifacts(model);
  model.setWeights(bestWeights);
  (bestWeights as tf.Tensor[]).forEach((w) => w.dispose());
  const bestArtifacts = await saveArtifacts(model);
  const t3 = performance.now();

  // The held-out report, as `imgclass eval` scores the run's test part (flip averaging: the mean
  // of the photo's and its mirror image's features).
  onEvent({ type: 'stage', stage: 'evaluating' });
  const names = classes.map((c) => c.name);
  const probs = predictHead(model, rows.test.map(meanFeatures));
  model.dispose();
  const yTrue = kept.test.map((p) => p.label);
  const ev = evaluate(yTrue, probs, names);
  const testFiles = kept.test.map((p) => p.file);
  const unknownOnTest = unknown && rows.test.length ? rows.test.filter((r) => unknownVerdict([unknown], imagenetView(r))!.unknown).length : 0;
  const total = photos.length;
  const test: TrainDeviceReport['test'] = {
    ...ev,
    scored: {
      split: 'test',
      description: `the held-out test part of the seeded 70/15/15 split (seed ${seed}): ${kept.test.length} of ${total} photos`,
      n: ev.n,
    },
    topLosses: topLosses(yTrue, probs, testFiles, names, options.topLosses ?? 10),
    ...(unknown && rows.test.length ? { unknown: { falseUnknownRate: unknownOnTest / rows.test.length, n: rows.test.length } } : {}),
  };
  const t4 = performance.now();

  // The export: `imgclass export`'s graph, then checked on the held-out photos against the model above.
  onEvent({ type: 'stage', stage: 'exporting' });
  const modelSource = `${name}/model`;
  const built = assembleExport({
    source: [modelSource],
    backbone: { name: m.backbone.name, spec: m.backbone.spec, network: engine.backboneNetwork },
    heads: [{ network: layersNetwork(bestArtifacts), input: 'features' }],
    preprocessing,
    flip: true,
    classes,
  });
  const t45 = performance.now();
  // as `imgclass export --verify-count 50`: up to 50 held-out photos, spread over the classes
  const checked = spread(
    kept.test.map((p, i) => ({ p, want: probs[i]! })),
    options.verifyCount ?? 50,
  );
  const verification = await checkExport(
    engine,
    m,
    built.bytes,
    checked.map((c) => c.p),
    checked.map((c) => c.want),
  );
  const t5 = performance.now();

  const history = state.history;
  const createdAt = new Date().toISOString();
  const modelManifest: ModelManifest = {
    ...manifest,
    createdAt,
    metrics: { bestEpoch: state.best.epoch, valLoss: state.best.valLoss, valAccuracy: state.best.valAcc, loss: state.best.loss, accuracy: state.best.acc },
    training: { ...manifest.training, epochsRun: history.length, stoppedEarly: loop.stoppedEarly, interrupted: loop.interrupted, resumedAfter: [] },
  };
  const report: TrainDeviceReport = {
    name,
    classes: names,
    counts: { train: split.train.length, valid: split.valid.length, test: split.test.length },
    skipped,
    failures,
    leaks,
    imbalance,
    history,
    best: state.best,
    stoppedEarly: loop.stoppedEarly,
    interrupted: loop.interrupted,
    test,
    unknown,
    predictions: kept.test.map((p, i) => ({ file: p.file, label: p.label, probabilities: Array.from(probs[i]!) })),
    verification,
    tfBackend,
    ortThreads: engine.threads,
    timings: {
      loadMs: t1 - t0,
      featuresMs: t2 - t1,
      computedFeatures: computed,
      trainMs: t3 - t2,
      evalMs: t4 - t3,
      exportMs: t45 - t4,
      verifyMs: t5 - t45,
      totalMs: t5 - t0,
    },
  };
  const exportJson = { ...built.info, verification, bytes: built.bytes.byteLength };
  const config = {
    dataDir: 'device',
    runDir: name,
    arch: o.arch,
    backbone: m.backbone.name,
    input: 'features',
    optimizer: o.optimizer,
    epochs,
    batchSize,
    augment,
    seed,
    ...hp,
  };
  const dataRecord = {
    root: 'device',
    splitSource: 'stratified',
    classes,
    fingerprint: { sha256: await fingerprint(split), counts: report.counts },
    counts: report.counts,
  };
  const lastCheckpoint = lastState as LoopState | null;
  const run: Record<string, Uint8Array> = {
    'config.json': json(config),
    'data.json': json(dataRecord),
    'metrics.jsonl': enc(metricsJsonl(history)),
    'metrics.csv': enc(metricsCsv(history)),
    'state.json': json({ epoch: state.epoch, best: state.best, sinceBest: state.sinceBest }),
    ...modelFiles('model', bestArtifacts, modelManifest),
    ...modelFiles(
      'last',
      lastArtifacts,
      { ...manifest, createdAt, metrics: { epoch: state.epoch } },
      { 'checkpoint.json': JSON.stringify(lastCheckpoint ?? state) },
    ),
    'eval-test/eval.json': json({
      ...test,
      models: [modelSource],
      data: 'device',
      failures: failures.filter((f) => split.test.some((p) => p.file === f.file)),
      leaks: leaks.filter((l) => split.test.some((p) => p.file === l.file)),
      resolved: [{ given: modelSource, dir: modelSource, note: null }],
      skipped,
    }),
    'report.json': json(report),
  };
  return { report, onnx: built.bytes, exportJson, run };
}

/** Try it's answer, as the server's `POST /api/train/runs/:id/classify` gives it. */
export interface DeviceClassification {
  /** The most probable classes, best first. */
  top: ClassProbability[];
  /** The run's "unknown" answer, when it has a calibration. */
  unknown?: UnknownVerdict;
  /** `unknown` when the photo is none of the classes, else the top class. */
  label: string;
  timings: { modelMs: number; totalMs: number };
}

export interface ClassifyOnDeviceOptions {
  manifest: TrainDeviceManifest;
  /** Classes listed (default 5, as the server's Try it). */
  topK?: number;
  tfBackend?: TfBackendName;
}

/** The head Try it last loaded, by the run files it came from (one kept, as the server keeps one). */
let triedHead: { run: Record<string, Uint8Array>; head: Promise<{ model: tfl.LayersModel; manifest: ModelManifest }> } | null = null;

/**
 * Try it on this device: a run's model (its `model/` files, as `trainOnDevice` returned them) on
 * a new photo, in this tab: the photo is fitted, its features and its mirror image's computed by
 * the backbone on onnxruntime-web, averaged, and the head runs on TF.js, exactly as the held-out
 * report scored the test photos. Nothing is uploaded.
 */
export async function classifyOnDevice(result: Pick<TrainDeviceResult, 'run'>, options: ClassifyOnDeviceOptions, photo: Blob): Promise<DeviceClassification> {
  const t0 = performance.now();
  const m = options.manifest;
  const engine = await loadEngine(m, () => {});
  await startTf(m, options.tfBackend ?? 'wasm');
  if (triedHead?.run !== result.run) {
    const previous = triedHead;
    const head = readModelFiles(result.run, 'model');
    triedHead = { run: result.run, head };
    head.catch(() => (triedHead = null));
    void previous?.head.then((h) => h.model.dispose()).catch(() => {});
  }
  const { model, manifest } = await triedHead!.head;
  const t1 = performance.now();
  const row = await featureRow(engine, m, photo);
  const probabilities = predictHead(model, [meanFeatures(row)])[0]!;
  // the server's unknown hook (image-classification.ts): the manifest's calibration on the ImageNet view
  const unknown = unknownVerdict(calibrationsOf({ manifest }), imagenetView(row)) ?? undefined;
  const top = topK(probabilities, manifest.classes, options.topK ?? 5);
  const t2 = performance.now();
  return {
    top,
    ...(unknown ? { unknown } : {}),
    label: unknown?.unknown ? 'unknown' : top[0]!.name,
    timings: { modelMs: t2 - t1, totalMs: t2 - t0 },
  };
}

/** n items spread evenly over the list (every class of a list in class order). */
function spread<T>(list: T[], n: number): T[] {
  if (list.length <= n) return list;
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]!);
}

/** A photo's name as the page gave it: its path inside a dropped folder, else its file name. */
function fileName(blob: Blob, i: number): string {
  const f = blob as Partial<File>;
  return f.webkitRelativePath || f.name || `photo-${String(i + 1).padStart(4, '0')}`;
}

async function sha256(blob: Blob): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Which photos (by name and content) make up each part: data.json's fingerprint. */
async function fingerprint(split: Record<'train' | 'valid' | 'test', Photo[]>): Promise<string> {
  const lines = (['train', 'valid', 'test'] as const).flatMap((s) => split[s].map((p) => `${s}\t${p.label}\t${p.file}\t${p.hash}\n`)).join('');
  const d = await crypto.subtle.digest('SHA-256', enc(lines));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0'))
    .join('')
    .slice(0, 16);
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function loadEngine(m: TrainDeviceManifest, onEvent: (e: TrainDeviceEvent) => void): Promise<Engine> {
  const key = m.backbone.graph.url;
  if (engineFor?.key !== key) {
    const engine = (async () => {
      const s = m.backbone.source;
      const assets = [m.ort.wasm, m.backbone.graph, ...(s.kind === 'layers' ? [s.model, s.weights] : [s.file])];
      const total = assets.reduce((n, a) => n + a.bytes, 0);
      let loaded = 0;
      const [wasm, graph, a, b] = await Promise.all(
        assets.map(async (x) => {
          const bytes = await fetchBytes(x.url);
          loaded += bytes.length;
          onEvent({ type: 'load', loaded, total });
          return bytes;
        }),
      );
      const { ort, threads } = await startOrtWeb(m.ort, wasm!);
      const backbone = await ort.InferenceSession.create(graph!, ORT_WEB_SESSION);
      let backboneNetwork: BackboneNetwork;
      if (s.kind === 'layers') {
        const modelJson = JSON.parse(new TextDecoder().decode(a!)) as { modelTopology: unknown; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
        const weights = decodeWeights({
          weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
          weightData: b!.buffer.slice(b!.byteOffset, b!.byteOffset + b!.byteLength) as ArrayBuffer,
        });
        backboneNetwork = { kind: 'layers', network: { topology: modelJson.modelTopology, weights } };
      } else backboneNetwork = { kind: s.kind, bytes: a! };
      return { ort, threads, backbone, backboneNetwork };
    })();
    engineFor = { key, engine };
    engine.catch(() => (engineFor = null));
  }
  return engineFor!.engine;
}

/** TF.js on the chosen backend (its wasm binaries from the server, single-threaded). */
async function startTf(m: TrainDeviceManifest, want: TfBackendName): Promise<string> {
  if (want === 'wasm') {
    // The threaded build needs a worker script of its own; a head this small gains nothing from it.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    try {
      setWasmPaths(m.tfjsWasm);
    } catch {
      /* already started: the paths were set then */
    }
  }
  await initTf(want);
  if (tf.getBackend() !== want) await tf.setBackend(want);
  return tf.getBackend();
}

/** A photo fitted to the backbone's input, as device mode fits it (the pure resize that reproduces sharp). */
export async function fitForBackbone(m: TrainDeviceManifest, blob: Blob): Promise<RgbImage> {
  const p = m.backbone.spec.preprocessing;
  return resizeLike(await decodeInBrowser(blob, m.limits), p.width, p.height, p.resize, 'linear');
}

/** bottleneck.ts's row for one photo: the backbone on the fitted photo and on its mirror image. */
async function featureRow(engine: Engine, m: TrainDeviceManifest, blob: Blob): Promise<FeatureRow> {
  const views = viewsOf([await fitForBackbone(m, blob)], true);
  const free = m.backbone.spec.preprocessing.resize === 'keep-aspect';
  const outs: { features: Float32Array; probabilities: Float32Array }[] = [];
  for (const batch of free ? views.map((v) => [v]) : [views]) {
    const { data, dims } = packPixels(batch);
    const res = await engine.backbone.run({ [BACKBONE_TENSORS.pixels]: new engine.ort.Tensor('uint8', data, dims) });
    const f = (await res[BACKBONE_TENSORS.features]!.getData()) as Float32Array;
    const pr = (await res[BACKBONE_TENSORS.probabilities]!.getData()) as Float32Array;
    const nf = f.length / batch.length;
    const np = pr.length / batch.length;
    batch.forEach((_, j) => outs.push({ features: f.slice(j * nf, (j + 1) * nf), probabilities: pr.slice(j * np, (j + 1) * np) }));
  }
  return { features: outs[0]!.features, probabilities: outs[0]!.probabilities, flipFeatures: outs[1]!.features, flipProbabilities: outs[1]!.probabilities };
}

/** The unit's flip averaging: the mean of a photo's and its mirror image's features. */
function meanFeatures(r: FeatureRow): Float32Array {
  const out = new Float32Array(r.features.length);
  for (let i = 0; i < out.length; i++) out[i] = (r.features[i]! + r.flipFeatures[i]!) / 2;
  return out;
}

function predictHead(model: tfl.LayersModel, inputs: Float32Array[]): Float32Array[] {
  if (inputs.length === 0) return [];
  const dim = inputs[0]!.length;
  const x = new Float32Array(inputs.length * dim);
  inputs.forEach((v, i) => x.set(v, i * dim));
  const out = tf.tidy(() => model.predict(tf.tensor2d(x, [inputs.length, dim])) as tf.Tensor);
  const p = out.dataSync() as Float32Array;
  out.dispose();
  const k = p.length / inputs.length;
  return inputs.map((_, i) => p.slice(i * k, (i + 1) * k));
}

async function saveArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return saved!;
}

function layersNetwork(a: tf.io.ModelArtifacts): LayersNetwork {
  const bytes = weightBytes(a);
  return { topology: a.modelTopology, weights: decodeWeights({ weightSpecs: a.weightSpecs ?? [], weightData: bytes.buffer as ArrayBuffer }) };
}

/** A model directory's files (model-dir.ts's format: manifest.json, model.json, weights.bin). */
function modelFiles(dir: string, a: tf.io.ModelArtifacts, manifest: ModelManifest, extra: Record<string, string> = {}): Record<string, Uint8Array> {
  return {
    [`${dir}/weights.bin`]: weightBytes(a),
    [`${dir}/model.json`]: enc(layersModelJson(a)),
    [`${dir}/manifest.json`]: json(manifest),
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`${dir}/${k}`, enc(v)])),
  };
}

/** A model directory's files (`modelFiles`' output) loaded back: the network on TF.js and its manifest. */
async function readModelFiles(run: Record<string, Uint8Array>, dir: string): Promise<{ model: tfl.LayersModel; manifest: ModelManifest }> {
  const file = (name: string) => {
    const bytes = run[`${dir}/${name}`];
    if (!bytes) throw new ImgclassError('MODEL_NOT_FOUND', `the run has no ${dir}/${name}: train it first`);
    return bytes;
  };
  const read = (name: string) => JSON.parse(new TextDecoder().decode(file(name))) as unknown;
  const manifest = read('manifest.json') as ModelManifest;
  const modelJson = read('model.json') as {
    modelTopology: tf.io.ModelArtifacts['modelTopology'];
    weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[];
  };
  const weights = file('weights.bin');
  const model = await tfl.loadLayersModel({
    load: async () => ({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    }),
  });
  return { model, manifest };
}

/** The exported file on this device's onnxruntime, on the held-out photos, against the report's answers. */
async function checkExport(engine: Engine, m: TrainDeviceManifest, bytes: Uint8Array, photos: Photo[], want: Float32Array[]): Promise<ExportCheck> {
  const session = await engine.ort.InferenceSession.create(bytes, ORT_WEB_SESSION);
  let maxAbs = 0;
  let sumAbs = 0;
  let count = 0;
  let agree = 0;
  try {
    for (const [i, p] of photos.entries()) {
      const fitted = await fitForBackbone(m, p.blob);
      const out = await session.run({ [EXPORT_INPUT]: new engine.ort.Tensor('float32', Float32Array.from(fitted.data), [1, fitted.height, fitted.width, 3]) });
      const got = (await out[EXPORT_OUTPUT]!.getData()) as Float32Array;
      for (let j = 0; j < got.length; j++) {
        const d = Math.abs(got[j]! - want[i]![j]!);
        maxAbs = Math.max(maxAbs, d);
        sumAbs += d;
        count++;
      }
      if (argmax(got) === argmax(want[i]!)) agree++;
    }
  } finally {
    void session.release();
  }
  return {
    n: photos.length,
    reference: 'device-model',
    maxAbsDiff: maxAbs,
    meanAbsDiff: count ? sumAbs / count : 0,
    top1Agreement: photos.length ? agree / photos.length : 0,
    photos: `${photos.length} held-out test photos`,
  };
}
