import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ImgclassError } from '../util/errors.js';
import { isUrl } from './names.js';

/**
 * `--files-from FILE`: one input per line (a path, a directory, or an http(s) URL); blank lines
 * and lines starting with `#` are skipped; `-` reads standard input.
 */
export async function readFilesFrom(file: string): Promise<string[]> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch {
    throw new ImgclassError('FILE_NOT_FOUND', `--files-from: cannot read ${file}`);
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A batch's inputs in order: URLs as given, paths through `walk` (the same directory walking as
 * `predict`) and made absolute, since a worker on another machine reads them from shared storage
 * mounted at the same place.
 */
export async function resolveInputs(args: string[], walk: (paths: string[]) => Promise<string[]>): Promise<string[]> {
  const out: string[] = [];
  let run: string[] = [];
  const flush = async () => {
    if (run.length) out.push(...(await walk(run)).map((f) => path.resolve(f)));
    run = [];
  };
  for (const a of args) {
    if (isUrl(a)) {
      await flush();
      out.push(a);
    } else run.push(a);
  }
  await flush();
  return out;
}
