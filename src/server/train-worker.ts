/**
 * One training or export job of the web page, in its own process (forked by train-jobs.ts), so
 * the server keeps answering while TF.js and onnxruntime are busy, and a Stop is the command
 * line's Ctrl-C: the training loop finishes its batch, drops the unfinished epoch and keeps the
 * best one. Messages to the parent: `features` (progress), `trained`, `evaluated`, `exported`,
 * `failed`. The epochs themselves are read by the parent from the run's metrics.jsonl, which the
 * trainer rewrites after every committed epoch.
 *
 * When the server dies, this process goes too (the IPC channel closes): the run directory is
 * then exactly what a killed `imgclass train` leaves, and `train --resume` continues it.
 */
import path from 'node:path';
import { loadDataset } from '../data/dataset.js';
import { evaluateModels } from '../evaluation/run-eval.js';
import { exportVerified } from '../evaluation/export-file.js';
import { extractFeatures } from '../features/bottleneck.js';
import { loadBackbone } from '../models/backbone.js';
import { runTraining, type TrainingOptions } from '../training/pipeline.js';
import { describeError } from '../util/errors.js';
import { installInterruptHandler } from '../util/interrupt.js';

export type WorkerJob = { kind: 'train'; options: TrainingOptions; resume: boolean } | { kind: 'export'; runDir: string; out: string };

export type WorkerMessage =
  | { type: 'features'; done: number; total: number }
  | { type: 'training' }
  | { type: 'trained'; summary: TrainedSummary }
  | { type: 'evaluated' }
  | { type: 'exported'; out: string; sidecar: string }
  | { type: 'failed'; message: string };

/** What the page reports of a finished training (the rest is in the run directory). */
export interface TrainedSummary {
  counts: { train: number; valid: number; test: number };
  bestEpoch: number;
  epochsRun: number;
  stoppedEarly: boolean;
  interrupted: boolean;
  seconds: number;
  leaks: number;
  imbalance: number;
}

const send = (m: WorkerMessage) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

async function train(job: Extract<WorkerJob, { kind: 'train' }>): Promise<void> {
  const o = job.options;
  // Features first, with progress the page can show: cached by content, so training reads them back.
  {
    const ds = await loadDataset(o.dataDir, { seed: o.seed });
    const files = [...ds.splits.train, ...ds.splits.valid, ...ds.splits.test].map((f) => f.file);
    const backbone = await loadBackbone(o.backbone, { resize: o.resize });
    try {
      await send({ type: 'features', done: 0, total: files.length });
      let last = 0;
      await extractFeatures(files, backbone, {
        cacheDir: o.featureCache,
        onProgress: (done) => {
          if (done - last >= 8 || done === files.length) {
            last = done;
            void send({ type: 'features', done, total: files.length });
          }
        },
      });
    } finally {
      backbone.dispose();
    }
  }
  await send({ type: 'training' });
  const s = job.resume
    ? await runTraining({ dataDir: o.dataDir, runDir: o.runDir, featureCache: o.featureCache, quiet: true, resume: true })
    : await runTraining(o);
  const summary: TrainedSummary = {
    counts: s.counts,
    bestEpoch: s.best.epoch,
    epochsRun: s.history.length,
    stoppedEarly: s.stoppedEarly,
    interrupted: s.interrupted,
    seconds: s.seconds,
    leaks: s.leaks.length,
    imbalance: s.imbalance,
  };
  await send({ type: 'trained', summary });
  // The held-out report, exactly as `imgclass train` writes it (eval-test/), also after a Stop:
  // the model kept is the best epoch so far, and the page shows what it is worth.
  await evaluateModels([s.modelDir], o.dataDir, {
    outDir: path.join(s.runDir, 'eval-test'),
    files: s.test,
    seed: o.seed ?? 42,
    trainingFiles: s.train,
    featureCache: o.featureCache,
    filesDescription: `held-out test photos: ${s.test.length}`,
    filesName: 'test',
  });
  await send({ type: 'evaluated' });
}

async function runJob(job: WorkerJob): Promise<void> {
  if (job.kind === 'train') return train(job);
  const r = await exportVerified([path.join(job.runDir, 'model')], { out: job.out });
  await send({ type: 'exported', out: r.out, sidecar: r.sidecar });
}

// The parent gone (server killed): stop at once, as a killed `imgclass train` would.
process.on('disconnect', () => process.exit(137));
installInterruptHandler();
process.once('message', (job: WorkerJob) => {
  runJob(job).then(
    () => process.exit(0),
    async (e: unknown) => {
      await send({ type: 'failed', message: describeError(e) });
      process.exit(1);
    },
  );
});
