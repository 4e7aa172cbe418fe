import { open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ImgclassError } from '../util/errors.js';
import { sniffFormat } from './image.js';

/** Why a walk passed over something it met. */
export type SkipReason = 'not-an-image' | 'unsupported-format' | 'broken-link' | 'unreadable' | 'link-cycle';

/** Something a walk passed over, with why (reported to the user, never dropped silently). */
export interface SkippedFile {
  file: string;
  reason: SkipReason;
  detail: string;
}

/** What a walk over files and directories found: the images, and what it passed over. */
export interface WalkResult {
  /** The image files, in the order of the paths given; each directory's files sorted by path. */
  files: string[];
  /** Everything met in a directory that is not a readable image, with the reason: never dropped silently. */
  skipped: SkippedFile[];
}

/** Bytes read to recognise a file: enough for every accepted signature and for naming SVG/PDF/HEIC. */
const SNIFF_BYTES = 512;
/** Files sniffed at once (bounded, so a folder of 100,000 files does not open 100,000 descriptors). */
const SNIFF_CONCURRENCY = 32;

/**
 * The one walk over image paths, shared by the command line, data sets, evaluation and the batch
 * worker. A file named directly is kept whatever it holds: the decoder judges it and the caller
 * reports it per file. A directory is walked recursively and its files are chosen by content (the
 * signature bytes), never by name: a photo named by its hash, with no extension, is an image; a
 * `notes.jpg` holding text is not. Symbolic links to files and to folders are followed (data sets
 * laid out with links, as DVC does); a link back to a folder being walked is a cycle and is not
 * followed. Hidden folders (`.git`, `.dvc`, …) are not entered. Missing named paths throw.
 */
export async function walkImages(paths: readonly string[]): Promise<WalkResult> {
  const files: string[] = [];
  const skipped: SkippedFile[] = [];
  for (const p of paths) {
    let st: import('node:fs').Stats;
    try {
      st = await stat(p);
    } catch {
      throw new ImgclassError('FILE_NOT_FOUND', `No such file or directory: ${p}`);
    }
    if (!st.isDirectory()) {
      files.push(p);
      continue;
    }
    const candidates: string[] = [];
    await collect(p, new Set([await realpath(p)]), candidates, skipped);
    candidates.sort();
    const kinds = await mapBounded(candidates, SNIFF_CONCURRENCY, sniffFile);
    candidates.forEach((file, i) => {
      const k = kinds[i]!;
      if (k === null) files.push(file);
      else skipped.push({ file, ...k });
    });
  }
  return { files, skipped };
}

/** Every regular file below `dir` (links followed), with `ancestors` the real paths being walked. */
async function collect(dir: string, ancestors: Set<string>, out: string[], skipped: SkippedFile[]): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    skipped.push({ file: dir, reason: 'unreadable', detail: `cannot list the folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    return;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const target = await stat(full);
        isDir = target.isDirectory();
        isFile = target.isFile();
      } catch {
        skipped.push({ file: full, reason: 'broken-link', detail: 'symbolic link to nothing' });
        continue;
      }
    }
    if (isDir) {
      if (e.name.startsWith('.')) continue;
      const real = await realpath(full).catch(() => null);
      if (real === null) {
        skipped.push({ file: full, reason: 'unreadable', detail: 'cannot resolve the folder' });
        continue;
      }
      if (ancestors.has(real)) {
        skipped.push({ file: full, reason: 'link-cycle', detail: `links back to ${real}, which is being walked` });
        continue;
      }
      ancestors.add(real);
      await collect(full, ancestors, out, skipped);
      ancestors.delete(real);
    } else if (isFile) {
      out.push(full);
    }
    // sockets, FIFOs and devices are not files anyone keeps photos in: not even opened
  }
}

/** null for an image we decode; else why not. */
async function sniffFile(file: string): Promise<Omit<SkippedFile, 'file'> | null> {
  let head: Uint8Array;
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    return { reason: 'unreadable', detail: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  const fmt = sniffFormat(head);
  if (typeof fmt === 'string') return null;
  return { reason: fmt.rejected.startsWith('not an image') ? 'not-an-image' : 'unsupported-format', detail: head.length === 0 ? 'empty file' : fmt.rejected };
}

async function mapBounded<T, R>(xs: readonly T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await f(xs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, worker));
  return out;
}

const REASON_TEXT: Record<SkipReason, string> = {
  'not-an-image': 'not an image',
  'unsupported-format': 'unsupported format',
  'broken-link': 'broken link',
  unreadable: 'unreadable',
  'link-cycle': 'link cycle not followed',
};

/**
 * The one stderr line that reports what a walk passed over, e.g.
 * `skipped 3 files that are not images (2 not an image, 1 broken link), e.g. data/a/notes.txt`;
 * null when nothing was skipped.
 */
export function describeSkipped(skipped: readonly SkippedFile[]): string | null {
  if (skipped.length === 0) return null;
  const counts = new Map<SkipReason, number>();
  for (const s of skipped) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
  const parts = [...counts].map(([r, n]) => `${n} ${REASON_TEXT[r]}`).join(', ');
  const examples = skipped
    .slice(0, 3)
    .map((s) => s.file)
    .join(', ');
  return (
    `skipped ${skipped.length} ` +
    `${skipped.length === 1 ? 'entry that is not an image' : 'entries that are not images'} (${parts}), e.g. ` +
    `${examples}${skipped.length > 3 ? ', …' : ''}`
  );
}

/** The image files under one folder, for callers that report nothing themselves (benchmarks, tests). */
export async function imageFilesIn(dir: string): Promise<string[]> {
  return (await walkImages([dir])).files;
}
