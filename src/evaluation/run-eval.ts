import path from 'node:path';
import { loadDataset, matchClasses, type LabeledFile } from '../data/dataset.js';
import type { SkippedFile } from '../data/walk.js';
import { ImgclassError } from '../util/errors.js';
import { meanVectors } from '../detectors/dog.js';
import { writeFileAtomic } from '../util/atomic.js';
import { confusionMatrixSpec, renderChart } from './charts.js';
import { evaluate, topLosses, type Evaluation } from './metrics.js';
import { openPredictor, type FilePredictor } from './predict-files.js';
import { sameClasses, type ClassInfo } from '../models/model-dir.js';

export interface EvalOptions {
  /** Which split of a split data set (default: test, else valid). */
  split?: 'train' | 'valid' | 'test';
  flip?: boolean;
  topLosses?: number;
  /** Write eval.json and the confusion matrix pictures here. */
  outDir?: string;
  featureCache?: string;
  /** Score exactly these files (e.g. a training run's held-out split) instead of reading `split`. */
  files?: LabeledFile[];
  /** Seed of the stratified split for data sets without split folders (train's default: 42). */
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface EvalReport extends Evaluation {
  models: string[];
  data: string;
  topLosses: ReturnType<typeof topLosses>;
  failures: { file: string; reason: string }[];
  /** Entries of the data set's folders that are not images (not scored, reported). */
  skipped: SkippedFile[];
}

/**
 * Score one model, or an ensemble (probabilities averaged), on a folder-per-class data set whose
 * folders are matched to the model's classes by WordNet id or name. A data set with split
 * folders is scored on its test split (else valid); a plain folder-per-class set on all of it.
 */
export async function evaluateModels(modelSpecs: string[], dataDir: string, o: EvalOptions = {}): Promise<EvalReport> {
  const { files, dataClasses, skipped } = await evalFiles(dataDir, o.split, o.seed, o.files);
  const predictors = [];
  for (const spec of modelSpecs) predictors.push(await openPredictor(spec, dataClasses, { flip: o.flip, featureCache: o.featureCache }));
  const classes = predictors[0]!.classes;
  for (const p of predictors.slice(1)) {
    if (!sameClasses(p.classes, classes)) throw new ImgclassError('BAD_OPTION', 'an ensemble needs models with the same classes in the same order');
  }
  const mapping = matchClasses(classes, dataClasses);
  const labeled = files.map((f) => ({ file: f.file, label: mapping[f.label]! }));
  const perModel: Awaited<ReturnType<FilePredictor["predict"]>>[] = [];
  for (const p of predictors) {
    perModel.push(await p.predict(labeled.map((f) => f.file), (d) => o.onProgress?.(d, labeled.length)));
    p.dispose();
  }
  const failures = perModel[0]!.failures;
  const keep = labeled.map((_, i) => i).filter((i) => perModel.every((m) => m.probs[i]));
  const probs = keep.map((i) => meanVectors(perModel.map((m) => m.probs[i]!)));
  const yTrue = keep.map((i) => labeled[i]!.label);
  const names = classes.map((c) => c.name);
  const ev = evaluate(yTrue, probs, names);
  const report: EvalReport = { ...ev, models: modelSpecs, data: dataDir, topLosses: topLosses(yTrue, probs, keep.map((i) => labeled[i]!.file), names, o.topLosses ?? 10), failures, skipped };
  if (o.outDir) {
    await writeFileAtomic(path.join(o.outDir, 'eval.json'), JSON.stringify(report, null, 2));
    await renderChart(confusionMatrixSpec(ev.confusion, names, `${path.basename(modelSpecs.join(' + '))} on ${path.basename(dataDir)}: accuracy ${(ev.accuracy * 100).toFixed(1)}% (n=${ev.n})`), path.join(o.outDir, 'confusion'));
  }
  return report;
}

async function evalFiles(dataDir: string, split?: 'train' | 'valid' | 'test', seed?: number, given?: LabeledFile[]): Promise<{ files: LabeledFile[]; dataClasses: ClassInfo[]; skipped: SkippedFile[] }> {
  const ds = await loadDataset(dataDir, { seed });
  if (given) return { files: given, dataClasses: ds.classes, skipped: ds.skipped };
  // split folders, or an explicit --split of an unsplit set (the same seeded split train made)
  if (ds.splitSource === 'folders' || split) {
    const which = split ?? (ds.splits.test.length ? 'test' : 'valid');
    return { files: ds.splits[which], dataClasses: ds.classes, skipped: ds.skipped };
  }
  // plain class folders: every image counts (no split was asked for), class by class, sorted
  const files = [...ds.splits.train, ...ds.splits.valid, ...ds.splits.test].sort((a, b) => a.label - b.label || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { files, dataClasses: ds.classes, skipped: ds.skipped };
}

/** Human-readable report: headline, per-class table, confusion matrix, worst mistakes. */
export function formatReport(r: EvalReport): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const w = Math.max(12, ...r.classes.map((c) => c.length));
  const lines = [`${r.models.join(' + ')} on ${r.data}: n=${r.n}, accuracy ${pct(r.accuracy)}, ${Object.entries(r.topK).map(([k, v]) => `${k} ${pct(v)}`).join(', ')}, log loss ${r.logLoss.toFixed(3)}`, ''];
  lines.push(`${'class'.padEnd(w)}  precision  recall     f1  support`);
  for (const c of r.classes) {
    const m = r.perClass[c]!;
    lines.push(`${c.padEnd(w)}  ${pct(m.precision).padStart(9)}  ${pct(m.recall).padStart(6)}  ${pct(m.f1).padStart(6)}  ${String(m.support).padStart(7)}`);
  }
  lines.push(`${'macro avg'.padEnd(w)}  ${pct(r.macro.precision).padStart(9)}  ${pct(r.macro.recall).padStart(6)}  ${pct(r.macro.f1).padStart(6)}  ${String(r.n).padStart(7)}`);
  lines.push(`${'weighted avg'.padEnd(w)}  ${pct(r.weighted.precision).padStart(9)}  ${pct(r.weighted.recall).padStart(6)}  ${pct(r.weighted.f1).padStart(6)}  ${String(r.n).padStart(7)}`, '', 'confusion matrix (rows: actual, columns: predicted)');
  r.confusion.forEach((row, i) => lines.push(`${r.classes[i]!.slice(0, w).padEnd(w)}  ${row.map((v) => String(v).padStart(4)).join('')}`));
  if (r.topLosses.length) {
    lines.push('', 'worst mistakes');
    for (const t of r.topLosses) lines.push(`  ${t.file}: ${t.actual} → ${t.predicted} (p(actual) ${t.probabilityOfActual.toFixed(3)})`);
  }
  if (r.failures.length) lines.push('', `${r.failures.length} unreadable files skipped`);
  return lines.join('\n') + '\n';
}
