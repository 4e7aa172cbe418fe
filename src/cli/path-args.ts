import { readFile } from 'node:fs/promises';
import { describeSkipped, walkImages, type SkippedFile } from '../data/walk.js';
import { ImgclassError } from '../util/errors.js';

/**
 * The files a `predict` / `classify` run reads: paths from the command line, from `--files-from`
 * lists, and from standard input where a path is `-` (as `find … | imgclass predict -`). Lists
 * hold one path per line, or NUL-separated paths (`find -print0`), so any number of paths gets in
 * without a long command line. Directories are walked (content-sniffed, links followed); what the
 * walk passes over is reported in one line on stderr.
 */
export async function filesFromArgs(paths: readonly string[], filesFrom: readonly string[] = []): Promise<string[]> {
  const all: string[] = [];
  let stdinUsed = false;
  const fromStdin = async () => {
    if (stdinUsed) throw new ImgclassError('BAD_OPTION', 'standard input (-) can be read only once');
    stdinUsed = true;
    if (process.stdin.isTTY)
      throw new ImgclassError(
        'BAD_OPTION',
        '`-` reads paths from standard input, but it is a terminal: pipe a list in (find DIR -type f | imgclass predict -)',
      );
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  for (const list of filesFrom) {
    let text: string;
    if (list === '-') text = await fromStdin();
    else {
      try {
        text = await readFile(list, 'utf8');
      } catch {
        throw new ImgclassError('FILE_NOT_FOUND', `--files-from ${list}: cannot read the list`);
      }
    }
    all.push(...splitList(text));
  }
  for (const p of paths) {
    if (p === '-') all.push(...splitList(await fromStdin()));
    else all.push(p);
  }
  const walked = await walkImages(all);
  reportSkipped(walked.skipped);
  return walked.files;
}

/** NUL-separated when the list has a NUL (paths may hold newlines), else one path per line. */
export function splitList(text: string): string[] {
  const parts = text.includes('\0') ? text.split('\0') : text.split(/\r?\n/);
  return parts.filter((p) => p.length > 0);
}

/** The one stderr line about entries of a data set that are not images. */
export function reportSkipped(skipped: readonly SkippedFile[]): void {
  const note = describeSkipped(skipped);
  if (note) process.stderr.write(`imgclass: ${note}\n`);
}
