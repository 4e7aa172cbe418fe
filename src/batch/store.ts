import type { Redis } from 'ioredis';
import { ImgclassError } from '../util/errors.js';
import { batchKeys, checkName, queueName, type BatchKeys, type BatchTask } from './names.js';

/** A batch as stored in Redis (its `meta` hash plus the length of its input list). */
export interface BatchMeta {
  name: string;
  task: BatchTask;
  queue: string;
  status: 'open' | 'cancelled';
  /** ms since the epoch */
  created: number;
  /** Seconds every key of the batch lives after its last change (0: until removed). */
  ttlSeconds: number;
  total: number;
  /** Inputs with a result line (errors included). */
  done: number;
  /** Result lines that are errors (bad images, URLs that failed for good, jobs that kept failing). */
  errors: number;
  /** ms since the epoch: first and latest result stored. */
  firstAt: number | null;
  lastAt: number | null;
}

/** Default lifetime of a batch's keys after its last change: a week to collect the results. */
export const DEFAULT_TTL_SECONDS = 7 * 24 * 3600;

// Registers inputs in submission order, each once: HSETNX on the input hash decides what is new.
// KEYS: meta, order, inputs, results. ARGV: ttl, then id, input pairs. Returns the new ids.
const REGISTER = `
local new = {}
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i])
    new[#new + 1] = ARGV[i]
  end
end
local ttl = tonumber(ARGV[1])
if ttl > 0 then for _, k in ipairs(KEYS) do redis.call('EXPIRE', k, ttl) end end
return new`;

// Stores one result line, counting it once however often the job ran (a job whose worker died
// runs again). A batch that was removed, or an id that is not one of its inputs, stores nothing.
// KEYS: meta, order, inputs, results. ARGV: id, line, is error (0/1), now ms. Returns 1 new, 0 again, -1 no batch.
const PUT_RESULT = `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return -1 end
local added = redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
if added == 1 then
  redis.call('HINCRBY', KEYS[1], 'done', 1)
  if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[1], 'errors', 1) end
  redis.call('HSETNX', KEYS[1], 'firstAt', ARGV[4])
  redis.call('HSET', KEYS[1], 'lastAt', ARGV[4])
end
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl') or '0')
if ttl > 0 then for _, k in ipairs(KEYS) do redis.call('EXPIRE', k, ttl) end end
return added`;

/** One batch's own keys in Redis: its inputs in submission order and one result line per input. */
export class BatchStore {
  readonly keys: BatchKeys;

  constructor(
    readonly redis: Redis,
    readonly namespace: string,
    readonly name: string,
  ) {
    checkName('namespace', namespace);
    checkName('batch name', name);
    this.keys = batchKeys(namespace, name);
  }

  private get allKeys(): string[] {
    return [this.keys.meta, this.keys.order, this.keys.inputs, this.keys.results];
  }

  /** Create the batch, or reopen it for more inputs (same task only). */
  async open(task: BatchTask, ttlSeconds: number): Promise<void> {
    const existing = await this.redis.hget(this.keys.meta, 'task');
    if (existing && existing !== task)
      throw new ImgclassError('BAD_OPTION', `batch "${this.name}" exists with --task ${existing}; pick another name for a ${task} batch`);
    const m = this.redis.multi();
    m.hsetnx(this.keys.meta, 'created', String(Date.now()));
    m.hset(this.keys.meta, { task, queue: queueName(this.namespace, task), ttl: String(ttlSeconds), status: 'open' });
    m.hsetnx(this.keys.meta, 'done', '0');
    m.hsetnx(this.keys.meta, 'errors', '0');
    await m.exec();
  }

  /** Record inputs (job id → input) in submission order; returns the ids that were new. */
  async register(entries: { id: string; input: string }[], ttlSeconds: number): Promise<string[]> {
    if (entries.length === 0) return [];
    const argv = [String(ttlSeconds), ...entries.flatMap((e) => [e.id, e.input])];
    return (await this.redis.eval(REGISTER, 4, ...this.allKeys, ...argv)) as string[];
  }

  /** Store one result line; false when the batch is gone (removed, or expired). */
  async putResult(id: string, line: string, isError: boolean): Promise<boolean> {
    const r = (await this.redis.eval(PUT_RESULT, 4, ...this.allKeys, id, line, isError ? '1' : '0', String(Date.now()))) as number;
    return r >= 0;
  }

  async exists(): Promise<boolean> {
    return (await this.redis.exists(this.keys.meta)) === 1;
  }

  /** The batch's status field alone (one round trip; what a worker checks before each job). */
  async status(): Promise<'open' | 'cancelled' | null> {
    return (await this.redis.hget(this.keys.meta, 'status')) as 'open' | 'cancelled' | null;
  }

  async meta(): Promise<BatchMeta> {
    const [m, total] = await Promise.all([this.redis.hgetall(this.keys.meta), this.redis.llen(this.keys.order)]);
    if (!m.task) throw new ImgclassError('BATCH_NOT_FOUND', `no batch "${this.name}" in Redis (never submitted, removed after collection, or expired)`);
    const num = (v: string | undefined) => (v === undefined ? null : Number(v));
    return {
      name: this.name,
      task: m.task as BatchTask,
      queue: m.queue!,
      status: m.status === 'cancelled' ? 'cancelled' : 'open',
      created: Number(m.created),
      ttlSeconds: Number(m.ttl ?? 0),
      total,
      done: Number(m.done ?? 0),
      errors: Number(m.errors ?? 0),
      firstAt: num(m.firstAt),
      lastAt: num(m.lastAt),
    };
  }

  async setStatus(status: 'open' | 'cancelled'): Promise<void> {
    await this.redis.hset(this.keys.meta, 'status', status);
  }

  /** Every input in submission order with its result line (null while it has none), `chunk` at a time. */
  async *entries(chunk = 1000): AsyncGenerator<{ id: string; input: string; line: string | null }[]> {
    for (let start = 0; ; start += chunk) {
      const ids = await this.redis.lrange(this.keys.order, start, start + chunk - 1);
      if (ids.length === 0) return;
      const [inputs, lines] = await Promise.all([this.redis.hmget(this.keys.inputs, ...ids), this.redis.hmget(this.keys.results, ...ids)]);
      yield ids.map((id, i) => ({ id, input: inputs[i]!, line: lines[i] ?? null }));
      if (ids.length < chunk) return;
    }
  }

  /** Of these ids, those that are inputs of this batch and have no result yet. */
  async unfinished(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const [inputs, lines] = await Promise.all([this.redis.hmget(this.keys.inputs, ...ids), this.redis.hmget(this.keys.results, ...ids)]);
    return ids.filter((_, i) => inputs[i] !== null && lines[i] === null);
  }

  /** Remove the batch's own keys (its jobs are the queue's; see removeBatch). */
  async deleteKeys(): Promise<void> {
    await this.redis.del(...this.allKeys);
  }
}
