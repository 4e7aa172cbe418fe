import { ARCHITECTURES } from '../training/pipeline.js';
import { OPTIMIZERS } from '../training/architectures.js';
import { DEFAULT_BACKBONE } from '../models/registry.js';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { evaluateModels, formatReport } from '../evaluation/run-eval.js';
import { runTraining, type Architecture, type TrainingOptions } from '../training/pipeline.js';
import type { OptimizerName } from '../training/architectures.js';
import { progress } from '../util/progress.js';
import { ImgclassError } from '../util/errors.js';
import { kfold, sweep } from '../training/tuning.js';
import { explore, formatExploration, IMBALANCE_WARN_RATIO } from '../data/explore.js';
import { DEFAULT_PATIENCE, TRAIN_DEFAULTS } from '../training/hyperparameters.js';
import { leakageWarning } from '../data/duplicates.js';
import { INTERRUPTED_EXIT_CODE } from '../util/interrupt.js';
import type { UnknownCalibration } from '../models/unknown.js';
import { describeSkipped, type SkippedFile } from '../data/walk.js';

const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
};

/** Options shared by train, sweep and kfold (the seed's hyperparameters). */
export function trainingOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--arch <arch>', 'model').choices(ARCHITECTURES).default(TRAIN_DEFAULTS.arch))
    .option('--backbone <name>', 'backbone for feature models', DEFAULT_BACKBONE)
    .addOption(new Option('--input <kind>', 'what a feature model reads').choices(['features', 'features+probabilities']).default(TRAIN_DEFAULTS.input))
    .addOption(new Option('--optimizer <name>').choices(OPTIMIZERS).default(TRAIN_DEFAULTS.optimizer))
    .option('--lr <rate>', "learning rate (default: the optimiser's Keras default)", num)
    .option('--epochs <n>', 'epochs', num, TRAIN_DEFAULTS.epochs)
    .option('--batch-size <n>', 'batch size', num, TRAIN_DEFAULTS.batchSize)
    .option(
      '--patience <n>',
      `early stopping: stop after this many epochs without a better validation loss; the best epoch's weights are what model/ holds (0 = train every epoch)`,
      num,
      DEFAULT_PATIENCE,
    )
    .addOption(
      new Option('--class-weight <mode>', 'weigh each class in the loss by n / (classes × its count), for imbalanced data')
        .choices(['none', 'balanced'])
        .default('none'),
    )
    .option('--hidden <n>', 'head: hidden units (0 = linear)', num)
    .option('--dropout <p>', 'dropout rate', num)
    .option('--size <px>', 'pixel models: input side', num)
    .addOption(
      new Option(
        '--resize <mode>',
        'how photos are fitted to the input: centre crop, squash, or keep-aspect (whole photo, shorter side to the input size; feature models on MobileNet)',
      ).choices(['center-crop', 'squash', 'keep-aspect']),
    )
    .option('--valid-from-train <fraction>', "carve a stratified validation set from train; the data set's own valid folder becomes the test set", num)
    .option('--no-augment', 'no augmentation (mirror features, or flips/shifts/zoom/brightness on pixels)')
    .option('--seed <n>', 'seed for splits and augmentation', num, TRAIN_DEFAULTS.seed)
    .option('--feature-cache <dir>', FEATURE_CACHE_HELP)
    .option(
      '--unknown-photos <dir>',
      'a folder of photos of none of the classes, to calibrate the "unknown" answer with (held-out photos of the classes are always used); repeat for several',
      (v: string, all: string[] = []) => [...all, v],
    );
}

