import path from 'node:path';
import { Option, type Command } from 'commander';
import { evaluateModels, formatReport } from '../evaluation/run-eval.js';
import { runTraining, type Architecture, type TrainingOptions } from '../training/pipeline.js';
import type { OptimizerName } from '../training/architectures.js';
import { progress } from '../util/progress.js';
import { ImgclassError } from '../util/errors.js';
import { kfold, sweep } from '../training/tuning.js';
import { explore, formatExploration } from '../data/explore.js';
import { describeSkipped, type SkippedFile } from '../data/walk.js';

const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
};

/** Options shared by train, sweep and kfold (the seed's hyperparameters). */
export function trainingOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--arch <arch>', 'model').choices(['head', 'linear', 'imagenet-linear', 'scratch', 'otsu']).default('head'))
    .option('--backbone <name>', 'backbone for feature models', 'mobilenet_v1_0.75_224')
    .addOption(new Option('--input <kind>', 'what a feature model reads').choices(['features', 'features+probabilities']).default('features'))
    .addOption(new Option('--optimizer <name>').choices(['rmsprop', 'adam', 'sgd']).default('rmsprop'))
    .option('--lr <rate>', 'learning rate (default: the optimiser\'s Keras default)', num)
    .option('--epochs <n>', 'epochs', num, 20)
    .option('--batch-size <n>', 'batch size', num, 20)
    .option('--patience <n>', 'early stopping: epochs without a better validation loss', num, 0)
    .option('--hidden <n>', 'head: hidden units (0 = linear)', num)
    .option('--dropout <p>', 'dropout rate', num)
    .option('--size <px>', 'pixel models: input side', num)
    .addOption(new Option('--resize <mode>', 'how photos are fitted to the input: centre crop, squash, or keep-aspect (whole photo, shorter side to the input size; feature models on MobileNet)').choices(['center-crop', 'squash', 'keep-aspect']))
    .option('--valid-from-train <fraction>', 'carve a stratified validation set from train; the data set\'s own valid folder becomes the test set', num)
    .option('--no-augment', 'no augmentation (mirror features, or flips/shifts/zoom/brightness on pixels)')
    .option('--seed <n>', 'seed for splits and augmentation', num, 42)
    .option('--feature-cache <dir>', 'bottleneck feature cache directory');
}

export function toTrainingOptions(dataDir: string, runDir: string, o: Record<string, unknown>): TrainingOptions {
  return {
    dataDir,
    runDir,
    arch: o.arch as Architecture,
    backbone: o.backbone as string,
    input: o.input as TrainingOptions['input'],
    optimizer: o.optimizer as OptimizerName,
    learningRate: o.lr as number | undefined,
    epochs: o.epochs as number,
    batchSize: o.batchSize as number,
    patience: o.patience as number,
    hidden: o.hidden as number | undefined,
    dropout: o.dropout as number | undefined,
    size: o.size as number | undefined,
    resize: o.resize as TrainingOptions['resize'],
    validFromTrain: o.validFromTrain as number | undefined,
    augment: o.augment as boolean,
    seed: o.seed as number,
    featureCache: o.featureCache as string | undefined,
  };
}

