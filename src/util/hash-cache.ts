import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { sha256File } from './file-store.js';

/**
 * A file's sha256, remembered under `<cacheDir>/hashes/` and keyed by what the file system says of
 * it (path, device, inode, size, and the modification and change times to the nanosecond), so
 * that a start does not read and hash a model it hashed before: the conversion and session caches
 * are keyed by their sources' content, and hashing MobileNet's shards and the detectors took a cold
 * `predict` ~50–75 ms before its first session could start (docs/startup.md). Any write to the file
 * changes its change time, so a stale entry is never read; an entry that cannot be read or written
 * only costs the hash.
 */
export async function sha256FileCached(file: string, cacheDir: string): Promise<string> {
  const s = await stat(file, { bigint: true });
  const key = createHash('sha256')
    .update(JSON.stringify([path.resolve(file), String(s.dev), String(s.ino), String(s.size), String(s.mtimeNs), String(s.ctimeNs)]))
    .digest('hex');
  const entry = path.join(cacheDir, 'hashes', key.slice(0, 32));
  const known = await readFile(entry, 'utf8').catch(() => '');
  if (/^[0-9a-f]{64}$/.test(known)) return known;
  const hash = await sha256File(file);
  await writeFileAtomic(entry, hash).catch(() => undefined);
  return hash;
}
