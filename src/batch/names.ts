import { createHash } from 'node:crypto';
import { ImgclassError } from '../util/errors.js';

/** What a batch's workers run: the dog app (`predict`) or plain classification with a trained model (`classify`). */
export const BATCH_TASKS = ['predict', 'classify'] as const;
export type BatchTask = (typeof BATCH_TASKS)[number];

/** Default namespace: BullMQ queues `imgclass-predict` / `imgclass-classify`, batch keys `imgclass:batch:<name>:…`. */
export const DEFAULT_NAMESPACE = 'imgclass';

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** Batch names and namespaces end up in Redis keys and job ids: keep them to a safe alphabet. */
export function checkName(kind: 'batch name' | 'namespace', name: string): string {
  if (!NAME.test(name)) throw new ImgclassError('BAD_OPTION', `${kind} "${name}" must be 1–100 characters of A–Z, a–z, 0–9, "_", "." or "-"`);
  return name;
}

/** One BullMQ queue per task and namespace, shared by every batch and every worker of that task. */
export function queueName(namespace: string, task: BatchTask): string {
  return `${namespace}-${task}`;
}

/**
 * The job id of one input of one batch: derived from both, so submitting the same batch again
 * cannot add a second job for an input (BullMQ ignores an add whose id exists). BullMQ refuses
 * ids containing ":" and all-digit ids; this one has neither.
 */
export function jobId(batch: string, input: string): string {
  return `${batch}.${createHash('sha256').update(input).digest('hex').slice(0, 32)}`;
}

/** The Redis keys of one batch (besides its BullMQ jobs). */
export function batchKeys(namespace: string, batch: string) {
  // The braces are a Redis Cluster hash tag: a batch's keys share one slot, so one script may touch them all.
  const base = `${namespace}:batch:{${batch}}`;
  return {
    /** hash: task, queue, created, ttl, status, done, errors, firstAt, lastAt */
    meta: `${base}:meta`,
    /** list of job ids in submission order */
    order: `${base}:order`,
    /** hash job id → input (path or URL) */
    inputs: `${base}:inputs`,
    /** hash job id → the result line (JSON) */
    results: `${base}:results`,
  };
}

export type BatchKeys = ReturnType<typeof batchKeys>;

export const isUrl = (input: string) => /^https?:\/\//i.test(input);

/** The Redis the queue lives on (here, not in connection.ts, so the command line's help loads no Redis client). */
export const defaultRedisUrl = () => process.env.IMGCLASS_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The PEM file of the CA for a rediss:// server, from $IMGCLASS_REDIS_CA (none by default). */
export const defaultRedisCa = () => process.env.IMGCLASS_REDIS_CA || undefined;
