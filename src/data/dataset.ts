import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadImagenetClasses } from '../models/imagenet.js';
import type { ClassInfo } from '../models/model-dir.js';
import type { ModelStore } from '../models/store.js';
import { ImgclassError } from '../util/errors.js';
import { listImageFiles } from '../util/files.js';
import { stratifiedSplit } from './split.js';

export type SplitName = 'train' | 'valid' | 'test';

export interface LabeledFile {
  file: string;
  /** Index into `Dataset.classes`. */
  label: number;
}

/** A folder-per-class image set with its train / valid / test parts. */
export interface Dataset {
  root: string;
  classes: ClassInfo[];
  splits: Record<SplitName, LabeledFile[]>;
  /** 'folders' when the data came split; 'stratified' when we split it (seeded). */
  splitSource: 'folders' | 'stratified';
}

export interface DatasetOptions {
  /** For unsplit data: fractions for valid and test (default 0.15 each) and the seed. */
  validFraction?: number;
  testFraction?: number;
  seed?: number;
  store?: ModelStore;
}

const SPLIT_DIRS: Record<string, SplitName> = { train: 'train', valid: 'valid', val: 'valid', validation: 'valid', test: 'test' };
const WNID = /^n\d{8}$/;

/**
 * Read a data set laid out like the seeds': `root/{train,valid|val,test}/<class>/<image>`, or
 * `root/<class>/<image>` (then split here, stratified and seeded). Class names come from the
 * folder names: `001.Affenpinscher` → `Affenpinscher`; a WordNet id (`n02086240`) → its name
 * from `root/classes.tsv` if present, else ImageNet's class list.
 */
export async function loadDataset(root: string, opts: DatasetOptions = {}): Promise<Dataset> {
  const dirs = await subdirs(root);
  const splitDirs = dirs.filter((d) => d.toLowerCase() in SPLIT_DIRS);
  const splits: Record<SplitName, LabeledFile[]> = { train: [], valid: [], test: [] };
  let classFolders: string[];
  let splitSource: Dataset['splitSource'];
  if (splitDirs.length > 0) {
    classFolders = [...new Set((await Promise.all(splitDirs.map((s) => subdirs(path.join(root, s))))).flat())].sort();
    for (const s of splitDirs) {
      const name = SPLIT_DIRS[s.toLowerCase()]!;
      for (const [label, folder] of classFolders.entries()) {
        const dir = path.join(root, s, folder);
        const files = (await exists(dir)) ? await listImageFiles(dir) : [];
        splits[name].push(...files.map((file) => ({ file, label })));
      }
    }
    splitSource = 'folders';
  } else {
    classFolders = dirs.sort();
    const all: LabeledFile[] = [];
    for (const [label, folder] of classFolders.entries()) all.push(...(await listImageFiles(path.join(root, folder))).map((file) => ({ file, label })));
    const parts = stratifiedSplit(all.map((f) => f.label), { valid: opts.validFraction ?? 0.15, test: opts.testFraction ?? 0.15 }, opts.seed ?? 42);
    for (const s of ['train', 'valid', 'test'] as const) splits[s] = parts[s].map((i) => all[i]!);
    splitSource = 'stratified';
  }
  if (classFolders.length < 2) throw new ImgclassError('BAD_DATASET', `${root}: found ${classFolders.length} class folder(s); a data set needs at least two (root/<class>/<images> or root/train/<class>/<images>)`);
  const classes = await nameClasses(root, classFolders, opts.store);
  return { root, classes, splits, splitSource };
}

async function nameClasses(root: string, folders: string[], store?: ModelStore): Promise<ClassInfo[]> {
  const own = await readClassesTsv(path.join(root, 'classes.tsv'));
  const needsImagenet = folders.some((f) => WNID.test(f) && !own.has(f));
  const imagenet = needsImagenet ? new Map((await loadImagenetClasses(store)).map((c) => [c.wnid, c.name])) : new Map<string, string>();
  return folders.map((f) => {
    if (WNID.test(f)) return { name: own.get(f) ?? imagenet.get(f) ?? f, wnid: f };
    return { name: own.get(f) ?? f.replace(/^\d+\./, '').replace(/_/g, ' ') };
  });
}

/** `classes.tsv` with a header; first column the folder (or WordNet id), second the name. */
async function readClassesTsv(file: string): Promise<Map<string, string>> {
  try {
    const rows = (await readFile(file, 'utf8')).trim().split('\n').slice(1);
    return new Map(rows.map((r) => r.split('\t')).filter((c) => c.length >= 2).map((c) => [c[0]!, c[1]!]));
  } catch {
    return new Map();
  }
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  } catch {
    throw new ImgclassError('BAD_DATASET', `cannot read data set directory ${dir}`);
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** A short fingerprint of which files (by path and size) make up each split: stored with every run. */
export async function fingerprint(ds: Dataset): Promise<{ sha256: string; counts: Record<SplitName, number> }> {
  const h = createHash('sha256');
  for (const s of ['train', 'valid', 'test'] as const) {
    for (const f of ds.splits[s]) h.update(`${s}\t${f.label}\t${path.relative(ds.root, f.file)}\t${(await stat(f.file)).size}\n`);
  }
  return { sha256: h.digest('hex').slice(0, 16), counts: { train: ds.splits.train.length, valid: ds.splits.valid.length, test: ds.splits.test.length } };
}

/** Match another data set's class folders to a model's classes, by WordNet id first, then by name. */
export function matchClasses(modelClasses: ClassInfo[], dataClasses: ClassInfo[]): number[] {
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  return dataClasses.map((dc) => {
    const byWnid = dc.wnid ? modelClasses.findIndex((m) => m.wnid === dc.wnid) : -1;
    if (byWnid >= 0) return byWnid;
    const byName = modelClasses.findIndex((m) => norm(m.name) === norm(dc.name));
    if (byName >= 0) return byName;
    throw new ImgclassError('BAD_DATASET', `data class "${dc.name}"${dc.wnid ? ` (${dc.wnid})` : ''} is not one of the model's classes: ${modelClasses.map((m) => m.name).join(', ')}`);
  });
}
