import { mkdir, rename, rm, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Write a file so that readers see either the old content or the new one, never a torn file:
 * write to a temporary sibling, fsync, then rename over the target (rename is atomic on POSIX).
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data);
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Replace a whole directory atomically: build it beside the target, then swap with renames.
 * A crash leaves either the previous directory or the new one in place (plus, at worst, a
 * stale `.old-*` / `.tmp-*` sibling that the next call ignores).
 */
export async function writeDirAtomic(target: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(target);
  await mkdir(parent, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = `${target}.tmp-${suffix}`;
  const old = `${target}.old-${suffix}`;
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  let hadOld = false;
  try {
    await rename(target, old);
    hadOld = true;
  } catch {
    // no previous directory: nothing to move aside
  }
  await rename(tmp, target);
  if (hadOld) await rm(old, { recursive: true, force: true });
}
