import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ImgclassError } from '../util/errors.js';
import { jobId, queueName, type BatchTask } from './names.js';
import { BatchStore, DEFAULT_TTL_SECONDS, type BatchMeta } from './store.js';
import type { BatchJobData } from './worker.js';

/** The submitting and bookkeeping side of batches: submit, status, results, cancel, remove. */

export interface SubmitOptions {
  namespace: string;
  name: string;
  task: BatchTask;
  /** Paths (absolute, for workers on other machines) and http(s) URLs, in submission order. */
  inputs: string[];
  /** Lifetime of the batch's keys after its last change; 0 keeps them until removed. */
  ttlSeconds?: number;
  /** Tries per input for transient failures (URL timeouts, Redis blips); the last failure is an error line. */
  attempts?: number;
  /** First retry delay; doubles each time. */
  backoffMs?: number;
  onProgress?: (done: number) => void;
}

export interface SubmitReport {
  /** Inputs in the batch now. */
  total: number;
  /** Inputs new to the batch. */
  added: number;
  /** Inputs given that were already in the batch (same input, same job id). */
  known: number;
  /** Known inputs without a result whose job was gone and was queued again (a submit that was cut off, a cancelled batch resumed). */
  requeued: number;
}

const CHUNK = 1000;

/**
 * Add inputs to a batch, idempotently: an input already in the batch gets no second job (its job
 * id is derived from batch + input and BullMQ ignores an add whose id exists), and one that
 * already has a result is not queued again. Submitting again after an interruption completes the
 * batch; submitting a cancelled batch again resumes it.
 */
export async function submitBatch(redis: Redis, o: SubmitOptions): Promise<SubmitReport> {
  const store = new BatchStore(redis, o.namespace, o.name);
  const ttl = o.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  await store.open(o.task, ttl);
  const queue = new Queue<BatchJobData>(queueName(o.namespace, o.task), { connection: redis });
  const jobOptions = {
    attempts: o.attempts ?? 3,
    backoff: { type: 'exponential', delay: o.backoffMs ?? 2000 },
    removeOnComplete: true, // the result line lives in the batch's own hash
    removeOnFail: ttl > 0 ? { age: ttl } : false,
  };
  let added = 0;
  let known = 0;
  let requeued = 0;
  try {
    for (let i = 0; i < o.inputs.length; i += CHUNK) {
      const chunk = dedupe(o.inputs.slice(i, i + CHUNK)).map((input) => ({ id: jobId(o.name, input), input }));
      const fresh = new Set(await store.register(chunk, ttl));
      const unfinished = new Set(await store.unfinished(chunk.map((c) => c.id)));
      // New inputs, and known ones still without a result (BullMQ skips those whose job exists).
      const toQueue = chunk.filter((c) => fresh.has(c.id) || unfinished.has(c.id));
      if (toQueue.length) {
        const before = await existingJobs(
          redis,
          queue,
          toQueue.filter((c) => !fresh.has(c.id)).map((c) => c.id),
        );
        await queue.addBulk(toQueue.map((c) => ({ name: o.task, data: { batch: o.name, input: c.input }, opts: { ...jobOptions, jobId: c.id } })));
        requeued += toQueue.filter((c) => !fresh.has(c.id) && !before.has(c.id)).length;
      }
      added += fresh.size;
      known += chunk.length - fresh.size;
      o.onProgress?.(Math.min(o.inputs.length, i + CHUNK));
    }
    await store.setStatus('open');
  } finally {
    await queue.close();
  }
  return { total: (await store.meta()).total, added, known, requeued };
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

async function existingJobs(redis: Redis, queue: Queue, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const m = redis.multi();
  for (const id of ids) m.exists(queue.toKey(id));
  const r = (await m.exec()) ?? [];
  return new Set(ids.filter((_, i) => r[i]?.[1] === 1));
}

export interface BatchStatus extends BatchMeta {
  /** Inputs whose job failed for good without storing a line (its workers kept dying), counted as errors in results. */
  failed: number;
  /** Inputs still to be answered. */
  pending: number;
  complete: boolean;
  /** Results per second between the first and the latest result (all workers together). */
  rate: number | null;
  /** Seconds to go at that rate. */
  etaSeconds: number | null;
  /** The shared queue of this task (all batches): jobs by state, and workers connected. */
  queueCounts: { waiting: number; active: number; delayed: number; failed: number };
  workers: number;
}

/** Counts, rate and ETA of a batch, and the state of its shared queue. */
export async function batchStatus(redis: Redis, namespace: string, name: string): Promise<BatchStatus> {
  const store = new BatchStore(redis, namespace, name);
  const meta = await store.meta();
  const queue = new Queue(meta.queue, { connection: redis });
  try {
    const [counts, workers, failedJobs] = await Promise.all([
      queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized'),
      queue.getWorkersCount(),
      failedWithoutResult(store, queue),
    ]);
    const failed = failedJobs.size;
    const pending = meta.status === 'cancelled' ? 0 : Math.max(0, meta.total - meta.done - failed);
    const span = meta.firstAt !== null && meta.lastAt !== null ? (meta.lastAt - meta.firstAt) / 1000 : 0;
    const rate = span > 0 && meta.done > 1 ? (meta.done - 1) / span : null;
    return {
      ...meta,
      failed,
      pending,
      complete: pending === 0,
      rate,
      etaSeconds: rate && pending > 0 ? pending / rate : pending === 0 ? 0 : null,
      queueCounts: {
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
      },
      workers,
    };
  } finally {
    await queue.close();
  }
}

/**
 * Jobs of this batch in the queue's failed set that stored no line: only a job whose workers
 * died more than the allowed number of times ends there (every other failure stores an error
 * line). Maps job id → BullMQ's reason.
 */
async function failedWithoutResult(store: BatchStore, queue: Queue): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if ((await queue.getFailedCount()) === 0) return out;
  for (let start = 0; ; start += CHUNK) {
    const jobs = (await queue.getFailed(start, start + CHUNK - 1)) as Job<BatchJobData>[];
    const mine = jobs.filter((j) => j?.data?.batch === store.name && j.id);
    for (const id of await store.unfinished(mine.map((j) => j.id!))) out.set(id, mine.find((j) => j.id === id)!.failedReason ?? 'failed');
    if (jobs.length < CHUNK) return out;
  }
}

