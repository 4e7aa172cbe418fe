import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { barSpec, renderChart } from '../util/charts.js';
import { evaluateModels } from '../evaluation/run-eval.js';
import { stratifiedKFold } from '../data/split.js';
import { writeFileAtomic } from '../util/atomic.js';
import { progress } from '../util/progress.js';
import type { OptimizerName } from './architectures.js';
import { prepareSplits, runTraining, type TrainingOptions } from './pipeline.js';
import { saveEnsemble } from '../models/classifier.js';
import { findDuplicates, leakedIntoTraining } from '../data/duplicates.js';

export interface SweepRow {
  optimizer: OptimizerName;
  epochs: number;
  learningRate: number | null;
  bestEpoch: number;
  valLoss: number;
  valAccuracy: number;
  testAccuracy: number | null;
  seconds: number;
  modelDir: string;
}

/**
 * The seed's tuning experiment: a grid over optimisers × epochs (× learning rates), each trained
 * with the same data, splits and seed; a results table, JSON and a chart.
 */
export async function sweep(
  base: TrainingOptions,
  grid: { optimizers: OptimizerName[]; epochs: number[]; learningRates?: (number | undefined)[] },
): Promise<SweepRow[]> {
  const rows: SweepRow[] = [];
  const lrs = grid.learningRates?.length ? grid.learningRates : [base.learningRate];
  await prepareSplits(base); // the data set checked (and what is not an image reported) once, before the first run
  const combos = grid.optimizers.flatMap((optimizer) => grid.epochs.flatMap((epochs) => lrs.map((lr) => ({ optimizer, epochs, lr }))));
  const bar = progress('sweep', combos.length, 'run');
  for (const c of combos) {
    const runDir = path.join(base.runDir, `${c.optimizer}-e${c.epochs}${c.lr ? `-lr${c.lr}` : ''}`);
    const s = await runTraining({ ...base, runDir, optimizer: c.optimizer, epochs: c.epochs, learningRate: c.lr, quiet: true });
    const test = s.test.length
      ? await evaluateModels([s.modelDir], base.dataDir, {
          files: s.test,
          seed: base.seed,
          trainingFiles: s.train,
          featureCache: base.featureCache,
          filesName: 'test',
        })
      : null;
    rows.push({
      optimizer: c.optimizer,
      epochs: c.epochs,
      learningRate: c.lr ?? null,
      bestEpoch: s.best.epoch,
      valLoss: s.best.valLoss,
      valAccuracy: s.best.valAcc,
      testAccuracy: test?.accuracy ?? null,
      seconds: s.seconds,
      modelDir: s.modelDir,
    });
    bar.log(
      `${c.optimizer} ${c.epochs} epochs${c.lr ? ` lr ${c.lr}` : ''}: best epoch ${s.best.epoch}, val_acc ` +
        `${(s.best.valAcc * 100).toFixed(2)}%${test ? `, test_acc ${(test.accuracy * 100).toFixed(2)}% (n=${test.n})` : ''}, ` +
        `${s.seconds.toFixed(1)} s`,
    );
    bar.tick();
  }
  bar.stop();
  await writeFileAtomic(path.join(base.runDir, 'sweep.json'), JSON.stringify(rows, null, 2));
  const label = (r: SweepRow) => `${r.optimizer} ${r.epochs} ep${r.learningRate ? ` lr ${r.learningRate}` : ''}`;
  await renderChart(
    barSpec(
      rows.flatMap((r) => [
        { label: label(r), value: r.valAccuracy, group: 'validation' },
        ...(r.testAccuracy !== null ? [{ label: label(r), value: r.testAccuracy, group: 'test' }] : []),
      ]),
      `sweep on ${path.basename(path.resolve(base.dataDir))} (${base.arch}): accuracy at the best epoch`,
      'accuracy (axis does not start at 0)',
      { zero: false, format: '.1%' },
    ),
    path.join(base.runDir, 'sweep'),
  );
  return rows;
}

export interface FoldRow {
  fold: number;
  bestEpoch: number;
  valLoss: number;
  valAccuracy: number;
  modelDir: string;
}

