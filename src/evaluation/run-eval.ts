import path from 'node:path';
import { loadDataset, matchClasses, type LabeledFile } from '../data/dataset.js';
import type { SkippedFile } from '../data/walk.js';
import { writeFileAtomic } from '../util/atomic.js';
import { confusionMatrixSpec, renderChart } from '../util/charts.js';
import { evaluate, topLosses, type Evaluation } from './metrics.js';
import { openPredictor, type FilePredictor } from './predict-files.js';
import { readManifest, type ClassInfo } from '../models/model-dir.js';
import { modelLabel, resolveModelDir } from '../models/resolve-model-dir.js';
import { leakedIntoTraining } from '../data/duplicates.js';
import { renderTopLossesGallery } from './gallery.js';
import { readFile } from 'node:fs/promises';
import { loadTrainedModel } from '../models/classifier.js';
import { calibrationsOf, imagenetView, unknownVerdict } from '../models/unknown.js';
import { extractFeatures } from '../features/bottleneck.js';
import { loadBackbone } from '../models/backbone.js';

export interface EvalOptions {
  /**
   * Which photos: a split (default: the held-out test split, else valid; for a set without split
   * folders the seeded held-out part `train` used), or 'all' (training photos included).
   */
  split?: 'train' | 'valid' | 'test' | 'all';
  flip?: boolean;
  topLosses?: number;
  /** Write eval.json and the confusion matrix pictures here. */
  outDir?: string;
  featureCache?: string;
  /** Score exactly these files (e.g. a training run's held-out split) instead of reading `split`. */
  files?: LabeledFile[];
  /** With `files`: what they are, in words (for the report), and the photos the model trained on (for the leakage check). */
  filesDescription?: string;
  /** With `files`: a short name for titles ('test'). */
  filesName?: string;
  trainingFiles?: LabeledFile[];
  /** Seed of the stratified split for data sets without split folders (train's default: 42). */
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

/** What `imgclass eval` reports: the metrics, which models on which photos, and the worst mistakes. */
export interface EvalReport extends Evaluation {
  models: string[];
  data: string;
  /** Which photos were scored, in words, and how many. */
  scored: { split: string; description: string; n: number };
  topLosses: ReturnType<typeof topLosses>;
  failures: { file: string; reason: string }[];
  /** Scored photos with a byte-identical copy among the training photos. */
  leaks: { file: string; copies: string[] }[];
  /** Set when the model has an "unknown" answer: how many of these photos of its classes it calls unknown. */
  unknown?: { falseUnknownRate: number; n: number };
  /** Model directories used, after run directories were resolved, with a note for each that was. */
  resolved: { given: string; dir: string; note: string | null }[];
  pictures?: string[];
  /** Entries of the data set's folders that are not images (not scored, reported). */
  skipped: SkippedFile[];
}

/**
 * Score one model, or an ensemble (probabilities averaged), on a folder-per-class data set whose
 * folders are matched to the model's classes by WordNet id or name. A data set with split
 * folders is scored on its test split (else valid); a plain folder-per-class set on all of it.
 */
export async function evaluateModels(modelSpecs: string[], dataDir: string, o: EvalOptions = {}): Promise<EvalReport> {
  const resolved = await Promise.all(modelSpecs.map((m) => (m.includes(':') ? { given: m, dir: m, note: null } : resolveModelDir(m))));
  const dirs = resolved.map((r) => r.dir);
  const seed = o.seed ?? (await trainingSeed(dirs[0]!));
  const { files, dataClasses, description, split, training, skipped } = await evalFiles(dataDir, o, seed);
  // Several models are one ensemble (the unit averages them, with its class check).
  const predictor = await openPredictor(dirs, dataClasses, { flip: o.flip, featureCache: o.featureCache });
  const classes = predictor.classes;
  const mapping = matchClasses(classes, dataClasses);
  const labeled = files.map((f) => ({ file: f.file, label: mapping[f.label]! }));
  let scored: Awaited<ReturnType<FilePredictor['predict']>>;
  try {
    scored = await predictor.predict(
      labeled.map((f) => f.file),
      (d) => o.onProgress?.(d, labeled.length),
    );
  } finally {
    predictor.dispose();
  }
  const failures = scored.failures;
  const keep = labeled.map((_, i) => i).filter((i) => scored.probs[i]);
  const probs = keep.map((i) => scored.probs[i]!);
  const yTrue = keep.map((i) => labeled[i]!.label);
  const names = classes.map((c) => c.name);
  const ev = evaluate(yTrue, probs, names);
  const leaks = training.length
    ? await leakedIntoTraining(
        keep.map((i) => files[i]!),
        training,
      )
    : [];
  const unknown = await unknownRate(
    dirs,
    keep.map((i) => labeled[i]!.file),
    o.featureCache,
  );
  const report: EvalReport = {
    ...ev,
    models: modelSpecs,
    data: dataDir,
    scored: { split, description, n: ev.n },
    topLosses: topLosses(
      yTrue,
      probs,
      keep.map((i) => labeled[i]!.file),
      names,
      o.topLosses ?? 10,
    ),
    failures,
    leaks,
    resolved,
    skipped,
    ...(unknown ? { unknown } : {}),
  };
  if (o.outDir) {
    const label = dirs.map(modelLabel).join(' + ');
    const where = `${path.basename(path.resolve(dataDir))} ${split === 'all' ? 'all photos' : split}`;
    const pictures = [
      (
        await renderChart(
          confusionMatrixSpec(ev.confusion, names, `${label} on ${where}: accuracy ${(ev.accuracy * 100).toFixed(1)}% (n=${ev.n})`),
          path.join(o.outDir, 'confusion'),
        )
      ).png,
      (
        await renderTopLossesGallery(
          report.topLosses,
          `${label} on ${where}: the ${report.topLosses.length} worst mistakes (of ${ev.n - Math.round(ev.accuracy * ev.n)})`,
          path.join(o.outDir, 'top-losses'),
        )
      ).png,
    ];
    report.pictures = pictures;
    await writeFileAtomic(path.join(o.outDir, 'eval.json'), JSON.stringify(report, null, 2));
  }
  return report;
}

/** The seed a model's run split its data with (so eval finds the same held-out part); 42 as train's default. */
async function trainingSeed(dir: string): Promise<number> {
  if (dir.includes(':')) return 42;
  const members = await readFile(path.join(dir, 'ensemble.json'), 'utf8').then(
    (t) => (JSON.parse(t).members as string[]).map((m) => path.resolve(dir, m)),
    () => [dir],
  );
  const seed = await readManifest(members[0]!).then(
    (m) => m.training?.seed,
    () => undefined,
  );
  return typeof seed === 'number' ? seed : 42;
}

/** How many of these photos (all of the model's classes) the model's "unknown" answer rejects. */
async function unknownRate(dirs: string[], files: string[], featureCache?: string): Promise<{ falseUnknownRate: number; n: number } | null> {
  if (files.length === 0 || dirs.some((d) => d.includes(':'))) return null;
  const model = await loadTrainedModel(dirs);
  try {
    const cals = calibrationsOf(model);
    if (cals.length === 0 || !model.backbone) return null;
    const backbone = await loadBackbone(model.backbone, model.backboneOptions());
    try {
      const { rows } = await extractFeatures(files, backbone, { cacheDir: featureCache });
      const ok = rows.filter((r) => r !== null);
      const unknown = ok.filter((r) => unknownVerdict(cals, imagenetView(r))!.unknown).length;
      return { falseUnknownRate: unknown / Math.max(1, ok.length), n: ok.length };
    } finally {
      backbone.dispose();
    }
  } finally {
    model.dispose();
  }
}

async function evalFiles(
  dataDir: string,
  o: EvalOptions,
  seed: number,
): Promise<{ files: LabeledFile[]; dataClasses: ClassInfo[]; description: string; split: string; training: LabeledFile[]; skipped: SkippedFile[] }> {
  const ds = await loadDataset(dataDir, { seed });
  if (o.files)
    return {
      files: o.files,
      dataClasses: ds.classes,
      description: o.filesDescription ?? `${o.files.length} given photos`,
      split: o.filesName ?? 'given photos',
      training: o.trainingFiles ?? [],
      skipped: ds.skipped,
    };
  const total = ds.splits.train.length + ds.splits.valid.length + ds.splits.test.length;
  if (o.split === 'all') {
    const files = [...ds.splits.train, ...ds.splits.valid, ...ds.splits.test];
    return {
      files,
      dataClasses: ds.classes,
      description: `all ${total} photos (--split all: the photos the model trained on are included, so this flatters it)`,
      split: 'all',
      training: [],
      skipped: ds.skipped,
    };
  }
  if (ds.splitSource === 'folders') {
    const which = o.split ?? (ds.splits.test.length ? 'test' : 'valid');
    const training = which === 'train' ? [] : ds.splits.train;
    return {
      files: ds.splits[which],
      dataClasses: ds.classes,
      description:
        `the ${which} split folder: ${ds.splits[which].length} of ${total} ` +
        `photos${which === 'train' ? ' (training photos: this flatters the model)' : ''}`,
      split: which,
      training,
      skipped: ds.skipped,
    };
  }
  // no split folders: the same seeded stratified split train makes (70/15/15), held-out part by default
  const which = o.split ?? 'test';
  const part = { train: 'training', valid: 'validation', test: 'held-out test' }[which];
  return {
    files: ds.splits[which],
    dataClasses: ds.classes,
    description:
      `the ${part} part of the seeded 70/15/15 split (seed ${seed}): ${ds.splits[which].length} of ${total} ` +
      `photos${which === 'train' ? ' (this flatters the model)' : ''}`,
    split: which,
    training: which === 'train' ? [] : ds.splits.train,
    skipped: ds.skipped,
  };
}

/** Human-readable report: headline, per-class table, confusion matrix, worst mistakes. */
export function formatReport(r: EvalReport): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const w = Math.max(12, ...r.classes.map((c) => c.length));
  const lines = [
    `${r.resolved.map((m) => m.dir).join(' + ')} on ${r.data}`,
    `scored: ${r.scored.description}`,
    `n=${r.n}, accuracy ${pct(r.accuracy)}, ${Object.entries(r.topK)
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(', ')}, log loss ${r.logLoss.toFixed(3)}` +
      (r.unknown ? `; unknown answer: ${pct(r.unknown.falseUnknownRate)} of these photos of its classes called unknown` : ''),
    '',
  ];
  lines.push(`${'class'.padEnd(w)}  precision  recall     f1  support`);
  for (const c of r.classes) {
    const m = r.perClass[c]!;
    lines.push(`${c.padEnd(w)}  ${pct(m.precision).padStart(9)}  ${pct(m.recall).padStart(6)}  ${pct(m.f1).padStart(6)}  ${String(m.support).padStart(7)}`);
  }
  lines.push(
    `${'macro avg'.padEnd(w)}  ${pct(r.macro.precision).padStart(9)}  ${pct(r.macro.recall).padStart(6)}  ` +
      `${pct(r.macro.f1).padStart(6)}  ${String(r.n).padStart(7)}`,
  );
  lines.push(
    `${'weighted avg'.padEnd(w)}  ${pct(r.weighted.precision).padStart(9)}  ${pct(r.weighted.recall).padStart(6)}  ` +
      `${pct(r.weighted.f1).padStart(6)}  ${String(r.n).padStart(7)}`,
    '',
    'confusion matrix (rows: actual, columns: predicted)',
  );
  r.confusion.forEach((row, i) => lines.push(`${r.classes[i]!.slice(0, w).padEnd(w)}  ${row.map((v) => String(v).padStart(4)).join('')}`));
  if (r.topLosses.length) {
    lines.push('', 'worst mistakes');
    for (const t of r.topLosses) lines.push(`  ${t.file}: ${t.actual} → ${t.predicted} (p(actual) ${t.probabilityOfActual.toFixed(3)})`);
  }
  if (r.failures.length) lines.push('', `${r.failures.length} unreadable files skipped`);
  if (r.pictures) lines.push('', `pictures: ${r.pictures.join(', ')}`);
  return lines.join('\n') + '\n';
}
