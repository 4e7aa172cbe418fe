import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ImgclassError } from './errors.js';

/** File endings we try to read as images when walking a directory (content is still sniffed). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

/** Sorted list of every file under `dir` (recursively) whose ending looks like an image. */
export async function listImageFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/**
 * Expand CLI paths: a file stays itself (whatever its ending: the decoder judges content),
 * a directory becomes all image files below it.
 */
export async function expandPaths(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new ImgclassError('FILE_NOT_FOUND', `No such file or directory: ${p}`);
    }
    if (st.isDirectory()) out.push(...(await listImageFiles(p)));
    else out.push(p);
  }
  return out;
}
