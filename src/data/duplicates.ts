import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { LabeledFile, SplitName } from './dataset.js';
import { leaksBy } from './leaks.js';

/**
 * Byte-identical photos. A copy of a validation or test photo among the training photos scores
 * the model on what it memorised (the vehicles set holds three such pairs, one across train and
 * valid). Identity is the sha256 of the file's bytes: re-encoded or resized copies are not found.
 */
export interface DuplicateGroup {
  sha256: string;
  files: { file: string; label: number; split: SplitName }[];
}

export interface DuplicateReport {
  groups: DuplicateGroup[];
  /** Groups whose copies sit in more than one split (leakage between training and scoring). */
  acrossSplits: DuplicateGroup[];
  /** Groups whose copies carry different labels (at least one of them is mislabelled). */
  acrossLabels: DuplicateGroup[];
  /** Photos beyond the first of each group. */
  redundant: number;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Hash every file once (memoised per process: explore, train and eval may ask about the same set). */
const memo = new Map<string, Promise<string>>();
export function contentHash(file: string): Promise<string> {
  let p = memo.get(file);
  if (!p) {
    p = sha256File(file);
    memo.set(file, p);
  }
  return p;
}

export async function findDuplicates(splits: Partial<Record<SplitName, LabeledFile[]>>): Promise<DuplicateReport> {
  const byHash = new Map<string, DuplicateGroup['files']>();
  for (const [split, files] of Object.entries(splits) as [SplitName, LabeledFile[]][]) {
    for (const f of files) {
      const h = await contentHash(f.file);
      byHash.set(h, [...(byHash.get(h) ?? []), { file: f.file, label: f.label, split }]);
    }
  }
  const groups = [...byHash.entries()].filter(([, fs]) => fs.length > 1).map(([sha256, files]) => ({ sha256, files }));
  return {
    groups,
    acrossSplits: groups.filter((g) => new Set(g.files.map((f) => f.split)).size > 1),
    acrossLabels: groups.filter((g) => new Set(g.files.map((f) => f.label)).size > 1),
    redundant: groups.reduce((a, g) => a + g.files.length - 1, 0),
  };
}

/** The scored photos that have a byte-identical copy among the training photos, each with its copies. */
export async function leakedIntoTraining(scored: LabeledFile[], training: LabeledFile[]): Promise<{ file: string; copies: string[] }[]> {
  return leaksBy(
    scored,
    training,
    (f) => contentHash(f.file),
    (f) => f.file,
  );
}

/** One warning line (or none) for the command line. */
export function leakageWarning(leaks: { file: string; copies: string[] }[], what: string, root?: string): string | null {
  if (leaks.length === 0) return null;
  const rel = (f: string) => (root && f.startsWith(root) ? f.slice(root.length).replace(/^\/+/, '') : f);
  const shown = leaks
    .slice(0, 5)
    .map((l) => `${rel(l.file)} = ${l.copies.map(rel).join(', ')}`)
    .join('; ');
  return (
    `warning: ${leaks.length} ${what} photo${leaks.length > 1 ? 's have' : ' has'} a byte-identical copy among ` +
    `the training photos (${shown}${leaks.length > 5 ? '; …' : ''}): their scores are memory, not generalisation`
  );
}