export async function runTrainCli(dataDir: string, o: Record<string, unknown> & { given?: Set<string> }): Promise<number> {
  if (o.resume && o.out) throw new ImgclassError('BAD_OPTION', '--out and --resume both name the run directory: give one');
  const runDir = (o.resume as string | undefined) ?? (o.out as string | undefined) ?? path.join('runs', `${path.basename(path.resolve(dataDir))}-${o.arch}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  let s;
  if (o.resume) {
    // only the options typed now: they must match the run's (defaults would read as conflicts)
    const typed = Object.fromEntries(Object.entries(o).filter(([k]) => o.given?.has(k)));
    const options = Object.fromEntries(Object.entries(toTrainingOptions(dataDir, runDir, typed)).filter(([, v]) => v !== undefined));
    s = await runTraining({ ...options, dataDir, runDir, resume: true });
  } else {
    s = await runTraining(toTrainingOptions(dataDir, runDir, o));
  }
  const b = s.best;
  process.stdout.write(`${s.resumedFrom ? `resumed after epoch ${s.resumedFrom}; ` : ''}trained ${s.history.length - s.resumedFrom} epochs in ${s.seconds.toFixed(1)} s${s.stoppedEarly ? ' (stopped early)' : ''}\nbest epoch ${b.epoch}: val_loss ${b.valLoss.toFixed(4)}, val_acc ${(b.valAcc * 100).toFixed(2)}%\nmodel: ${s.modelDir}\nrun:   ${s.runDir} (config.json, data.json, metrics.csv, curves.png)\n`);
  if (s.counts.test > 0 && !o.noEval) {
    const report = await evaluateModels([s.modelDir], dataDir, { outDir: path.join(s.runDir, 'eval-test'), files: s.test, seed: o.seed as number });
    process.stdout.write(`test: n=${report.n}, accuracy ${(report.accuracy * 100).toFixed(2)}%, macro F1 ${(report.macro.f1 * 100).toFixed(2)}% (${path.join(s.runDir, 'eval-test')})\n`);
  }
  return 0;
}

export async function runEvalCli(args: string[], o: { json?: boolean; split?: 'train' | 'valid' | 'test'; flip: boolean; out?: string; topLosses: number }): Promise<number> {
  const dataDir = args[args.length - 1]!;
  const models = args.slice(0, -1);
  let bar: ReturnType<typeof progress> | null = null;
  let last = 0;
  const report = await evaluateModels(models, dataDir, {
    split: o.split,
    flip: o.flip,
    outDir: o.out,
    topLosses: o.topLosses,
    onProgress: (d, total) => {
      bar ??= progress('eval', total);
      bar.tick(d - last);
      last = d;
    },
  });
  (bar as ReturnType<typeof progress> | null)?.stop();
  reportSkipped(report.skipped);
  process.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatReport(report));
  return 0;
}

export async function runSweepCli(dataDir: string, o: Record<string, unknown>): Promise<number> {
  const runDir = (o.out as string | undefined) ?? path.join('runs', `sweep-${path.basename(path.resolve(dataDir))}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const list = (v: unknown) => String(v).split(',').map((x) => x.trim()).filter(Boolean);
  const rows = await sweep(toTrainingOptions(dataDir, runDir, o), {
    optimizers: list(o.optimizers) as OptimizerName[],
    epochs: list(o.epochList).map(Number),
    learningRates: o.lrs ? list(o.lrs).map(Number) : undefined,
  });
  if (o.json) process.stdout.write(JSON.stringify(rows) + '\n');
  else {
    const pct = (x: number | null) => (x === null ? '   -  ' : `${(x * 100).toFixed(2)}%`);
    process.stdout.write('optimizer  epochs  lr        best epoch  val_loss  val_acc   test_acc  seconds\n');
    for (const r of rows) process.stdout.write(`${r.optimizer.padEnd(9)}  ${String(r.epochs).padStart(6)}  ${String(r.learningRate ?? 'default').padEnd(8)}  ${String(r.bestEpoch).padStart(10)}  ${r.valLoss.toFixed(4)}  ${pct(r.valAccuracy).padStart(7)}  ${pct(r.testAccuracy).padStart(8)}  ${r.seconds.toFixed(1).padStart(7)}\n`);
    process.stdout.write(`results: ${path.join(runDir, 'sweep.json')}, chart: ${path.join(runDir, 'sweep.png')}\n`);
  }
  return 0;
}

export async function runKFoldCli(dataDir: string, o: Record<string, unknown>): Promise<number> {
  const runDir = (o.out as string | undefined) ?? path.join('runs', `kfold-${path.basename(path.resolve(dataDir))}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const r = await kfold(toTrainingOptions(dataDir, runDir, o), o.folds as number);
  if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    for (const f of r.folds) process.stdout.write(`fold ${f.fold}: best epoch ${f.bestEpoch}, val_loss ${f.valLoss.toFixed(4)}, val_acc ${(f.valAccuracy * 100).toFixed(2)}%\n`);
    const pct = (x: number | null) => (x === null ? '' : `; test accuracy ${(x * 100).toFixed(2)}%`);
    process.stdout.write(`mean ± sd: ${(r.mean * 100).toFixed(2)} ± ${(r.sd * 100).toFixed(2)}%\nbest fold ${r.bestFold} kept as ${r.bestModelDir}${pct(r.testAccuracy)}\nall ${r.folds.length} folds as the ensemble ${r.ensembleDir}${pct(r.ensembleTestAccuracy)}\n`);
  }
  return 0;
}

export async function runExploreCli(dataDir: string, o: { json?: boolean; out?: string }): Promise<number> {
  const outDir = o.out ?? path.join('runs', `explore-${path.basename(path.resolve(dataDir))}`);
  const e = await explore(dataDir, outDir);
  reportSkipped(e.skipped);
  process.stdout.write(o.json ? JSON.stringify(e) + '\n' : formatExploration(e));
  return e.unreadable.length ? 1 : 0;
}

/** The one stderr line about entries of a data set that are not images. */
export function reportSkipped(skipped: readonly SkippedFile[]): void {
  const note = describeSkipped(skipped);
  if (note) process.stderr.write(`imgclass: ${note}\n`);
}
