import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeImage, type DecodeLimits } from '../data/image.js';
import { IMBALANCE_WARN_RATIO } from '../data/class-info.js';
import { stratifiedSplit } from '../data/split.js';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError, isImgclassError } from '../util/errors.js';

/**
 * The web page's training runs on disk. A page run is an ordinary run directory under the
 * server's runs folder (`serve --runs DIR`), so every command of the CLI works on it:
 *
 *     runs/<id>/page.json        what the page knows: classes, rejected uploads, hashes, status
 *     runs/<id>/data/<class>/    the uploaded photos (the data set `train` reads)
 *     runs/<id>/config.json …    what `imgclass train runs/<id>/data --out runs/<id>` writes
 *
 * Uploads are stored only under their run: the run id and the class folder are checked against
 * what the server itself created, and the file name is rebuilt from safe characters.
 */
export const PAGE_FILE = 'page.json';
export const DATA_DIR = 'data';

/** Where a page run stands. 'interrupted': the server stopped while it was queued or training. */
export type RunStatus = 'filling' | 'queued' | 'training' | 'trained' | 'stopped' | 'failed' | 'interrupted';

export interface PageClass {
  name: string;
  /** Folder under data/ (the name with unsafe characters replaced). */
  folder: string;
}

export interface PageRun {
  version: 1;
  id: string;
  createdAt: string;
  classes: PageClass[];
  /** Uploads refused (not stored): what they were called and why. */
  rejected: { class: string; file: string; reason: string }[];
  /** Stored photos: `folder/file` → sha256 of the bytes (byte-identical copies, re-drops). */
  photos: Record<string, string>;
  /** Photos whose bytes the class already holds (dropped twice, or copies in the folder): kept once. */
  repeats: { class: string; file: string; sameAs: string }[];
  status: RunStatus;
  error?: string;
  /** Training options changed from the defaults for this run (epochs, patience), if any. */
  options?: Record<string, number>;
}

export interface TrainLimits {
  maxPhotosPerClass: number;
  maxClasses: number;
  /** Bytes of one uploaded photo (the server's decode limit). */
  maxBytes: number;
}

/** Below this a class is warned about (explore's rule of thumb for transfer learning). */
export const FEW_PHOTOS = 10;
/** A class needs this many photos to land in each of train, validation and held-out test. */
export const MIN_PHOTOS = 4;
/** The CLI's split for a folder-per-class set without split folders (data/dataset.ts). */
const SPLIT = { valid: 0.15, test: 0.15 };
const SPLIT_NAMES = new Set(['train', 'valid', 'val', 'validation', 'test']);

/** What `explore` shows, for the photos of a page run so far. */
export interface RunSummary {
  classes: { name: string; folder: string; photos: number }[];
  photos: number;
  rejected: PageRun['rejected'];
  /** Groups of byte-identical photos stored in more than one class. */
  duplicates: { files: string[]; classes: string[] }[];
  repeats: PageRun['repeats'];
  imbalance: { ratio: number; largest: string; smallest: string; imbalanced: boolean } | null;
  /** How the CLI's seeded split divides these photos (15% validation, 15% held-out test per class). */
  split: { train: number; valid: number; test: number };
  warnings: string[];
  /** Why Train is not possible yet (empty when it is). */
  blockers: string[];
}

const RUN_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

