import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FileStore } from '../util/file-store.js';
import type { ClassInfo } from './class-info.js';
import { loadImagenetClasses } from './imagenet.js';
import { ImgclassError } from '../util/errors.js';
import { DEFAULT_HELD_OUT, DEFAULT_SPLIT_SEED, stratifiedSplit } from './split.js';
import { walkImages, type SkippedFile } from './walk.js';

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
  /** Files in the class folders that are not images (reported by the caller, never silently dropped). */
  skipped: SkippedFile[];
}

export interface DatasetOptions {
  /** For unsplit data: fractions for valid and test (default 0.15 each) and the seed. */
  validFraction?: number;
  testFraction?: number;
  seed?: number;
  store?: FileStore;
}

const SPLIT_DIRS: Record<string, SplitName> = { train: 'train', valid: 'valid', val: 'valid', validation: 'valid', test: 'test' };
const WNID = /^n\d{8}$/;

/**
 * Read a data set laid out like the seeds': `root/{train,valid|val,test}/<class>/<image>`, or
 * `root/<class>/<image>` (then split here, stratified and seeded). Class names come from the
 * folder names: `001.Affenpinscher` → `Affenpinscher`; a WordNet id (`n02086240`) → its name
 * from `root/classes.tsv` if present, else ImageNet's class list. Images are found by content and
 * through symbolic links (see walkImages); a data set, split folder or class with no images is a
 * BAD_DATASET error, and what is not an image is listed in `skipped`.
 */
export async function loadDataset(root: string, opts: DatasetOptions = {}): Promise<Dataset> {
  const dirs = await subdirs(root);
  const splitDirs = dirs.filter((d) => d.toLowerCase() in SPLIT_DIRS);
  const splits: Record<SplitName, LabeledFile[]> = { train: [], valid: [], test: [] };
  const skipped: SkippedFile[] = [];
  const images = async (dir: string) => {
    const w = await walkImages([dir]);
    skipped.push(...w.skipped);
    return w.files;
  };
  let classFolders: string[];
  let splitSource: Dataset['splitSource'];
  const perClass = new Map<number, number>();
  if (splitDirs.length > 0) {
    classFolders = [...new Set((await Promise.all(splitDirs.map((s) => subdirs(path.join(root, s))))).flat())].sort();
    for (const s of splitDirs) {
      const name = SPLIT_DIRS[s.toLowerCase()]!;
      const before = splits[name].length;
      for (const [label, folder] of classFolders.entries()) {
        const dir = path.join(root, s, folder);
        const files = (await exists(dir)) ? await images(dir) : [];
        splits[name].push(...files.map((file) => ({ file, label })));
        perClass.set(label, (perClass.get(label) ?? 0) + files.length);
      }
      // An empty split folder is a mistake (a failed copy, links to nowhere), never a quiet success.
      if (splits[name].length === before)
        throw new ImgclassError('BAD_DATASET', `${path.join(root, s)}: the ${name} split holds no images${skippedHint(skipped)}`);
    }
    splitSource = 'folders';
  } else {
    classFolders = dirs.sort();
    const all: LabeledFile[] = [];
    for (const [label, folder] of classFolders.entries()) {
      const files = await images(path.join(root, folder));
      all.push(...files.map((file) => ({ file, label })));
      perClass.set(label, files.length);
    }
    const parts = stratifiedSplit(
      all.map((f) => f.label),
      { valid: opts.validFraction ?? DEFAULT_HELD_OUT.valid, test: opts.testFraction ?? DEFAULT_HELD_OUT.test },
      opts.seed ?? DEFAULT_SPLIT_SEED,
    );
    for (const s of ['train', 'valid', 'test'] as const) splits[s] = parts[s].map((i) => all[i]!);
    splitSource = 'stratified';
  }
  if (classFolders.length < 2)
    throw new ImgclassError(
      'BAD_DATASET',
      `${root}: found ${classFolders.length} class folder(s); a data set needs at least two (root/<class>/<images> or root/train/<class>/<images>)`,
    );
  const empty = classFolders.filter((_, i) => !perClass.get(i));
  if (empty.length === classFolders.length) throw new ImgclassError('BAD_DATASET', `${root}: no images in any class folder${skippedHint(skipped)}`);
  if (empty.length > 0)
    throw new ImgclassError(
      'BAD_DATASET',
      `${root}: class folder${empty.length > 1 ? 's' : ''} ${empty.join(', ')} hold${empty.length > 1 ? '' : 's'} no images${skippedHint(skipped)}`,
    );
  const classes = await nameClasses(root, classFolders, opts.store);
  return { root, classes, splits, splitSource, skipped };
}

function skippedHint(skipped: SkippedFile[]): string {
  return skipped.length ? ` (${skipped.length} other entries were not images, e.g. ${skipped[0]!.file}: ${skipped[0]!.detail})` : '';
}

async function nameClasses(root: string, folders: string[], store?: FileStore): Promise<ClassInfo[]> {
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
    return new Map(
      rows
        .map((r) => r.split('\t'))
        .filter((c) => c.length >= 2)
        .map((c) => [c[0]!, c[1]!]),
    );
  } catch {
    return new Map();
  }
}

/** Visible sub-folders, symbolic links to folders included (class folders may be links). */
async function subdirs(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    throw new ImgclassError('BAD_DATASET', `cannot read data set directory ${dir}`);
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (
      e.isDirectory() ||
      (e.isSymbolicLink() &&
        (await stat(path.join(dir, e.name)).then(
          (s) => s.isDirectory(),
          () => false,
        )))
    )
      out.push(e.name);
  }
  return out;
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
    throw new ImgclassError(
      'BAD_DATASET',
      `data class "${dc.name}"${dc.wnid ? ` (${dc.wnid})` : ''} is not one of the model's classes: ${modelClasses.map((m) => m.name).join(', ')}`,
    );
  });
}
