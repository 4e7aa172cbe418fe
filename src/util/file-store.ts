import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImgclassError } from './errors.js';

/**
 * Finds pinned files (model weights, class tables). Order: the directory in $IMGCLASS_MODEL_DIR
 * (CI and tests point it at ../shared/models), then the per-user cache ($IMGCLASS_CACHE_DIR or
 * ~/.cache/imgclass/models), then a download from the file's pinned URL, verified by sha256
 * before it is moved into the cache. Offline and missing: one error naming the file and the
 * variable. It knows files, not models: the registry (models/store.ts) names them.
 */
export interface StoredFile {
  /** Path relative to the model root, e.g. `face/yunet_n_320_320.onnx`. */
  path: string;
  sha256: string | null;
  url: string | null;
}

/** Where a model store looks for files and whether it may download them (defaults from `$IMGCLASS_MODEL_DIR`, `$IMGCLASS_CACHE_DIR` and `$IMGCLASS_OFFLINE`). */
export interface ModelStoreOptions {
  modelDir?: string;
  cacheDir?: string;
  /** Never touch the network (also IMGCLASS_OFFLINE=1). */
  offline?: boolean;
  fetchTimeoutMs?: number;
}

export class FileStore {
  readonly modelDir: string | undefined;
  readonly cacheDir: string;
  private readonly offline: boolean;
  private readonly fetchTimeoutMs: number;

  constructor(opts: ModelStoreOptions = {}) {
    this.modelDir = opts.modelDir ?? (process.env.IMGCLASS_MODEL_DIR || undefined);
    this.cacheDir = opts.cacheDir ?? process.env.IMGCLASS_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'imgclass', 'models');
    this.offline = opts.offline ?? process.env.IMGCLASS_OFFLINE === '1';
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? 60_000;
  }

  /** A local path of `file` (`owner` names what needs it, in errors). */
  async resolveFile(owner: string, file: StoredFile): Promise<string> {
    const tried: string[] = [];
    if (this.modelDir) {
      const local = path.join(this.modelDir, file.path);
      if (await exists(local)) return local;
      tried.push(local);
    }
    const cached = path.join(this.cacheDir, file.path);
    if (await exists(cached)) return cached;
    tried.push(cached);
    const where = `looked in ${tried.join(' and ')}`;
    const hint = `Set IMGCLASS_MODEL_DIR to a directory holding ${file.path} (layout as in shared/README.md)`;
    if (!file.url) throw new ImgclassError('MODEL_NOT_FOUND', `model file ${file.path} (${owner}) not found: ${where}. It has no public download. ${hint}.`);
    if (this.offline)
      throw new ImgclassError('MODEL_NOT_FOUND', `model file ${file.path} (${owner}) not found: ${where}; downloads are off (IMGCLASS_OFFLINE=1). ${hint}.`);
    // Nothing is trusted on first use: a download without a pinned sha256 is never made.
    if (!file.sha256)
      throw new ImgclassError('MODEL_NOT_FOUND', `model file ${file.path} (${owner}) not found: ${where}. Its download has no pinned sha256. ${hint}.`);
    try {
      await this.download(file.url, cached, file.sha256);
    } catch (e) {
      if (e instanceof ImgclassError) throw e;
      throw new ImgclassError(
        'MODEL_NOT_FOUND',
        `model file ${file.path} (${owner}) not found: ${where}, and downloading ${file.url} failed (${(e as Error).message}). ${hint}.`,
        { cause: e },
      );
    }
    return cached;
  }

  private async download(url: string, target: string, sha256: string | null): Promise<void> {
    await mkdir(path.dirname(target), { recursive: true });
    const res = await fetch(url, { signal: AbortSignal.timeout(this.fetchTimeoutMs), redirect: 'follow' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const got = createHash('sha256').update(bytes).digest('hex');
    if (sha256 && got !== sha256) throw new ImgclassError('CHECKSUM_MISMATCH', `downloaded ${url} has sha256 ${got}, expected ${sha256}; not used`);
    const tmp = `${target}.part-${process.pid}`;
    await writeFile(tmp, bytes);
    await rename(tmp, target).catch(async (e) => {
      await rm(tmp, { force: true });
      throw e;
    });
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** sha256 of a file, streamed. */
export async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}