export class TrainStore {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly root: string,
    readonly limits: TrainLimits,
  ) {}

  runDir(id: string): string {
    if (!RUN_ID.test(id)) throw new ImgclassError('BAD_OPTION', `no run ${JSON.stringify(id)}`);
    return path.join(this.root, id);
  }

  dataDir(id: string): string {
    return path.join(this.runDir(id), DATA_DIR);
  }

  /** One change at a time per run: page.json is read, changed and written whole. */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.locks.set(
      id,
      next.catch(() => {}),
    );
    return next;
  }

  async create(): Promise<PageRun> {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const id = `page-${stamp}-${randomBytes(3).toString('hex')}`;
    const run: PageRun = { version: 1, id, createdAt: new Date().toISOString(), classes: [], rejected: [], photos: {}, repeats: [], status: 'filling' };
    await mkdir(this.dataDir(id), { recursive: true });
    await this.write(run);
    return run;
  }

  async read(id: string): Promise<PageRun> {
    const text = await readFile(path.join(this.runDir(id), PAGE_FILE), 'utf8').catch(() => null);
    if (text === null) throw new ImgclassError('FILE_NOT_FOUND', `no run ${id}`);
    return JSON.parse(text) as PageRun;
  }

  private write(run: PageRun): Promise<void> {
    return writeFileAtomic(path.join(this.runDir(run.id), PAGE_FILE), JSON.stringify(run, null, 2) + '\n');
  }

  async update(id: string, change: (run: PageRun) => void): Promise<PageRun> {
    return this.locked(id, async () => {
      const run = await this.read(id);
      change(run);
      await this.write(run);
      return run;
    });
  }

  /** Every page run here, newest first (unreadable entries are left out: they are not page runs). */
  async list(): Promise<PageRun[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const runs = await Promise.all(names.filter((n) => RUN_ID.test(n)).map((n) => this.read(n).catch(() => null)));
    return runs.filter((r): r is PageRun => r !== null).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async addClass(id: string, rawName: unknown): Promise<PageRun> {
    const name = typeof rawName === 'string' ? rawName.trim().replace(/\s+/g, ' ') : '';
    if (!name) throw new ImgclassError('BAD_OPTION', 'give the class a name');
    if (name.length > 60) throw new ImgclassError('BAD_OPTION', 'a class name has at most 60 characters');
    const folder = classFolder(name);
    if (SPLIT_NAMES.has(folder.toLowerCase()))
      throw new ImgclassError('BAD_OPTION', `"${name}" cannot be a class name: train, valid, val, validation and test name the parts of a data set`);
    return this.update(id, (run) => {
      editable(run);
      if (run.classes.length >= this.limits.maxClasses) throw new ImgclassError('BAD_OPTION', `at most ${this.limits.maxClasses} classes`);
      if (run.classes.some((c) => c.folder.toLowerCase() === folder.toLowerCase())) throw new ImgclassError('BAD_OPTION', `there is already a class "${name}"`);
      // the model will call the class by its folder name: the page says the same
      run.classes.push({ name: folder, folder });
    });
  }

  async removeClass(id: string, folder: string): Promise<PageRun> {
    const run = await this.update(id, (r) => {
      editable(r);
      if (!r.classes.some((c) => c.folder === folder)) throw new ImgclassError('FILE_NOT_FOUND', `no class ${folder}`);
      r.classes = r.classes.filter((c) => c.folder !== folder);
      r.photos = Object.fromEntries(Object.entries(r.photos).filter(([k]) => !k.startsWith(folder + '/')));
      r.rejected = r.rejected.filter((x) => x.class !== folder);
      r.repeats = r.repeats.filter((x) => x.class !== folder);
    });
    await rm(path.join(this.dataDir(id), folder), { recursive: true, force: true });
    return run;
  }

  /**
   * Check one uploaded photo and store it under its class, or say why not. A photo that cannot be
   * decoded (not an image, truncated, too large) is listed in `rejected`, never stored; the same
   * bytes dropped again into the same class are counted, not stored twice.
   */
  async addPhoto(
    id: string,
    folder: string,
    rawName: string,
    bytes: Uint8Array,
    decodeLimits: Partial<DecodeLimits>,
  ): Promise<{ outcome: 'stored' | 'rejected' | 'repeat'; file: string; reason?: string }> {
    const fileName = safeFileName(rawName);
    const run = await this.read(id);
    editable(run);
    const cls = run.classes.find((c) => c.folder === folder);
    if (!cls) throw new ImgclassError('FILE_NOT_FOUND', `no class ${folder} in run ${id}`);
    let reason: string | null = null;
    try {
      if (bytes.length > this.limits.maxBytes)
        throw new ImgclassError(
          'TOO_MANY_BYTES',
          `the photo is ${(bytes.length / 1e6).toFixed(1)} MB; the limit is ${(this.limits.maxBytes / 1e6).toFixed(1)} MB`,
        );
      // the whole photo is decoded, as training will: a truncated JPEG is caught here, not mid-run
      await decodeImage(bytes, { ...decodeLimits, maxBytes: this.limits.maxBytes });
    } catch (e) {
      if (!isImgclassError(e)) throw e;
      reason = e.message;
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    const tmp = path.join(this.runDir(id), '.incoming', `${randomBytes(8).toString('hex')}`);
    if (reason === null) await writeFileAtomic(tmp, bytes);
    try {
      return await this.locked(id, async () => {
        const now = await this.read(id);
        editable(now);
        if (!now.classes.some((c) => c.folder === folder)) throw new ImgclassError('FILE_NOT_FOUND', `no class ${folder} in run ${id}`);
        if (reason !== null) {
          now.rejected.push({ class: folder, file: fileName, reason });
          await this.write(now);
          return { outcome: 'rejected' as const, file: fileName, reason };
        }
        const inClass = Object.entries(now.photos).filter(([k]) => k.startsWith(folder + '/'));
        const same = inClass.find(([, h]) => h === sha);
        if (same) {
          now.repeats.push({ class: folder, file: fileName, sameAs: same[0] });
          await this.write(now);
          return { outcome: 'repeat' as const, file: fileName };
        }
        if (inClass.length >= this.limits.maxPhotosPerClass)
          throw new ImgclassError('BAD_OPTION', `class ${cls.name} already has ${this.limits.maxPhotosPerClass} photos, the limit per class`);
        const stored = uniqueName(fileName, new Set(inClass.map(([k]) => k.slice(folder.length + 1))));
        const target = path.join(this.dataDir(id), folder, stored);
        await mkdir(path.dirname(target), { recursive: true });
        await rename(tmp, target);
        now.photos[`${folder}/${stored}`] = sha;
        await this.write(now);
        return { outcome: 'stored' as const, file: stored };
      });
    } finally {
      await rm(tmp, { force: true });
    }
  }

  summary(run: PageRun): RunSummary {
    const counts = run.classes.map((c) => ({ ...c, photos: Object.keys(run.photos).filter((k) => k.startsWith(c.folder + '/')).length }));
    const byHash = new Map<string, string[]>();
    for (const [k, h] of Object.entries(run.photos)) byHash.set(h, [...(byHash.get(h) ?? []), k]);
    const nameOf = (folder: string) => run.classes.find((c) => c.folder === folder)?.name ?? folder;
    const duplicates = [...byHash.values()]
      .filter((files) => files.length > 1)
      .map((files) => ({ files, classes: [...new Set(files.map((f) => nameOf(f.split('/')[0]!)))] }));
    const filled = counts.filter((c) => c.photos > 0);
    let imbalance: RunSummary['imbalance'] = null;
    if (filled.length >= 2) {
      const sorted = [...filled].sort((a, b) => b.photos - a.photos);
      const ratio = sorted[0]!.photos / sorted.at(-1)!.photos;
      imbalance = { ratio, largest: sorted[0]!.name, smallest: sorted.at(-1)!.name, imbalanced: ratio >= IMBALANCE_WARN_RATIO };
    }
    // the CLI's split, per class (stratifiedSplit rounds each class's share)
    const labels = counts.flatMap((c, i) => new Array<number>(c.photos).fill(i));
    const parts = stratifiedSplit(labels, SPLIT, 42);
    const split = { train: parts.train.length, valid: parts.valid.length, test: parts.test.length };
    const warnings: string[] = [];
    const blockers: string[] = [];
    if (run.classes.length < 2) blockers.push(`a classifier needs at least two classes (there ${run.classes.length === 1 ? 'is one' : 'are none'})`);
    for (const c of counts) {
      if (c.photos === 0) blockers.push(`class ${c.name} has no photos`);
      else if (c.photos < MIN_PHOTOS)
        blockers.push(
          `class ${c.name} has ${c.photos} photo${c.photos === 1 ? '' : 's'}; it needs at least ${MIN_PHOTOS} to be in training, validation and the held-out test`,
        );
      else if (c.photos < FEW_PHOTOS)
        warnings.push(
          `class ${c.name} has only ${c.photos} photos: below ${FEW_PHOTOS} a class is learned poorly and its held-out figures rest on one or two photos`,
        );
    }
    if (imbalance?.imbalanced)
      warnings.push(
        `imbalanced: ${imbalance.largest} has ${imbalance.ratio.toFixed(1)}× the photos of ${imbalance.smallest}; accuracy flatters the large classes (read the per-class figures)`,
      );
    const across = duplicates.filter((d) => d.classes.length > 1);
    if (across.length)
      warnings.push(
        `${across.length} photo${across.length === 1 ? ' is' : 's are'} in more than one class (byte-identical copies): the labels contradict each other`,
      );
    else if (duplicates.length) warnings.push(`${duplicates.length} groups of byte-identical copies`);
    if (run.rejected.length)
      warnings.push(`${run.rejected.length} file${run.rejected.length === 1 ? ' was' : 's were'} not stored: they cannot be read as photos (listed below)`);
    return {
      classes: counts,
      photos: counts.reduce((a, c) => a + c.photos, 0),
      rejected: run.rejected,
      duplicates,
      repeats: run.repeats,
      imbalance,
      split,
      warnings,
      blockers,
    };
  }

  /** Remove what a killed upload may have left (its half-written temporary files). */
  async clean(id: string): Promise<void> {
    await rm(path.join(this.runDir(id), '.incoming'), { recursive: true, force: true });
  }

  async exists(id: string, file: string): Promise<boolean> {
    return stat(path.join(this.runDir(id), file)).then(
      () => true,
      () => false,
    );
  }
}

function editable(run: PageRun): void {
  if (run.status !== 'filling' && run.status !== 'failed')
    throw new ImgclassError('BAD_OPTION', `run ${run.id} is ${run.status}: its photos can no longer change (start a new run to train on other photos)`);
}

/** A folder name for a class: letters (any script), digits, space and -; nothing that walks out of data/. */
export function classFolder(name: string): string {
  const folder = name
    .normalize('NFC')
    // the CLI reads "_" in a folder name as a space: keep the page's name and the model's the same
    .replace(/_/g, ' ')
    .replace(/[^\p{L}\p{N} -]/gu, '-')
    .replace(/\s+/g, ' ')
    .trim();
  if (!folder || /^[- ]+$/.test(folder)) throw new ImgclassError('BAD_OPTION', `"${name}" has no letters or digits to name a folder with`);
  return folder;
}

/** A stored file name from whatever the browser sent: the last path part, safe characters only, no leading dot. */
export function safeFileName(raw: string): string {
  const base = (raw.split(/[\\/]/).pop() ?? '').normalize('NFC');
  const cleaned = base
    .replace(/[^\p{L}\p{N}._-]/gu, '_')
    .replace(/^[._]+/, '')
    .slice(-100);
  return cleaned || 'photo';
}

function uniqueName(name: string, taken: Set<string>): string {
  if (!taken.has(name)) return name;
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let i = 2; ; i++) if (!taken.has(`${stem}-${i}${ext}`)) return `${stem}-${i}${ext}`;
}
