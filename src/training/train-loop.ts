import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../runtime/tf.js';
import type { EpochMetrics } from './epoch-metrics.js';
export { epochLine } from './epoch-metrics.js';
import { makeOptimizer, type OptimizerName } from './architectures.js';

/**
 * The Keras-style epoch loop with early stopping, host-neutral: the command line (train.ts, which
 * persists every epoch to a run directory) and the browser's device-mode training
 * (web/train-device.ts, which keeps the run in memory) both fit through `fitEpochs`. Persistence,
 * progress and how a stop is asked for are the host's hooks.
 */
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

/** Where a run stands after a committed epoch (what checkpoint.json records). */
export interface LoopState {
  epoch: number;
  best: EpochMetrics | null;
  sinceBest: number;
  history: EpochMetrics[];
  resumes?: number[];
}

export interface LoopHooks {
  /** Where a resumed run starts (its committed state) and the validation loss its kept model has. */
  start?: { state: LoopState; bestValLoss: number };
  /** After each finished epoch, before the next starts: persist (improved: the model now holds a new best). */
  onEpoch(m: EpochMetrics, improved: boolean, state: LoopState): Promise<void>;
  onBatchEnd?(): void;
  /** Polled after every batch: true asks the loop to stop; the unfinished epoch is dropped. */
  stopRequested(): boolean;
}

export interface LoopResult {
  state: LoopState;
  stoppedEarly: boolean;
  interrupted: boolean;
  resumedFrom: number;
  resumes: number[];
  seconds: number;
}

export async function fitEpochs(model: tfl.LayersModel, data: TrainTensors, cfg: TrainConfig, hooks: LoopHooks): Promise<LoopResult> {
  const point = hooks.start;
  let state: LoopState = point
    ? { ...point.state, history: [...point.state.history], resumes: point.state.resumes ?? [] }
    : { epoch: 0, best: null, sinceBest: 0, history: [] };
  // what a new best must beat: the kept model, which a kill may have left one epoch ahead of last/
  let bestValLoss = point?.bestValLoss ?? Infinity;
  const resumedFrom = state.epoch;
  const resumes = [...(state.resumes ?? []), ...(resumedFrom > 0 ? [resumedFrom] : [])];
  model.compile({ optimizer: makeOptimizer(cfg.optimizer, cfg.learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const t0 = performance.now();
  let interrupted = false;
  let stoppedEarly = Boolean(cfg.patience && state.sinceBest >= cfg.patience);
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
          hooks.onBatchEnd?.();
          if (hooks.stopRequested()) {
            interrupted = true;
            model.stopTraining = true;
          }
        },
      },
    });
    if (x !== data.xTrain) x.dispose();
    if (interrupted || hooks.stopRequested()) {
      interrupted = true;
      break;
    }
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
      bestValLoss = m.valLoss;
      state = { epoch, best: m, sinceBest: 0, history, resumes };
    } else {
      state = { ...state, epoch, sinceBest: state.sinceBest + 1, history, resumes };
    }
    await hooks.onEpoch(m, improved, state);
    if (cfg.patience && state.sinceBest >= cfg.patience) stoppedEarly = true;
  }
  return { state, stoppedEarly, interrupted, resumedFrom, resumes, seconds: (performance.now() - t0) / 1000 };
}

/** metrics.csv of a run: one row per committed epoch. */
export function metricsCsv(history: EpochMetrics[]): string {
  return (
    ['epoch,loss,acc,val_loss,val_acc,seconds', ...history.map((h) => [h.epoch, h.loss, h.acc, h.valLoss, h.valAcc, h.seconds ?? ''].join(','))].join('\n') +
    '\n'
  );
}

/** metrics.jsonl of a run: one JSON line per committed epoch. */
export function metricsJsonl(history: EpochMetrics[]): string {
  return history.map((h) => JSON.stringify(h) + '\n').join('');
}

/** One-hot labels as a tensor. */
export function oneHot(labels: number[], classes: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D);
}

function round(x: number, digits: number): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}

function num(v: (number | tf.Tensor)[] | undefined): number {
  const x = v?.[0];
  return typeof x === 'number' ? x : x ? (x.dataSync()[0] ?? NaN) : NaN;
}