/** One result line per input, in submission order. */
export interface ResultEntry {
  input: string;
  /** The stored line (JSON text) or null when the input has none. */
  line: string | null;
  /** Why there is no line: failed for good (no worker survived it), cancelled, or still pending. */
  missing?: { state: 'failed' | 'cancelled' | 'pending'; reason: string };
}

/**
 * Read a batch's results in submission order, each input exactly once. An input without a line
 * is reported with why (failed, cancelled, pending), for the caller to turn into an error line.
 */
export async function* batchResults(redis: Redis, namespace: string, name: string): AsyncGenerator<ResultEntry> {
  const store = new BatchStore(redis, namespace, name);
  const meta = await store.meta();
  const queue = new Queue(meta.queue, { connection: redis });
  try {
    const failed = await failedWithoutResult(store, queue);
    for await (const chunk of store.entries(CHUNK)) {
      for (const e of chunk) {
        if (e.line !== null) yield { input: e.input, line: e.line };
        else if (failed.has(e.id)) yield { input: e.input, line: null, missing: { state: 'failed', reason: failed.get(e.id)! } };
        else if (meta.status === 'cancelled')
          yield { input: e.input, line: null, missing: { state: 'cancelled', reason: `batch "${name}" was cancelled before this input was processed` } };
        else yield { input: e.input, line: null, missing: { state: 'pending', reason: 'not processed yet' } };
      }
    }
  } finally {
    await queue.close();
  }
}

/**
 * Cancel a batch: no worker starts another of its inputs (queued jobs are removed; a worker that
 * already holds one finishes it). Results stay readable; inputs never processed read as cancelled.
 * Returns how many queued jobs were removed.
 */
export async function cancelBatch(redis: Redis, namespace: string, name: string): Promise<number> {
  const store = new BatchStore(redis, namespace, name);
  const meta = await store.meta();
  await store.setStatus('cancelled');
  return removeJobs(store, meta.queue, false);
}

/** Remove a batch from Redis: its keys and every job of it still in the queue (failed ones included). */
export async function removeBatch(redis: Redis, namespace: string, name: string): Promise<void> {
  const store = new BatchStore(redis, namespace, name);
  const meta = await store.meta();
  await store.setStatus('cancelled'); // workers holding one of its jobs drop the answer
  await removeJobs(store, meta.queue, true);
  await store.deleteKeys();
}

async function removeJobs(store: BatchStore, queueNameOf: string, all: boolean): Promise<number> {
  const queue = new Queue(queueNameOf, { connection: store.redis });
  let removed = 0;
  try {
    for await (const chunk of store.entries(CHUNK)) {
      const ids = chunk.filter((e) => all || e.line === null).map((e) => e.id);
      const codes = await Promise.all(ids.map((id) => queue.remove(id).catch(() => 0)));
      removed += codes.filter((c) => c === 1).length;
    }
  } finally {
    await queue.close();
  }
  return removed;
}

export function assertTask(task: string): BatchTask {
  if (task !== 'predict' && task !== 'classify') throw new ImgclassError('BAD_OPTION', `--task must be predict or classify, not "${task}"`);
  return task;
}
