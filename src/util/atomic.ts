import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Write a file so that readers see either the old content or the new one, never a torn file:
 * write to a temporary sibling, fsync, then rename over the target (rename is atomic on POSIX).
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = tempSibling(target);
  try {
    await writeFile(tmp, data);
    await commitFile(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** A unique temporary name beside `target`, for a file written elsewhere and then committed. */
export function tempSibling(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** fsync a finished temporary file and rename it over `target` (the second half of writeFileAtomic, for files another writer produced, e.g. onnxruntime). */
export async function commitFile(tmp: string, target: string): Promise<void> {
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, target);
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

/**
 * The directory to read for `target`: itself, or, when a writer was killed between the two
 * renames of writeDirAtomic (target moved aside, the new one not yet in place), the complete
 * previous version it left as `target.old-*`. Read-only: readers never repair.
 */
export async function settledDir(target: string): Promise<string> {
  try {
    await stat(target);
    return target;
  } catch {
    const old = await siblings(target, '.old-');
    return old[0] ?? target;
  }
}

/**
 * For the one writer of `target` before it writes again: put back a previous version left by an
 * interrupted swap, and remove half-built `.tmp-*` copies and superseded `.old-*` ones.
 */
export async function recoverDir(target: string): Promise<void> {
  const old = await siblings(target, '.old-');
  let present = await stat(target).then(
    () => true,
    () => false,
  );
  if (!present && old.length > 0) {
    await rename(old.shift()!, target);
    present = true;
  }
  for (const stale of [...old, ...(await siblings(target, '.tmp-'))]) await rm(stale, { recursive: true, force: true });
}

/** For the one writer of `dir`: remove the temporary files writeFileAtomic left when killed mid-write. */
export async function removeStaleTempFiles(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names.filter((x) => /\.tmp-\d+-[0-9a-f]{8}$/.test(x))) await rm(path.join(dir, n), { force: true });
}

/** `target<infix>*` siblings, newest first. */
async function siblings(target: string, infix: string): Promise<string[]> {
  const dir = path.dirname(target);
  const prefix = path.basename(target) + infix;
  const names = await readdir(dir).catch(() => [] as string[]);
  const found = await Promise.all(
    names.filter((n) => n.startsWith(prefix)).map(async (n) => ({ p: path.join(dir, n), t: (await stat(path.join(dir, n)).catch(() => null))?.mtimeMs ?? 0 })),
  );
  return found.sort((a, b) => b.t - a.t).map((f) => f.p);
}
