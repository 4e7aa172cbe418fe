import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { EpochMetrics } from './epoch-metrics.js';
import type { ClassInfo } from '../models/model-dir.js';
import { readManifest } from '../models/model-dir.js';
import { settledDir } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';

/**
 * What `--resume` may rely on, read and checked before anything in the run directory is written.
 *
 * A run directory's commit point is `last/`: after each finished epoch the trainer swaps in, in one
 * atomic directory rename, the latest weights together with `checkpoint.json` (the epoch, the best
 * epoch so far and the whole metric history). `model/` (the best model) is swapped in just before,
 * so after a kill it may be one epoch ahead of `last/`: its validation loss, not the checkpoint's,
 * is the bar a new best must beat, so a resumed run never replaces a better model with a worse one.
 * `metrics.jsonl`, `metrics.csv` and `state.json` are views rewritten from the checkpoint.
 */
export const CHECKPOINT_FILE = 'checkpoint.json';

export interface Checkpoint {
  /** Last finished epoch (0: none yet). */
  epoch: number;
  best: EpochMetrics | null;
  sinceBest: number;
  history: EpochMetrics[];
  /** Epochs after which the run was resumed (marked on the curves). */
  resumes?: number[];
}

export interface ResumePoint extends Checkpoint {
  /** The weights after `epoch` (null when no epoch finished). */
  lastDir: string | null;
  /** Validation loss of the model in `model/` (Infinity when there is none): what a new best must beat. */
  bestValLoss: number;
}

/** What data.json records about the data a run trained on. */
export interface SavedData {
  classes: ClassInfo[];
  fingerprint: { sha256: string };
  counts: { train: number; valid: number; test: number };
}

export interface SavedRun {
  /** config.json: the run's training options. */
  config: Record<string, unknown>;
  /** data.json, when the run got as far as writing it. */
  data: SavedData | null;
  point: ResumePoint;
}

/** Options that decide what is trained: given again with --resume, they must equal the run's. */
export const FIXED_OPTIONS = [
  'arch',
  'backbone',
  'input',
  'optimizer',
  'learningRate',
  'batchSize',
  'patience',
  'hidden',
  'dropout',
  'size',
  'resize',
  'validFromTrain',
  'augment',
  'seed',
] as const;
const REQUIRED_CONFIG = ['arch', 'optimizer', 'batchSize', 'epochs'] as const;

const notARun = (dir: string, why: string) => new ImgclassError('BAD_RUN', `cannot resume ${dir}: ${why}`);

/** Read and check a run directory for resuming; throws BAD_RUN naming what is missing or damaged. */
export async function readRunForResume(runDir: string): Promise<SavedRun> {
  const st = await stat(runDir).catch(() => null);
  if (!st) throw notARun(runDir, 'no such directory (start a new run with --out)');
  if (!st.isDirectory()) throw notARun(runDir, 'not a directory');
  const config = await readJson(runDir, 'config.json');
  if (config === undefined) throw notARun(runDir, `it is not a training run (no config.json)${await whatItIs(runDir)}`);
  if (!isObject(config)) throw notARun(runDir, 'config.json is not a JSON object');
  const missing = REQUIRED_CONFIG.filter((k) => config[k] === undefined);
  if (missing.length) throw notARun(runDir, `config.json lacks ${missing.join(', ')}`);
  const point = await readPoint(runDir);
  const data = await readJson(runDir, 'data.json');
  if (data === undefined && (point.epoch > 0 || point.bestValLoss < Infinity))
    throw notARun(runDir, 'data.json is missing, so the data it trained on cannot be checked');
  if (data !== undefined && !isSavedData(data)) throw notARun(runDir, 'data.json is damaged (no classes, fingerprint or counts)');
  return { config, data: (data as SavedData | undefined) ?? null, point };
}

async function readPoint(runDir: string): Promise<ResumePoint> {
  const lastDir = await settledDir(path.join(runDir, 'last'));
  let cp = await readJson(lastDir, CHECKPOINT_FILE);
  if (cp === undefined) cp = await legacyCheckpoint(runDir);
  const checkpoint: Checkpoint = cp === undefined ? { epoch: 0, best: null, sinceBest: 0, history: [] } : validCheckpoint(runDir, cp);
  if (checkpoint.epoch > 0) {
    await readManifest(lastDir).catch((e: Error) => {
      throw notARun(runDir, `its last checkpoint (last/) is damaged: ${e.message}`);
    });
  }
  const modelDir = path.join(runDir, 'model');
  let best = checkpoint.best;
  const hasModel = await stat(await settledDir(modelDir)).then(
    () => true,
    () => false,
  );
  if (hasModel) {
    const m = await readManifest(modelDir).catch((e: Error) => {
      throw notARun(runDir, `its best model (model/) is damaged: ${e.message}; move it away to resume`);
    });
    const mm = (m.metrics ?? {}) as { bestEpoch?: number; valLoss?: number; valAccuracy?: number; loss?: number; accuracy?: number };
    // model/ is swapped in before last/: after a kill it can hold a better epoch than the checkpoint knows
    if (typeof mm.valLoss === 'number' && (!best || mm.valLoss < best.valLoss))
      best = { epoch: mm.bestEpoch ?? 0, loss: mm.loss ?? NaN, acc: mm.accuracy ?? NaN, valLoss: mm.valLoss, valAcc: mm.valAccuracy ?? NaN };
  }
  return { ...checkpoint, best, lastDir: checkpoint.epoch > 0 ? lastDir : null, bestValLoss: best?.valLoss ?? Infinity };
}