export interface KFoldResult {
  folds: FoldRow[];
  mean: number;
  sd: number;
  bestFold: number;
  bestModelDir: string;
  testAccuracy: number | null;
  /** All k fold models as one ensemble (`--model <run>/ensemble`), and its test accuracy. */
  ensembleDir: string;
  ensembleTestAccuracy: number | null;
  /** Photos scored: validation photos per fold (all of train + valid once) and the untouched test photos. */
  counts: { pool: number; test: number };
  /** Byte-identical photos inside train + valid (a fold may validate on a copy of a training photo), and test photos with a copy there. */
  duplicatesInPool: number;
  testLeaks: { file: string; copies: string[] }[];
}

/**
 * The seed's k-fold cross-validation: train and valid merged, stratified folds, one model per
 * fold validated on its held-out fold; mean ± sd of validation accuracy; the best fold's model
 * kept as `<run>/model`, and all k models as the ensemble `<run>/ensemble`; both are scored on
 * the untouched test split.
 */
export async function kfold(base: TrainingOptions, k: number): Promise<KFoldResult> {
  const data = await prepareSplits(base);
  const pool = [...data.train, ...data.valid];
  const folds = stratifiedKFold(
    pool.map((f) => f.label),
    k,
    base.seed ?? 42,
  );
  const rows: FoldRow[] = [];
  const dup = await findDuplicates({ train: pool });
  const testLeaks = await leakedIntoTraining(data.test, pool);
  const bar = progress('k-fold', k, 'fold');
  for (const [i, f] of folds.entries()) {
    const runDir = path.join(base.runDir, `fold-${i + 1}`);
    const s = await runTraining({
      ...base,
      runDir,
      quiet: true,
      splits: { train: f.train.map((j) => pool[j]!), valid: f.valid.map((j) => pool[j]!), test: data.test },
    });
    rows.push({ fold: i + 1, bestEpoch: s.best.epoch, valLoss: s.best.valLoss, valAccuracy: s.best.valAcc, modelDir: s.modelDir });
    bar.log(
      `fold ${i + 1}/${k}: best epoch ${s.best.epoch} of ${s.history.length}, val_loss ` +
        `${s.best.valLoss.toFixed(4)}, val_acc ${(s.best.valAcc * 100).toFixed(2)}% (n=${f.valid.length}), ` +
        `${s.seconds.toFixed(1)} s`,
    );
    bar.tick();
  }
  bar.stop();
  const accs = rows.map((r) => r.valAccuracy);
  const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
  const sd = Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, accs.length - 1));
  const best = rows.reduce((a, b) => (b.valAccuracy > a.valAccuracy || (b.valAccuracy === a.valAccuracy && b.valLoss < a.valLoss) ? b : a));
  const bestModelDir = path.join(base.runDir, 'model');
  await rm(bestModelDir, { recursive: true, force: true });
  await cp(best.modelDir, bestModelDir, { recursive: true });
  const ensembleDir = path.join(base.runDir, 'ensemble');
  await mkdir(ensembleDir, { recursive: true });
  await saveEnsemble(
    ensembleDir,
    rows.map((r) => r.modelDir),
  );
  const held = {
    files: data.test,
    seed: base.seed,
    trainingFiles: pool,
    featureCache: base.featureCache,
    filesDescription: `the untouched test photos: ${data.test.length}`,
    filesName: 'test',
  };
  const test = data.test.length ? await evaluateModels([bestModelDir], base.dataDir, held) : null;
  const ensembleTest = data.test.length
    ? await evaluateModels([ensembleDir], base.dataDir, { ...held, outDir: path.join(base.runDir, 'eval-test-ensemble') })
    : null;
  const result: KFoldResult = {
    folds: rows,
    mean,
    sd,
    bestFold: best.fold,
    bestModelDir,
    testAccuracy: test?.accuracy ?? null,
    ensembleDir,
    ensembleTestAccuracy: ensembleTest?.accuracy ?? null,
    counts: { pool: pool.length, test: data.test.length },
    duplicatesInPool: dup.groups.length,
    testLeaks,
  };
  await writeFileAtomic(path.join(base.runDir, 'kfold.json'), JSON.stringify(result, null, 2));
  await renderChart(
    barSpec(
      rows.map((r) => ({ label: `fold ${r.fold}`, value: r.valAccuracy })),
      `${k}-fold validation accuracy: ${(mean * 100).toFixed(2)} ± ${(sd * 100).toFixed(2)}% (${pool.length} photos, each validated once)`,
      'validation accuracy (axis does not start at 0)',
      { zero: false, format: '.1%' },
    ),
    path.join(base.runDir, 'kfold'),
  );
  return result;
}
