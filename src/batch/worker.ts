import os from 'node:os';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ImgclassError, describeError, isImgclassError } from '../util/errors.js';
import { connectWorkerRedis, redactUrl, redisClientOptions, type RedisTls } from './connection.js';
import { fetchImageBytes } from './fetch.js';
import { checkName, isUrl, queueName, type BatchTask } from './names.js';
import { readConfinedFile, resolveRoots } from './roots.js';
import type { UrlPolicy } from './url-guard.js';
import { BatchStore } from './store.js';

/** What a job carries: the batch and one input (a path on storage every worker sees, or a URL), never image bytes. */
export interface BatchJobData {
  batch: string;
  input: string;
}

/**
 * How a worker answers one input. `batch` knows nothing about models: the command line hands in
 * the same functions `predict`/`classify` use, so a worker's lines are theirs.
 */
export interface InferenceTask<Line> {
  /** One line for one input; `source` is the bytes read from the file (once confined to the roots) or fetched from the URL. */
  answer(file: string, source: string | Uint8Array): Promise<Line>;
  /** The line for an input that cannot be classified (bad image, dead URL, or a job that kept failing). */
  failure(file: string, e: ImgclassError, message: string): Line;
  isError(line: Line): boolean;
}

export interface BatchWorkerOptions<Line> {
  redisUrl: string;
  /** TLS settings for a rediss:// URL (the CA); the password travels in the URL. */
  redisTls?: RedisTls;
  namespace: string;
  task: BatchTask;
  inference: InferenceTask<Line>;
  /** Jobs held at once. Inference itself runs one at a time (it is CPU-bound on this thread); more overlaps downloads and Redis round trips. */
  concurrency?: number;
  /**
   * How long a job stays claimed without its worker renewing the claim. A worker killed with
   * SIGKILL stops renewing; the other workers' stalled-job check (every lockMs too) hands its jobs
   * to a live worker within about 2–3 × lockMs.
   */
  lockMs?: number;
  /** How often a job may be orphaned by a dying worker before it ends as an error line. */
  maxStalls?: number;
  fetchTimeoutMs?: number;
  maxBytes?: number;
  /** Directories files are read from (default: the working directory); anything else is a PATH_REFUSED line. */
  roots?: readonly string[];
  /** Which URLs may be fetched (default: public addresses only); a refused one is a URL_REFUSED line. */
  urlPolicy?: UrlPolicy;
  log?: (message: string) => void;
}

export interface RunningWorker {
  /** This worker's name in BullMQ (`host:pid`), stored on each job it processes. */
  name: string;
  queue: string;
  /** Finish the jobs in hand, then stop taking jobs and disconnect. */
  close(): Promise<void>;
  /** Stop taking new jobs (the ones in hand finish); resume() takes them again. */
  pause(): Promise<void>;
  resume(): void;
  /** Jobs processed so far by this worker. */
  processed(): number;
}

/** A one-at-a-time lock around inference: the models are not reentrant and share one thread. */
function serial() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
}

/**
 * Take jobs of one task from the shared queue and store each one's result line in its batch.
 * A bad image is a final error line; anything else thrown (a URL timing out, Redis gone for a
 * moment, a bug) is retried with backoff up to the job's attempts, and the last attempt stores
 * an error line instead of failing, so every input ends with exactly one line.
 */
export async function startBatchWorker<Line>(o: BatchWorkerOptions<Line>): Promise<RunningWorker> {
  checkName('namespace', o.namespace);
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const queue = queueName(o.namespace, o.task);
  const name = `${os.hostname()}:${process.pid}`;
  const lockMs = o.lockMs ?? 30_000;
  const roots = await resolveRoots(o.roots ?? []);
  const redis: Redis = await connectWorkerRedis(o.redisUrl, o.redisTls);
  let lastRedisError = 0;
  redis.on('error', (e) => {
    if (Date.now() - lastRedisError > 10_000) log(`imgclass worker: Redis: ${describeError(e)} (reconnecting)`);
    lastRedisError = Date.now();
  });
  const infer = serial();
  let processed = 0;

  const processor = async (job: Job<BatchJobData>): Promise<string> => {
    const { batch, input } = job.data;
    const store = new BatchStore(redis, o.namespace, batch);
    const status = await store.status();
    if (status !== 'open') return status === 'cancelled' ? 'cancelled' : 'batch removed';
    let line: Line;
    try {
      const source = isUrl(input)
        ? await fetchImageBytes(input, { timeoutMs: o.fetchTimeoutMs, maxBytes: o.maxBytes, policy: o.urlPolicy })
        : await readConfinedFile(input, roots, o.maxBytes);
      line = await infer(() => o.inference.answer(input, source));
    } catch (e) {
      const attempts = job.opts.attempts ?? 1;
      if (isImgclassError(e)) line = o.inference.failure(input, e, describeError(e));
      else if (job.attemptsMade + 1 >= attempts) {
        const gaveUp = new ImgclassError('JOB_FAILED', `failed ${attempts} time${attempts > 1 ? 's' : ''}; last: ${describeError(e)}`, { cause: e });
        line = o.inference.failure(input, gaveUp, gaveUp.message);
      } else throw e; // BullMQ retries it after the job's backoff
    }
    await store.putResult(job.id!, JSON.stringify(line), o.inference.isError(line));
    processed++;
    return 'stored';
  };

  const worker = new Worker<BatchJobData, string>(queue, processor, {
    connection: { url: o.redisUrl, maxRetriesPerRequest: null, ...redisClientOptions(o.redisUrl, o.redisTls) },
    name,
    concurrency: o.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: o.maxStalls ?? 2,
    autorun: false,
  });
  worker.on('error', (e) => log(`imgclass worker: ${describeError(e)}`));
  worker.on('stalled', (jobId) => log(`imgclass worker: job ${jobId} was orphaned by a worker that died; it is back in the queue`));
  worker.on('failed', (job, e) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    if (job.attemptsMade < attempts)
      log(`imgclass worker: ${job.data.input}: attempt ${job.attemptsMade} of ${attempts} failed (${describeError(e)}); retrying with backoff`);
    else log(`imgclass worker: ${job.data.input}: job failed for good: ${describeError(e)}`);
  });
  void worker.run();
  await worker.waitUntilReady();
  const urls = o.urlPolicy?.allowPrivate
    ? 'any address'
    : `public addresses${o.urlPolicy?.allowHosts?.length ? ` and ${o.urlPolicy.allowHosts.join(', ')}` : ''}`;
  log(
    `imgclass worker ${name} ready: queue ${queue} on ${redactUrl(o.redisUrl)}, concurrency ${o.concurrency ?? 1}; ` +
      `files under ${roots.given.join(', ')}; URLs to ${urls}`,
  );

  return {
    name,
    queue,
    processed: () => processed,
    pause: () => worker.pause(),
    resume: () => worker.resume(),
    async close() {
      await worker.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
