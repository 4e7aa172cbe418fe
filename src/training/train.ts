import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { saveModelDir, type ModelManifest } from '../models/model-dir.js';
import { renderChart, trainingCurvesSpec } from '../util/charts.js';
import type { EpochMetrics } from './epoch-metrics.js';

export { epochLine, oneHot, type TrainConfig, type TrainTensors } from './train-loop.js';
import { recoverDir, removeStaleTempFiles, writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { onInterrupt } from '../util/interrupt.js';
import { progress } from '../util/progress.js';
import { epochLine } from './epoch-metrics.js';
import { fitEpochs, metricsCsv, metricsJsonl, type TrainConfig, type TrainTensors } from './train-loop.js';
import { CHECKPOINT_FILE, type Checkpoint, type ResumePoint } from './resume.js';

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
  const bar = opts.quiet ? null : progress('train', Math.max(0, cfg.epochs - (point?.epoch ?? 0)) * Math.ceil(data.xTrain.shape[0]! / cfg.batchSize), 'batch');
  // Ctrl-C: finish the current batch, drop the unfinished epoch, keep every committed one.
  let interrupted = false;
  const unregister = onInterrupt(() => {
    interrupted = true;
  });
  let loop: Awaited<ReturnType<typeof fitEpochs>>;
  try {
    loop = await fitEpochs(model, data, cfg, {
      start: point
        ? {
            state: { epoch: point.epoch, best: point.best, sinceBest: point.sinceBest, history: point.history, resumes: point.resumes ?? [] },
            bestValLoss: point.bestValLoss,
          }
        : undefined,
      stopRequested: () => interrupted,
      onBatchEnd: () => bar?.tick(),
      onEpoch: async (m, improved, state) => {
        if (improved) {
          await saveModelDir(path.join(runDir, 'model'), model, {
            ...manifest,
            createdAt: new Date().toISOString(),
            metrics: { bestEpoch: m.epoch, valLoss: m.valLoss, valAccuracy: m.valAcc, loss: m.loss, accuracy: m.acc },
          });
        }
        await saveModelDir(
          path.join(runDir, 'last'),
          model,
          { ...manifest, createdAt: new Date().toISOString(), metrics: { epoch: m.epoch } },
          { [CHECKPOINT_FILE]: JSON.stringify(state) },
        );
        await writeViews(runDir, state);
        bar?.log(epochLine(m, cfg.epochs, improved));
      },
    });
  } finally {
    unregister();
    bar?.stop();
  }
  const { state, stoppedEarly, resumedFrom, resumes } = loop;
  interrupted = loop.interrupted;
  if (!state.best)
    throw new ImgclassError(
      'BAD_OPTION',
      interrupted ? 'stopped before the first epoch finished; nothing to keep' : `no epoch was trained (--epochs ${cfg.epochs})`,
    );
  // metrics.jsonl may still hold epochs of a killed attempt that were never committed: rewrite it
  await writeViews(runDir, state);
  await writeRunArtifacts(runDir, state.history, manifest.training?.name as string | undefined, { bestEpoch: state.best.epoch, resumes });
  return { history: state.history, best: state.best, stoppedEarly, resumedFrom, seconds: loop.seconds, interrupted, resumes };
}

/** metrics.jsonl and state.json, rewritten whole from the committed checkpoint (never appended to). */
async function writeViews(runDir: string, s: Checkpoint): Promise<void> {
  await writeFileAtomic(path.join(runDir, 'metrics.jsonl'), metricsJsonl(s.history));
  await writeFileAtomic(path.join(runDir, 'state.json'), JSON.stringify({ epoch: s.epoch, best: s.best, sinceBest: s.sinceBest }, null, 2));
}

async function writeRunArtifacts(runDir: string, history: EpochMetrics[], name: string | undefined, marks: { bestEpoch?: number; resumes: number[] }) {
  await writeFileAtomic(path.join(runDir, 'metrics.csv'), metricsCsv(history));
  if (history.length > 0) await renderChart(trainingCurvesSpec(history, name ?? path.basename(runDir), marks), path.join(runDir, 'curves'));
}
