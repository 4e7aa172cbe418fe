import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { commitFile, tempSibling } from '../util/atomic.js';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * onnxruntime's optimised graph, kept on disk so that a second start skips graph optimisation.
 *
 * Creating a session at optimisation level 'all' rewrites the graph before it runs (constant
 * folding, Conv+BN+activation fusion, NCHWc layouts): for MobileNet that is most of the session's
 * creation (docs/startup.md has the figures). ORT can write the graph it ends up with
 * (`optimizedModelFilePath`); loaded again with optimisation off, it runs the same kernels on the
 * same graph, so the answers are identical to the bit (test/session-cache.test.ts checks it, on a
 * QDQ-quantised graph too, whose QuantizeLinear/DequantizeLinear pairs 'all' fuses into QLinear ops).
 *
 * The optimised file is only valid where it was made: the NCHWc block size and the fused kernels
 * depend on the CPU's instruction sets and on the ORT build. Its name therefore carries a key of the
 * source graph (given by the caller, like the conversion cache's content hash) and of this
 * environment (ORT's version, the CPU model and its flags, the architecture). Files are written
 * atomically (ORT writes a temporary sibling, which is synced and renamed); one that does not load
 * (torn by a crash before this code, disk trouble, a foreign file) is removed and rebuilt.
 */
export interface GraphCache {
  /** Directory the optimised graph is kept in (beside the converted model). */
  dir: string;
  /** Readable start of the file name, e.g. the converted model's own name. */
  name: string;
  /** Changes whenever the source graph would: the conversion cache's key, or the source's sha256. */
  key: string;
}

/** What a session is opened with: the graph (its path or bytes) and how to treat it. */
export interface OpenRequest {
  model: string | Uint8Array;
  graphOptimizationLevel: 'disabled' | 'all';
  /** Where ORT writes the graph it optimised, when it should. */
  optimizedModelFilePath?: string;
}

/** Bump when what is cached changes meaning: older files are then ignored (and left to be cleaned). */
const SESSION_CACHE_VERSION = 1;

let envKey: string | undefined;

/** The ORT build and the CPU the optimised graph is made for. */
function environmentKey(): string {
  if (envKey) return envKey;
  const ortPackage = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  const ortVersion = (JSON.parse(readFileSync(ortPackage, 'utf8')) as { version: string }).version;
  envKey = JSON.stringify({ v: SESSION_CACHE_VERSION, ortVersion, arch: process.arch, cpu: os.cpus()[0]?.model ?? '', flags: cpuFlags() });
  return envKey;
}

/** The CPU's instruction-set flags (Linux); elsewhere the model name stands for them. */
function cpuFlags(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    return /^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
  } catch {
    return '';
  }
}

/** The optimised graph's path for a source graph in this environment. */
export function optimizedGraphPath(cache: GraphCache): string {
  const key = createHash('sha256').update(cache.key).update('\0').update(environmentKey()).digest('hex').slice(0, 16);
  return path.join(cache.dir, `${cache.name}.optimized-${key}.onnx`);
}

/**
 * Open a session through the cache: the optimised graph with optimisation off when it is there,
 * else the source (built by `source` only then) at level 'all', writing its optimised graph for the
 * next start. A cache that cannot be written (read-only directory) costs only that: the session
 * opens all the same.
 */
export async function openWithSessionCache<S>(
  source: string | Uint8Array | (() => Promise<string | Uint8Array>),
  cache: GraphCache,
  openSession: (r: OpenRequest) => Promise<S>,
): Promise<S> {
  const target = optimizedGraphPath(cache);
  if (await exists(target)) {
    try {
      return await openSession({ model: target, graphOptimizationLevel: 'disabled' });
    } catch {
      // a torn or foreign file: rebuilt below
      await rm(target, { force: true });
    }
  }
  const model = typeof source === 'function' ? await source() : source;
  const tmp = tempSibling(target);
  let session: S;
  try {
    await mkdir(cache.dir, { recursive: true });
    session = await openSession({ model, graphOptimizationLevel: 'all', optimizedModelFilePath: tmp });
  } catch {
    await rm(tmp, { force: true });
    // not the cache's fault only if the plain session fails too: then that error is the one to report
    return openSession({ model, graphOptimizationLevel: 'all' });
  }
  try {
    await commitFile(tmp, target);
  } catch {
    await rm(tmp, { force: true });
  }
  return session;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile() && s.size > 0,
    () => false,
  );
}