export const FEATURE_CACHE_HELP = 'bottleneck feature cache directory (default $IMGCLASS_FEATURE_CACHE, else ~/.cache/imgclass/features)';

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
    classWeight: o.classWeight as TrainingOptions['classWeight'],
    unknownPhotos: o.unknownPhotos as string[] | undefined,
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
  const runDir =
    (o.resume as string | undefined) ??
    (o.out as string | undefined) ??
    path.join('runs', `${path.basename(path.resolve(dataDir))}-${o.arch}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const options = toTrainingOptions(dataDir, runDir, o);
  let s: Awaited<ReturnType<typeof runTraining>>;
  if (o.resume) {
    // only the options typed now: they must match the run's (defaults would read as conflicts)
    const typed = Object.fromEntries(Object.entries(o).filter(([k]) => o.given?.has(k)));
    const given = Object.fromEntries(Object.entries(toTrainingOptions(dataDir, runDir, typed)).filter(([, v]) => v !== undefined));
    s = await runTraining({ ...given, dataDir, runDir, resume: true });
  } else {
    s = await runTraining(options);
  }
  const root = path.resolve(dataDir);
  const warn = leakageWarning(
    s.leaks.map((l) => ({ file: path.resolve(l.file), copies: l.copies.map((c) => path.resolve(c)) })),
    'validation/test',
    root,
  );
  if (warn) process.stderr.write(warn + '\n');
  if (s.imbalance >= IMBALANCE_WARN_RATIO && options.classWeight !== 'balanced')
    process.stderr.write(`note: the training classes are imbalanced (largest/smallest ${s.imbalance.toFixed(1)}); consider --class-weight balanced\n`);
  const b = s.best;
  if (!b) {
    process.stderr.write(`interrupted before the first epoch finished; nothing to keep. Start again with: imgclass train ${dataDir} --out ${runDir}\n`);
    return INTERRUPTED_EXIT_CODE;
  }
  const ran = s.history.length - s.resumedFrom;
  const how = s.interrupted
    ? ' (interrupted by Ctrl-C)'
    : s.stoppedEarly
      ? ` (early stopping: ${s.history.length - b.epoch} epochs without a better val_loss)`
      : '';
  process.stdout.write(
    `${s.resumedFrom ? `resumed after epoch ${s.resumedFrom}; ` : ''}` +
      `trained ${ran} epochs in ${s.seconds.toFixed(1)} s${how} on ${s.counts.train} photos, validated on ${s.counts.valid}\n` +
      `kept epoch ${b.epoch}: val_loss ${b.valLoss.toFixed(4)}, val_acc ${(b.valAcc * 100).toFixed(2)}%\n` +
      `model: ${s.modelDir}\n` +
      `run:   ${s.runDir} (config.json, data.json, metrics.csv, curves.png)\n`,
  );
  if (s.unknown) process.stdout.write(formatUnknown(s.unknown) + '\n');
  if (s.interrupted) {
    const total = s.history.at(-1)!.epoch;
    process.stderr.write(
      `stopped after epoch ${total}; records of the ${total} finished epoch${total === 1 ? '' : 's'} are in ${s.runDir}. Resume with:\n` +
        `  imgclass train ${dataDir} --resume ${s.runDir}${o.given?.has('epochs') ? ` --epochs ${options.epochs}` : ''}\n`,
    );
    return INTERRUPTED_EXIT_CODE;
  }
  if (s.counts.test > 0 && !o.noEval) {
    const report = await evaluateModels([s.modelDir], dataDir, {
      outDir: path.join(s.runDir, 'eval-test'),
      files: s.test,
      seed: o.seed as number,
      trainingFiles: s.train,
      featureCache: options.featureCache,
      filesDescription: `held-out test photos: ${s.test.length}`,
      filesName: 'test',
    });
    process.stdout.write(
      `test: ${report.n} held-out photos, accuracy ${(report.accuracy * 100).toFixed(2)}%, macro F1 ` +
        `${(report.macro.f1 * 100).toFixed(2)}% (${path.join(s.runDir, 'eval-test')}: eval.json, confusion.png, ` +
        `top-losses.png)\n`,
    );
  }
  return 0;
}

/** The "unknown" answer's calibration in one line, with its measured rates. */
export function formatUnknown(u: UnknownCalibration): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const m = u.measured;
  const onTest = m.test ? `, ${pct(m.test.falseUnknownRate)} of ${m.test.n} test photos` : '';
  const outOfClass = m.outOfClass
    ? `; out-of-class photos called unknown: ${pct(m.outOfClass.rejectionRate)} of ${m.outOfClass.n} (${m.outOfClass.source})`
    : '';
  return (
    `unknown answer: a photo is "unknown" when its ImageNet probability on the ${u.imagenetIndices.length} ` +
    `ImageNet classes of the training photos is below ${u.threshold.toPrecision(3)}; ` +
    `false unknowns ${pct(m.validation.falseUnknownRate)} of ${m.validation.n} validation photos${onTest}${outOfClass}`
  );
}

export async function runEvalCli(
  args: string[],
  o: { json?: boolean; split?: 'train' | 'valid' | 'test' | 'all'; flip: boolean; out?: string; topLosses: number; featureCache?: string },
): Promise<number> {
  const dataDir = args[args.length - 1]!;
  const models = args.slice(0, -1);
  let bar: ReturnType<typeof progress> | null = null;
  let last = 0;
  const report = await evaluateModels(models, dataDir, {
    split: o.split,
    flip: o.flip === false ? false : undefined,
    outDir: o.out,
    topLosses: o.topLosses,
    featureCache: o.featureCache,
    onProgress: (d, total) => {
      bar ??= progress('eval', total);
      bar.tick(d - last);
      last = d;
    },
  });
  (bar as ReturnType<typeof progress> | null)?.stop();
  for (const r of report.resolved) if (r.note) process.stderr.write(r.note + '\n');
  const warn = leakageWarning(report.leaks, 'scored', path.resolve(dataDir));
  if (warn) process.stderr.write(warn + '\n');
  reportSkipped(report.skipped);
  process.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatReport(report));
  return 0;
}

export async function runSweepCli(dataDir: string, o: Record<string, unknown>): Promise<number> {
  const runDir =
    (o.out as string | undefined) ?? path.join('runs', `sweep-${path.basename(path.resolve(dataDir))}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const list = (v: unknown) =>
    String(v)
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const rows = await sweep(toTrainingOptions(dataDir, runDir, o), {
    optimizers: list(o.optimizers) as OptimizerName[],
    epochs: list(o.epochList).map(Number),
    learningRates: o.lrs ? list(o.lrs).map(Number) : undefined,
  });
  if (o.json) process.stdout.write(JSON.stringify(rows) + '\n');
  else {
    const pct = (x: number | null) => (x === null ? '   -  ' : `${(x * 100).toFixed(2)}%`);
    process.stdout.write('optimizer  epochs  lr        best epoch  val_loss  val_acc   test_acc  seconds\n');
    for (const r of rows)
      process.stdout.write(
        `${r.optimizer.padEnd(9)}  ${String(r.epochs).padStart(6)}  ${String(r.learningRate ?? 'default').padEnd(8)}  ` +
          `${String(r.bestEpoch).padStart(10)}  ${r.valLoss.toFixed(4)}  ${pct(r.valAccuracy).padStart(7)}  ` +
          `${pct(r.testAccuracy).padStart(8)}  ${r.seconds.toFixed(1).padStart(7)}\n`,
      );
    process.stdout.write(
      `val_acc on the validation photos; test_acc on the held-out test photos of the same split\n` +
        `results: ${path.join(runDir, 'sweep.json')}, chart: ${path.join(runDir, 'sweep.png')}\n`,
    );
  }
  return 0;
}

