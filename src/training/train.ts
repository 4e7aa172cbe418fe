import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../runtime/tf.js';
import { saveModelDir, type ModelManifest } from '../models/model-dir.js';
import { renderChart, trainingCurvesSpec } from '../util/charts.js';
import type { EpochMetrics } from './epoch-metrics.js';
import { recoverDir, removeStaleTempFiles, writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { onInterrupt } from '../util/interrupt.js';
import { progress } from '../util/progress.js';
import { makeOptimizer, type OptimizerName } from './architectures.js';
import { CHECKPOINT_FILE, type Checkpoint, type ResumePoint } from './resume.js';

export interface TrainConfig {
  optimizer: OptimizerName;
  learningRate?: number;
  epochs: number;
  batchSize: number;
  /** Stop after this many epochs without a better validation loss (0 = never). */
  patience?: number;
  seed?: number;
  /** Keras' class_weight: each class's weight in the loss (e.g. balanced: n / (k · n_class)). */
  classWeight?: Record<number, number>;
}

export interface TrainTensors {
  xTrain: tf.Tensor;
  yTrain: tf.Tensor;
  xValid: tf.Tensor;
  yValid: tf.Tensor;
  /** Training inputs for one epoch (augmentation); the caller's tensor is disposed by the loop. */
  augment?: (epoch: number) => tf.Tensor;
}

export interface TrainResult {
  history: EpochMetrics[];
  best: EpochMetrics;
  stoppedEarly: boolean;
  resumedFrom: number;
  seconds: number;
  /** Ctrl-C stopped the run after `history`'s last epoch (the unfinished epoch is dropped). */
  interrupted: boolean;
  /** Epochs after which this run was resumed, oldest first (marked on the curves). */
  resumes: number[];
}

/**
 * Keras-style fit with the seed's ModelCheckpoint(save_best_only=True), plus what a killed run
 * needs. After every epoch, in this order: `model/` (only when the validation loss beats the best
 * model's), then the commit point `last/` (the latest weights and checkpoint.json, in one atomic
 * directory swap), then the views `metrics.jsonl` and `state.json`. A kill at any moment leaves
 * the last committed epoch and a loadable best model; `resume` (read and checked by resume.ts,
 * weights already loaded into `model`) continues after its epoch; optimiser moments restart from zero.
 */
export async function trainModel(
  model: tfl.LayersModel,
  data: TrainTensors,
  cfg: TrainConfig,
  runDir: string,
  manifest: Omit<ModelManifest, 'createdAt'>,
  opts: { resume?: ResumePoint; quiet?: boolean } = {},
): Promise<TrainResult> {
  await mkdir(runDir, { recursive: true });
  // only this process writes here now: put back a checkpoint swap a kill cut short, drop half-built copies
  await recoverDir(path.join(runDir, 'model'));
  await recoverDir(path.join(runDir, 'last'));
  await removeStaleTempFiles(runDir);
  const point = opts.resume;
  let state: Checkpoint = point
    ? { epoch: point.epoch, best: point.best, sinceBest: point.sinceBest, history: [...point.history], resumes: point.resumes ?? [] }
    : { epoch: 0, best: null, sinceBest: 0, history: [] };
  // what a new best must beat: the model in model/, which a kill may have left one epoch ahead of last/
  let bestValLoss = point?.bestValLoss ?? Infinity;
  const resumedFrom = state.epoch;
  const resumes = [...(state.resumes ?? []), ...(resumedFrom > 0 ? [resumedFrom] : [])];
  model.compile({ optimizer: makeOptimizer(cfg.optimizer, cfg.learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const t0 = performance.now();
  const nTrain = data.xTrain.shape[0]!;
  const bar = opts.quiet ? null : progress('train', Math.max(0, cfg.epochs - resumedFrom) * Math.ceil(nTrain / cfg.batchSize), 'batch');
  // Ctrl-C: finish the current batch, drop the unfinished epoch, keep every committed one.
  let interrupted = false;
  const unregister = onInterrupt(() => {
    interrupted = true;
    model.stopTraining = true;
  });
  let stoppedEarly = Boolean(cfg.patience && state.sinceBest >= cfg.patience);
  try {
    for (let epoch = resumedFrom + 1; epoch <= cfg.epochs && !stoppedEarly && !interrupted; epoch++) {
      const te = performance.now();
      const x = data.augment ? data.augment(epoch) : data.xTrain;
      const h = await model.fit(x, data.yTrain, {
        epochs: 1,
        batchSize: cfg.batchSize,
        shuffle: true,
        validationData: [data.xValid, data.yValid],
        verbose: 0,
        classWeight: cfg.classWeight,
        callbacks: {
          onBatchEnd: async () => {
            bar?.tick();
            if (interrupted) model.stopTraining = true;
          },
        },
      });
      if (x !== data.xTrain) x.dispose();
      if (interrupted) break;
      const m: EpochMetrics = {
        epoch,
        loss: num(h.history.loss),
        acc: num(h.history.acc),
        valLoss: num(h.history.val_loss),
        valAcc: num(h.history.val_acc),
        seconds: round((performance.now() - te) / 1000, 3),
      };
      const history = [...state.history, m];
      const improved = m.valLoss < bestValLoss;
      if (improved) {
        await saveModelDir(path.join(runDir, 'model'), model, {
          ...manifest,
          createdAt: new Date().toISOString(),
          metrics: { bestEpoch: epoch, valLoss: m.valLoss, valAccuracy: m.valAcc, loss: m.loss, accuracy: m.acc },
        });
        bestValLoss = m.valLoss;
        state = { epoch, best: m, sinceBest: 0, history, resumes };
      } else {
        state = { ...state, epoch, sinceBest: state.sinceBest + 1, history, resumes };
      }
      await saveModelDir(
        path.join(runDir, 'last'),
        model,
        { ...manifest, createdAt: new Date().toISOString(), metrics: { epoch } },
        { [CHECKPOINT_FILE]: JSON.stringify(state) },
      );
      await writeViews(runDir, state);
      bar?.log(epochLine(m, cfg.epochs, improved));
      if (cfg.patience && state.sinceBest >= cfg.patience) stoppedEarly = true;
    }
  } finally {
    unregister();
    bar?.stop();
  }
  if (!state.best)
    throw new ImgclassError(
      'BAD_OPTION',
      interrupted ? 'stopped before the first epoch finished; nothing to keep' : `no epoch was trained (--epochs ${cfg.epochs})`,
    );
  // metrics.jsonl may still hold epochs of a killed attempt that were never committed: rewrite it
  await writeViews(runDir, state);
  await writeRunArtifacts(runDir, state.history, manifest.training?.name as string | undefined, { bestEpoch: state.best.epoch, resumes });
  return { history: state.history, best: state.best, stoppedEarly, resumedFrom, seconds: (performance.now() - t0) / 1000, interrupted, resumes };
}

/** metrics.jsonl and state.json, rewritten whole from the committed checkpoint (never appended to). */
async function writeViews(runDir: string, s: Checkpoint): Promise<void> {
  await writeFileAtomic(path.join(runDir, 'metrics.jsonl'), s.history.map((h) => JSON.stringify(h) + '\n').join(''));
  await writeFileAtomic(path.join(runDir, 'state.json'), JSON.stringify({ epoch: s.epoch, best: s.best, sinceBest: s.sinceBest }, null, 2));
}

/** Keras' per-epoch line: `Epoch 7/30  loss 0.3121  acc 0.9038  val_loss 0.2514  val_acc 0.9318  0.4s  * best`. */
export function epochLine(m: EpochMetrics, epochs: number, best: boolean): string {
  const w = String(epochs).length;
  return (
    `Epoch ${String(m.epoch).padStart(w)}/${epochs}  loss ${m.loss.toFixed(4)}  acc ${m.acc.toFixed(4)}  ` +
    `val_loss ${m.valLoss.toFixed(4)}  val_acc ${m.valAcc.toFixed(4)}  ${(m.seconds ?? 0).toFixed(1)}s${best ? '  * best' : ''}`
  );
}

async function writeRunArtifacts(runDir: string, history: EpochMetrics[], name: string | undefined, marks: { bestEpoch?: number; resumes: number[] }) {
  const csv =
    ['epoch,loss,acc,val_loss,val_acc,seconds', ...history.map((h) => [h.epoch, h.loss, h.acc, h.valLoss, h.valAcc, h.seconds ?? ''].join(','))].join('\n') +
    '\n';
  await writeFileAtomic(path.join(runDir, 'metrics.csv'), csv);
  if (history.length > 0) await renderChart(trainingCurvesSpec(history, name ?? path.basename(runDir), marks), path.join(runDir, 'curves'));
}

function round(x: number, digits: number): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}

function num(v: (number | tf.Tensor)[] | undefined): number {
  const x = v?.[0];
  return typeof x === 'number' ? x : x ? (x.dataSync()[0] ?? NaN) : NaN;
}

/** One-hot labels as a tensor. */
export function oneHot(labels: number[], classes: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D);
}
