import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeImage, readImageFile, DEFAULT_DECODE_LIMITS } from '../data/image.js';
import type { Backbone } from '../models/backbone.js';
import { resizeFor } from '../data/preprocess.js';
import type { RgbImage } from '../data/pixels.js';
import { viewsOf } from '../models/views.js';
import { writeFileAtomic } from '../util/atomic.js';
import { isImgclassError } from '../util/errors.js';

/** One image's bottleneck outputs, plus those of its mirror image (cheap augmentation). */
export interface FeatureRow {
  features: Float32Array;
  probabilities: Float32Array;
  flipFeatures: Float32Array;
  flipProbabilities: Float32Array;
}

export interface ExtractOptions {
  /** Where cached rows live; default $IMGCLASS_FEATURE_CACHE or ~/.cache/imgclass/features. */
  cacheDir?: string;
  batchSize?: number;
  onProgress?: (done: number, cached: number) => void;
}

export interface ExtractResult {
  /** null where the image could not be read (see `failures`). */
  rows: (FeatureRow | null)[];
  failures: { file: string; reason: string }[];
  cached: number;
}

export function defaultFeatureCacheDir(): string {
  return process.env.IMGCLASS_FEATURE_CACHE ?? path.join(os.homedir(), '.cache', 'imgclass', 'features');
}

/**
 * The cache key of a backbone's outputs: its name, its preprocessing and the decoder's limits
 * (all of which change the numbers), so changing any of them can never serve stale features.
 */
// v2: computed by the ONNX engine, the mirror image taken after fitting the photo to the input.
export function featureSpaceKey(backbone: Backbone): string {
  const spec = JSON.stringify({ name: backbone.name, pre: backbone.spec.preprocessing, maxSide: DEFAULT_DECODE_LIMITS.maxSide, v: 2 });
  return `${backbone.name}-${createHash('sha256').update(spec).digest('hex').slice(0, 12)}`;
}

/**
 * Bottleneck features for many files, through the same decode → resize → normalise path the app
 * serves with. Each file's row is cached on disk under the sha256 of its content, so a second
 * run (or another split containing the same photo) costs one read and one hash per file.
 */
export async function extractFeatures(files: string[], backbone: Backbone, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const dir = path.join(opts.cacheDir ?? defaultFeatureCacheDir(), featureSpaceKey(backbone));
  const nf = backbone.spec.featureDim;
  const np = 1000;
  const rows: (FeatureRow | null)[] = new Array(files.length).fill(null);
  const failures: ExtractResult['failures'] = [];
  let cached = 0;
  let done = 0;
  const batch: { i: number; key: string; fitted: RgbImage }[] = [];
  const bs = opts.batchSize ?? 16;

  const embed = async (items: typeof batch) => {
    const outs = await backbone.run(
      viewsOf(
        items.map((b) => b.fitted),
        true,
      ),
    );
    await Promise.all(
      items.map((b, j) => {
        const o = outs[2 * j]!;
        const f = outs[2 * j + 1]!;
        const row = { features: o.features, probabilities: o.probabilities, flipFeatures: f.features, flipProbabilities: f.probabilities };
        rows[b.i] = row;
        const packed = new Float32Array(2 * (nf + np));
        packed.set(row.features, 0);
        packed.set(row.probabilities, nf);
        packed.set(row.flipFeatures, nf + np);
        packed.set(row.flipProbabilities, 2 * nf + np);
        return writeFileAtomic(cachePath(dir, b.key), new Uint8Array(packed.buffer));
      }),
    );
    done += items.length;
    opts.onProgress?.(done, cached);
  };
  // Double buffering: a full batch goes to the backbone and the loop reads, decodes and fits the
  // next one meanwhile (sharp works on libuv's threads, the backbone runs on its worker), so the
  // cores are not idle while JPEGs decode and the backbone never waits for a resize. At most one
  // batch is in flight. (Fitting is what the unit does first too: views.ts, `embedWith`.)
  let inFlight: Promise<void> = Promise.resolve();
  let warming = false;
  const flush = async () => {
    if (batch.length === 0) return;
    // More than a batch to embed: worth the backbone's second session (backbone.ts `warmUp`),
    // which starts beside the first batch; if it fails, the one session goes on.
    if (!warming && files.length - cached > bs) void backbone.warmUp?.().catch(() => undefined);
    warming = true;
    const items = batch.splice(0);
    await inFlight;
    inFlight = embed(items);
    // an error surfaces at the next flush or at the end, never as an unhandled rejection
    inFlight.catch(() => undefined);
  };

  for (const [i, file] of files.entries()) {
    let bytes: Buffer;
    try {
      bytes = await readImageFile(file);
    } catch (e) {
      failures.push({ file, reason: (e as Error).message });
      continue;
    }
    const key = createHash('sha256').update(bytes).digest('hex');
    const hit = await readFile(cachePath(dir, key)).catch(() => null);
    if (hit && hit.byteLength === 2 * (nf + np) * 4) {
      const v = new Float32Array(hit.buffer.slice(hit.byteOffset, hit.byteOffset + hit.byteLength));
      rows[i] = {
        features: v.slice(0, nf),
        probabilities: v.slice(nf, nf + np),
        flipFeatures: v.slice(nf + np, 2 * nf + np),
        flipProbabilities: v.slice(2 * nf + np),
      };
      cached++;
      done++;
      if (done % 64 === 0) opts.onProgress?.(done, cached);
      continue;
    }
    try {
      batch.push({ i, key, fitted: await resizeFor(await decodeImage(bytes), backbone.spec.preprocessing) });
    } catch (e) {
      if (!isImgclassError(e)) throw e;
      failures.push({ file, reason: e.message });
      continue;
    }
    if (batch.length >= bs) await flush();
  }
  await flush();
  await inFlight;
  opts.onProgress?.(done, cached);
  return { rows, failures, cached };
}

function cachePath(dir: string, key: string): string {
  return path.join(dir, key.slice(0, 2), `${key}.f32`);
}
