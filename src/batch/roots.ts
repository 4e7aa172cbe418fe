import { constants } from 'node:fs';
import { open, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_DECODE_LIMITS } from '../data/image.js';
import { tooManyBytes } from '../data/upload.js';
import { ImgclassError } from '../util/errors.js';

/**
 * The directories a worker reads files from (`--root DIR…`, default its working directory), each
 * as given and as its real path: a job names a path on storage the workers share, and nothing else
 * on the machine is any job's business.
 */
export interface Roots {
  /** The real paths of the roots (symlinks resolved), for the final check. */
  real: string[];
  /** The roots as given, made absolute, for the first check that touches no file. */
  given: string[];
}

export async function resolveRoots(dirs: readonly string[]): Promise<Roots> {
  const given = (dirs.length ? dirs : [process.cwd()]).map((d) => path.resolve(d));
  const real: string[] = [];
  for (const d of given) {
    try {
      real.push(await realpath(d));
    } catch {
      throw new ImgclassError('BAD_OPTION', `--root: ${d} does not exist`);
    }
  }
  return { given, real };
}

const inside = (file: string, dir: string) => file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

function refusedPath(file: string, why: string): ImgclassError {
  return new ImgclassError('PATH_REFUSED', `refused ${file}: ${why} (see worker --root)`);
}

/**
 * Read one job's file, only if it lies under a root once every symlink is resolved. A path with a
 * ".." segment or lexically outside every root is refused before the file system is touched (the
 * answer says nothing about what exists there); a link out of a root is refused after realpath; and
 * the file actually opened is checked once more through /proc/self/fd, so a directory swapped for
 * a link between the check and the open is caught too. Returns the bytes (at most maxBytes).
 */
export async function readConfinedFile(file: string, roots: Roots, maxBytes = DEFAULT_DECODE_LIMITS.maxBytes): Promise<Buffer> {
  if (file.includes('\0')) throw refusedPath(JSON.stringify(file), 'a path with a NUL byte');
  if (file.split(/[\\/]/).includes('..')) throw refusedPath(file, 'a path with ".." is never read');
  const abs = path.resolve(file);
  const all = [...roots.given, ...roots.real];
  if (!all.some((r) => inside(abs, r))) throw refusedPath(file, `outside the worker's roots (${roots.given.join(', ')})`);
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    throw new ImgclassError('FILE_NOT_FOUND', `Cannot read ${file}: no such file`);
  }
  if (!roots.real.some((r) => inside(real, r))) throw refusedPath(file, `a symbolic link out of the worker's roots (to ${real})`);
  const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => {
    throw new ImgclassError('FILE_NOT_FOUND', `Cannot read ${file}: no such file`);
  });
  try {
    const opened = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => real);
    if (!roots.real.some((r) => inside(opened, r))) throw refusedPath(file, `a symbolic link out of the worker's roots (to ${opened})`);
    const st = await fh.stat();
    if (!st.isFile()) throw new ImgclassError('NOT_AN_IMAGE', `${file} is not a regular file`);
    // the same words as predict reading the file itself (data/image.ts readImageFile)
    if (st.size > maxBytes) throw tooManyBytes(st.size, maxBytes);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