export async function runKFoldCli(dataDir: string, o: Record<string, unknown>): Promise<number> {
  const runDir =
    (o.out as string | undefined) ?? path.join('runs', `kfold-${path.basename(path.resolve(dataDir))}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const r = await kfold(toTrainingOptions(dataDir, runDir, o), o.folds as number);
  if (r.duplicatesInPool)
    process.stderr.write(
      `warning: ${r.duplicatesInPool} groups of byte-identical photos in train + valid: a fold may validate on a ` +
        `copy of one of its training photos (imgclass explore lists them)\n`,
    );
  const warn = leakageWarning(r.testLeaks, 'test', path.resolve(dataDir));
  if (warn) process.stderr.write(warn + '\n');
  if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    for (const f of r.folds)
      process.stdout.write(`fold ${f.fold}: best epoch ${f.bestEpoch}, val_loss ${f.valLoss.toFixed(4)}, val_acc ${(f.valAccuracy * 100).toFixed(2)}%\n`);
    const pct = (x: number | null) => (x === null ? '' : `; test accuracy ${(x * 100).toFixed(2)}% on ${r.counts.test} untouched test photos`);
    process.stdout.write(
      `mean ± sd: ${(r.mean * 100).toFixed(2)} ± ${(r.sd * 100).toFixed(2)}% (each of the ${r.counts.pool} train + valid photos validated once)\n` +
        `best fold ${r.bestFold} kept as ${r.bestModelDir}${pct(r.testAccuracy)}\n` +
        `all ${r.folds.length} folds as the ensemble ${r.ensembleDir}${pct(r.ensembleTestAccuracy)}\n`,
    );
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