/** Runs written before checkpoint.json: state.json plus the first `epoch` lines of metrics.jsonl. */
async function legacyCheckpoint(runDir: string): Promise<unknown> {
  const state = await readJson(runDir, 'state.json');
  if (!isObject(state) || typeof state.epoch !== 'number') return state === undefined ? undefined : { broken: true };
  const lines = (await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  try {
    return { ...state, history: lines.map((l) => JSON.parse(l)).slice(0, state.epoch) };
  } catch {
    return { broken: true };
  }
}

function validCheckpoint(runDir: string, cp: unknown): Checkpoint {
  const c = cp as Partial<Checkpoint>;
  const ok =
    isObject(cp) &&
    Number.isInteger(c.epoch) &&
    c.epoch! >= 0 &&
    Array.isArray(c.history) &&
    c.history.length === c.epoch &&
    c.history.every((h, i) => isObject(h) && h.epoch === i + 1 && typeof h.valLoss === 'number') &&
    (c.best === null || (isObject(c.best) && typeof c.best.valLoss === 'number'));
  if (!ok) throw notARun(runDir, 'its checkpoint state is damaged (epochs and metric history disagree)');
  const resumes = Array.isArray(c.resumes) ? c.resumes.filter((e) => Number.isInteger(e)) : [];
  return { epoch: c.epoch!, best: c.best ?? null, sinceBest: Number.isInteger(c.sinceBest) ? c.sinceBest! : 0, history: c.history!, resumes };
}

/**
 * The run's options with those given now: the saved ones win; a FIXED option given with a
 * different value is refused, never silently ignored; `epochs` may be raised (train longer).
 */
export function resumeOptions<T extends object>(runDir: string, saved: Record<string, unknown>, givenOptions: object, finished: number): T {
  const given = givenOptions as Record<string, unknown>;
  const conflicts = FIXED_OPTIONS.filter((k) => given[k] !== undefined && JSON.stringify(given[k]) !== JSON.stringify(saved[k])).map(
    (k) => `${flag(k)} ${String(given[k])} (the run has ${saved[k] === undefined ? 'the default' : String(saved[k])})`,
  );
  if (conflicts.length)
    throw new ImgclassError(
      'BAD_OPTION',
      `cannot resume ${runDir} with different options: ${conflicts.join('; ')}. Leave them out to continue the run as it was, or start a new run with --out`,
    );
  const epochs = (given.epochs as number | undefined) ?? (saved.epochs as number);
  if (epochs < finished) throw new ImgclassError('BAD_OPTION', `cannot resume ${runDir} with --epochs ${epochs}: it already finished ${finished} epochs`);
  return { ...saved, epochs } as unknown as T;
}

/** Refuse a data set that is not the one the run trained on (classes, split sizes, files). */
export function checkSameData(runDir: string, dataDir: string, saved: SavedData, now: SavedData): void {
  const names = (cs: ClassInfo[]) => cs.map((c) => c.name).join(', ');
  if (names(saved.classes) !== names(now.classes))
    throw new ImgclassError(
      'BAD_DATASET',
      `cannot resume ${runDir} on ${dataDir}: its classes differ (the run has ${names(saved.classes)}; ${dataDir} has ${names(now.classes)})`,
    );
  const c = (x: SavedData['counts']) => `${x.train}/${x.valid}/${x.test}`;
  if (c(saved.counts) !== c(now.counts))
    throw new ImgclassError(
      'BAD_DATASET',
      `cannot resume ${runDir} on ${dataDir}: the train/valid/test split differs (the run has ${c(saved.counts)} images, now ${c(now.counts)})`,
    );
  if (saved.fingerprint.sha256 !== now.fingerprint.sha256)
    throw new ImgclassError(
      'BAD_DATASET',
      `cannot resume ${runDir} on ${dataDir}: the files differ from the ones the run trained on (data fingerprint ` +
        `${saved.fingerprint.sha256}, now ${now.fingerprint.sha256})`,
    );
}

const FLAGS: Record<string, string> = {
  learningRate: '--lr',
  batchSize: '--batch-size',
  validFromTrain: '--valid-from-train',
  augment: '--augment/--no-augment',
};
const flag = (k: string) => FLAGS[k] ?? `--${k}`;

async function whatItIs(dir: string): Promise<string> {
  const has = (f: string) =>
    stat(path.join(dir, f)).then(
      () => true,
      () => false,
    );
  if ((await has('kfold.json')) || (await has('fold-1'))) return '; it is a k-fold directory, whose folds cannot be resumed one by one';
  if (await has('sweep.json')) return '; it is a sweep directory';
  if (await has('explore.json')) return '; it is an explore report';
  if (await has('manifest.json')) return '; it is a model directory';
  return '';
}

/** Parsed JSON; undefined when the file does not exist; BAD_RUN when it is not JSON. */
async function readJson(dir: string, name: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path.join(dir, name), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw notARun(path.dirname(path.join(dir, name)), `${name} is damaged (not JSON)`);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isSavedData(x: unknown): x is SavedData {
  return isObject(x) && Array.isArray(x.classes) && isObject(x.fingerprint) && typeof x.fingerprint.sha256 === 'string' && isObject(x.counts);
}
