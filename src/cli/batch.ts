import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { assertTask, batchResults, batchStatus, cancelBatch, removeBatch, submitBatch, type BatchStatus } from '../batch/batch.js';
import { checkRedisUrl, connectCommandRedis } from '../batch/connection.js';
import { readFilesFrom, resolveInputs } from '../batch/inputs.js';
import { checkName, type BatchTask } from '../batch/names.js';
import { ImgclassError } from '../util/errors.js';
import { describeSkipped, walkImages } from '../data/walk.js';
import { progress } from '../util/progress.js';
import { classifyFailure } from './classify.js';
import { predictFailure } from './predict.js';

interface Common {
  redis: string;
  redisCa?: string;
  namespace: string;
}

async function withRedis<T>(o: Common, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = await connectCommandRedis(o.redis, { ca: o.redisCa });
  try {
    return await fn(redis);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

export interface SubmitCliOptions extends Common {
  name: string;
  task: string;
  filesFrom?: string;
  ttlHours: number;
  attempts: number;
}

/** `imgclass batch submit`: queue one job per input (files, walked folders, --files-from, URLs). */
export async function runBatchSubmit(args: string[], o: SubmitCliOptions): Promise<number> {
  const task = assertTask(o.task);
  checkName('batch name', o.name);
  checkName('namespace', o.namespace);
  checkRedisUrl(o.redis);
  const given = [...args, ...(o.filesFrom ? await readFilesFrom(o.filesFrom) : [])];
  if (given.length === 0) throw new ImgclassError('BAD_OPTION', 'batch submit needs paths, URLs or --files-from FILE');
  // Directories are walked exactly as `predict` walks them; paths become absolute for other machines.
  const inputs = await resolveInputs(given, async (paths) => {
    const walked = await walkImages(paths);
    const note = describeSkipped(walked.skipped);
    if (note) process.stderr.write(note + '\n');
    return walked.files;
  });
  if (inputs.length === 0) {
    process.stderr.write('no image files found\n');
    return 2;
  }
  return withRedis(o, async (redis) => {
    const bar = progress('submit', inputs.length, 'inputs');
    let shown = 0;
    const r = await submitBatch(redis, {
      namespace: o.namespace,
      name: o.name,
      task,
      inputs,
      ttlSeconds: Math.round(o.ttlHours * 3600),
      attempts: o.attempts,
      onProgress: (d) => {
        bar.tick(d - shown);
        shown = d;
      },
    });
    bar.stop();
    const extra = [r.known ? `${fmtInt(r.known)} already in it` : '', r.requeued ? `${fmtInt(r.requeued)} requeued` : ''].filter(Boolean).join(', ');
    process.stdout.write(`batch ${o.name} (${task}): ${fmtInt(r.added)} inputs added${extra ? ` (${extra})` : ''}, ${fmtInt(r.total)} in the batch\n`);
    return 0;
  });
}

export interface StatusCliOptions extends Common {
  json?: boolean;
  watch?: boolean;
}

/** `imgclass batch status NAME`: counts, rate, ETA; `--watch` follows it to the end with a progress bar on a terminal. */
export async function runBatchStatus(name: string, o: StatusCliOptions): Promise<number> {
  return withRedis(o, async (redis) => {
    let s = await batchStatus(redis, o.namespace, name);
    if (o.watch && !s.complete) s = await follow(redis, o.namespace, name, s);
    process.stdout.write(o.json ? JSON.stringify(s) + '\n' : formatStatus(s, Boolean(process.stdout.isTTY)));
    return 0;
  });
}

/** Poll until the batch is complete, with a progress bar (rate, ETA) on a terminal. */
async function follow(redis: Redis, namespace: string, name: string, s: BatchStatus): Promise<BatchStatus> {
  const bar = progress(`batch ${name}`, s.total);
  let shown = s.total - s.pending;
  bar.tick(shown);
  try {
    while (!s.complete) {
      await new Promise((r) => setTimeout(r, 1000));
      s = await batchStatus(redis, namespace, name);
      const now = s.total - s.pending;
      if (now > shown) bar.tick(now - shown);
      shown = now;
    }
  } finally {
    bar.stop();
  }
  return s;
}

export function formatStatus(s: BatchStatus, tty: boolean): string {
  const finished = s.total - s.pending;
  const pct = s.total ? (100 * finished) / s.total : 100;
  const state = s.status === 'cancelled' ? 'cancelled' : s.complete ? 'complete' : 'running';
  const lines = [
    `batch ${s.name} (${s.task}, ${state}): ${fmtInt(s.done)} of ${fmtInt(s.total)} done (${pct.toFixed(1)}%), ` +
      `${fmtInt(s.errors + s.failed)} errors, ${fmtInt(s.pending)} pending`,
    `  rate ${s.rate === null ? '–' : `${s.rate.toFixed(2)} inputs/s`}, ETA ${s.etaSeconds === null ? '–' : duration(s.etaSeconds)}`,
    `  queue ${s.queue}: ${fmtInt(s.queueCounts.waiting)} waiting, ${s.queueCounts.active} active, ` +
      `${s.queueCounts.delayed} delayed (retries), ${s.queueCounts.failed} failed; ${s.workers} ` +
      `worker${s.workers === 1 ? '' : 's'} connected`,
  ];
  if (tty) {
    const n = Math.round((pct / 100) * 30);
    lines.push(`  [${'█'.repeat(n)}${'·'.repeat(30 - n)}] ${pct.toFixed(1)}%`);
  }
  return lines.join('\n') + '\n';
}

export interface ResultsCliOptions extends Common {
  out?: string;
  wait?: boolean;
  partial?: boolean;
  remove?: boolean;
}

/**
 * `imgclass batch results NAME`: one line per input in submission order, the same JSON as
 * `predict --json` (or `classify --json`), or CSV. Inputs that never got a line (failed for good,
 * cancelled) come out as error lines, so every input appears exactly once.
 */
export async function runBatchResults(name: string, o: ResultsCliOptions): Promise<number> {
  return withRedis(o, async (redis) => {
    let s = await batchStatus(redis, o.namespace, name);
    if (!s.complete && o.wait) s = await follow(redis, o.namespace, name, s);
    if (!s.complete && !o.partial) {
      throw new ImgclassError(
        'BATCH_INCOMPLETE',
        `batch ${name}: ${fmtInt(s.pending)} of ${fmtInt(s.total)} inputs are still pending; wait for them (--wait) or take what is there (--partial)`,
      );
    }
    const task = s.task;
    const failure = task === 'predict' ? predictFailure : classifyFailure;
    const csv = o.out?.toLowerCase().endsWith('.csv') ?? false;
    const sink = await openSink(o.out);
    let errors = 0;
    let written = 0;
    try {
      if (csv) await sink.write(csvRow(CSV_COLUMNS[task]));
      for await (const r of batchResults(redis, o.namespace, name)) {
        let line: string;
        if (r.line !== null) line = r.line;
        else if (r.missing!.state === 'pending')
          continue; // --partial
        else {
          const e = new ImgclassError(r.missing!.state === 'failed' ? 'JOB_FAILED' : 'CANCELLED', r.missing!.reason);
          line = JSON.stringify(failure(r.input, e, e.message));
        }
        const obj = JSON.parse(line) as Record<string, unknown>;
        if (obj.kind === 'error' || 'error' in obj) errors++;
        await sink.write(csv ? csvRow(csvFields(task, obj)) : line + '\n');
        written++;
      }
      await sink.commit();
    } catch (e) {
      await sink.abort();
      throw e;
    }
    if (!s.complete) process.stderr.write(`batch ${name}: ${fmtInt(written)} results written, ${fmtInt(s.pending)} inputs still pending (--partial)\n`);
    if (o.remove) {
      if (!s.complete)
        throw new ImgclassError('BATCH_INCOMPLETE', `batch ${name} is not finished; --remove only removes a batch whose results were all collected`);
      await removeBatch(redis, o.namespace, name);
      process.stderr.write(`batch ${name}: removed from Redis\n`);
    }
    return errors > 0 ? 1 : 0;
  });
}

export interface CancelCliOptions extends Common {
  remove?: boolean;
}

/** `imgclass batch cancel NAME`: no further inputs start; `--remove` also deletes the batch and its results. */
export async function runBatchCancel(name: string, o: CancelCliOptions): Promise<number> {
  return withRedis(o, async (redis) => {
    if (o.remove) {
      await removeBatch(redis, o.namespace, name);
      process.stdout.write(`batch ${name}: cancelled and removed from Redis\n`);
      return 0;
    }
    const removed = await cancelBatch(redis, o.namespace, name);
    process.stdout.write(
      `batch ${name}: cancelled; ${fmtInt(removed)} queued jobs removed (jobs already running finish); results stay until collected or expired\n`,
    );
    return 0;
  });
}

/** stdout, or a file written beside its target and renamed into place when complete. */
async function openSink(out?: string): Promise<{ write(s: string): Promise<void>; commit(): Promise<void>; abort(): Promise<void> }> {
  if (!out || out === '-') {
    return {
      async write(s) {
        if (!process.stdout.write(s)) await once(process.stdout, 'drain');
      },
      async commit() {},
      async abort() {},
    };
  }
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const stream = createWriteStream(tmp);
  return {
    async write(s) {
      if (!stream.write(s)) await once(stream, 'drain');
    },
    async commit() {
      await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
      await rename(tmp, out);
    },
    async abort() {
      stream.destroy();
      await rm(tmp, { force: true });
    },
  };
}

const CSV_COLUMNS: Record<BatchTask, string[]> = {
  predict: ['file', 'kind', 'breed', 'probability', 'human_breed', 'human_probability', 'dog_probability', 'faces', 'message', 'code'],
  classify: ['file', 'label', 'probability', 'error', 'code'],
};

function csvFields(task: BatchTask, l: Record<string, unknown>): unknown[] {
  type P = { name: string; probability: number }[] | undefined;
  if (task === 'classify') return [l.file, l.label, l.probability, l.error, l.code];
  const breeds = l.breeds as P;
  const human = l.humanBreeds as P;
  const faces = l.faces as unknown[] | undefined;
  return [
    l.file,
    l.kind,
    breeds?.[0]?.name,
    breeds?.[0]?.probability,
    human?.[0]?.name,
    human?.[0]?.probability,
    l.dogProbability,
    faces?.length ?? 0,
    l.message,
    l.code,
  ];
}

/** RFC 4180: quote fields holding a comma, quote or line break; double the quotes. */
export function csvRow(fields: unknown[]): string {
  return (
    fields
      .map((f) => {
        const s = f === undefined || f === null ? '' : String(f);
        return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
      })
      .join(',') + '\n'
  );
}

const fmtInt = (n: number) => n.toLocaleString('en-US');

function duration(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
