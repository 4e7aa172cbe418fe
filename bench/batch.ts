/**
 * npm run bench:batch — the same shared photos (dogs, people, neither) through:
 *   1. single-process `imgclass predict --json` (the reference),
 *   2. `imgclass batch submit` + 1 `imgclass worker` process,
 *   3. the same with 2 worker processes,
 * all in one run on a throwaway redis-server, plus the queue's own per-job cost (a worker whose
 * "inference" does nothing) and the Redis memory a batch takes per 1,000 inputs (INFO memory).
 *
 * BENCH_BATCH_PHOTOS (default 2000) sets the photo count; BENCH_BATCH_NOOP_JOBS (default 2000)
 * the no-op jobs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { batchResults, batchStatus, removeBatch, submitBatch } from '../src/batch/batch.js';
import { startBatchWorker } from '../src/batch/worker.js';
import { imageFilesIn } from '../src/data/walk.js';
import { startRedis } from '../support/redis.js';
import { sharedDataDir } from '../support/shared.js';
import { table } from './stats.js';

const N = Number(process.env.BENCH_BATCH_PHOTOS ?? 2000);
const NOOP_JOBS = Number(process.env.BENCH_BATCH_NOOP_JOBS ?? 2000);
const data = sharedDataDir();
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const env = { ...process.env, CI: '1' };
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** `n` files spread evenly over a sorted list. */
const spread = (files: string[], n: number) =>
  Array.from({ length: Math.min(n, files.length) }, (_, i) => files[Math.floor((i * files.length) / Math.min(n, files.length))]!);

// 60% dogs (Imagewoof), 15% people (LFW), the rest neither (Imagenette negatives), interleaved.
const dogs = spread(
  [...(await imageFilesIn(path.join(data, 'imagewoof/val'))), ...(await imageFilesIn(path.join(data, 'imagewoof/train')))],
  Math.round(N * 0.6),
);
const people = spread(await imageFilesIn(path.join(data, 'lfw')), Math.round(N * 0.15));
const negatives = spread(await imageFilesIn(path.join(data, 'negatives')), N - dogs.length - people.length);
const photos = [
  ...dogs.map((f, i) => ({ f, k: i / dogs.length })),
  ...people.map((f, i) => ({ f, k: i / people.length })),
  ...negatives.map((f, i) => ({ f, k: i / negatives.length })),
]
  .sort((a, b) => a.k - b.k)
  .map((x) => x.f);
console.log(
  `bench:batch on ${photos.length} photos (${dogs.length} dogs, ${people.length} people, ${negatives.length} ` +
    `neither), ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)} at start\n`,
);

const rows: (string | number)[][] = [];
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// 1. The reference: one `predict` process. Its first line marks the end of model loading.
{
  const t0 = performance.now();
  let first = 0;
  let last = 0;
  let lines = 0;
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'predict', '--json', ...photos], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const n = buf.split('\n').length - 1;
    buf = buf.slice(buf.lastIndexOf('\n') + 1);
    if (n > 0) {
      if (!first) first = performance.now();
      last = performance.now();
      lines += n;
    }
  });
  await new Promise((r) => child.once('exit', r));
  children.delete(child);
  if (lines !== photos.length) throw new Error(`predict printed ${lines} lines for ${photos.length} photos`);
  const steady = (lines - 1) / ((last - first) / 1000);
  rows.push(['single-process `predict --json`', seconds(last - t0), seconds(first - t0), steady.toFixed(2), '1.00×']);
}
const reference = Number(rows[0]![3]);

const redis = await startRedis();
const client = new Redis(redis.url, { maxRetriesPerRequest: null });
const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);

async function startWorkerProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'worker', '--redis', redis.url, '--root', data], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes(' ready: ')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
  });
  return child;
}

async function stopWorkers(ws: ChildProcess[]): Promise<void> {
  await Promise.all(
    ws.map(
      (w) =>
        new Promise((r) => {
          w.once('exit', r);
          w.kill('SIGTERM');
        }),
    ),
  );
  ws.forEach((w) => children.delete(w));
}

const memory: (string | number)[][] = [];

/** Exact bytes of one batch's own keys (MEMORY USAGE, every element counted). */
async function batchKeyBytes(name: string): Promise<number> {
  const keys = ['meta', 'order', 'inputs', 'results'].map((k) => `imgclass:batch:{${name}}:${k}`);
  const sizes = await Promise.all(keys.map((k) => client.call('MEMORY', 'USAGE', k, 'SAMPLES', '0') as Promise<number | null>));
  return sizes.reduce<number>((a, b) => a + (b ?? 0), 0);
}

// Warm-up: BullMQ loads its Lua scripts into Redis on first use; keep that out of the memory figures.
await submitBatch(client, { namespace: 'imgclass', name: 'warmup', task: 'predict', inputs: ['/nowhere/warmup.jpg'] });
await removeBatch(client, 'imgclass', 'warmup');

// 2. The queue alone: the same round trips with an answer that does nothing (no decode, no model)
// but a line the size of a real `predict --json` line; and the Redis memory per 1,000 inputs.
const lineLike = (file: string): Record<string, unknown> => ({
  file,
  kind: 'dog',
  message: 'Dog detected. It looks like a Shih-Tzu (55.8%).',
  breeds: [
    ['Shih-Tzu', 0.5584],
    ['Lhasa', 0.2109],
    ['Tibetan terrier', 0.1162],
    ['Brabancon griffon', 0.0914],
    ['affenpinscher', 0.0143],
  ].map(([name, probability]) => ({ name, probability })),
  faces: [],
  dogProbability: 0.9996,
  timings: { decodeMs: 3.4, backboneMs: 192.9, facesMs: 10.1, totalMs: 206.5 },
});
// Workers read only under their roots (src/batch/roots.ts): the no-op jobs name real, empty files.
const noopDir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-noop-'));
const noopFiles = Array.from({ length: NOOP_JOBS }, (_, i) => path.join(noopDir, `noop-${String(i).padStart(6, '0')}.jpg`));
for (const f of noopFiles) await writeFile(f, '');
for (const concurrency of [1, 8]) {
  const name = `noop-${concurrency}`;
  const inputs = noopFiles;
  const w = await startBatchWorker({
    redisUrl: redis.url,
    roots: [noopDir],
    namespace: 'imgclass',
    task: 'predict',
    concurrency,
    log: () => {},
    inference: { answer: async (file) => lineLike(file), failure: (file, e) => ({ file, kind: 'error', code: e.code }), isError: () => false },
  });
  await w.pause();
  const before = await usedMemory();
  await submitBatch(client, { namespace: 'imgclass', name, task: 'predict', inputs });
  const queued = await usedMemory();
  const t0 = performance.now();
  w.resume();
  let s = await batchStatus(client, 'imgclass', name);
  while (!s.complete) {
    await new Promise((r) => setTimeout(r, 50));
    s = await batchStatus(client, 'imgclass', name);
  }
  const wall = performance.now() - t0;
  const finished = await usedMemory();
  const keyBytes = await batchKeyBytes(name);
  await w.close();
  rows.push([
    `queue only: ${NOOP_JOBS} no-op jobs, 1 worker, concurrency ${concurrency}`,
    seconds(wall),
    `${(wall / NOOP_JOBS).toFixed(2)} ms/job`,
    (NOOP_JOBS / (wall / 1000)).toFixed(0),
    '',
  ]);
  if (concurrency === 1) {
    const per1000 = (b: number) => `${(((b / NOOP_JOBS) * 1000) / 1024).toFixed(0)} KiB`;
    memory.push([
      `${NOOP_JOBS} inputs queued, none taken yet (BullMQ job hashes + the batch's inputs and order)`,
      `${((queued - before) / 1024).toFixed(0)} KiB`,
      per1000(queued - before),
      '',
    ]);
    memory.push([
      `${NOOP_JOBS} inputs finished: results stored, jobs removed on completion`,
      `${((finished - before) / 1024).toFixed(0)} KiB`,
      per1000(finished - before),
      `the batch's own keys (MEMORY USAGE): ${per1000(keyBytes)}; the rest is BullMQ's event stream (capped at 10,000 events per queue)`,
    ]);
  }
  await removeBatch(client, 'imgclass', name);
}

// 3 and 4. The batch through 1 and 2 worker processes (models loaded before the clock starts).
for (const workers of [1, 2]) {
  const ws = await Promise.all(Array.from({ length: workers }, startWorkerProcess));
  const name = `bench-${workers}w`;
  const t0 = performance.now();
  await submitBatch(client, { namespace: 'imgclass', name, task: 'predict', inputs: photos });
  const tSubmit = performance.now() - t0;
  let s = await batchStatus(client, 'imgclass', name);
  while (!s.complete) {
    await new Promise((r) => setTimeout(r, 250));
    s = await batchStatus(client, 'imgclass', name);
  }
  const wall = performance.now() - t0;
  await stopWorkers(ws);
  if (s.done !== photos.length) throw new Error(`${s.done} results for ${photos.length} photos`);
  const rate = photos.length / (wall / 1000);
  rows.push([
    `batch, ${workers} worker process${workers > 1 ? 'es' : ''}`,
    seconds(wall),
    `submit ${seconds(tSubmit)}`,
    rate.toFixed(2),
    `${(rate / reference).toFixed(2)}×`,
  ]);
  if (workers === 1) {
    const keyBytes = await batchKeyBytes(name);
    const tr = performance.now();
    let n = 0;
    let bytes = 0;
    for await (const r of batchResults(client, 'imgclass', name)) {
      n++;
      bytes += r.line!.length;
    }
    const read = performance.now() - tr;
    memory.push([
      `${photos.length} real photos finished (the batch's own keys, MEMORY USAGE)`,
      `${(keyBytes / 1024).toFixed(0)} KiB`,
      `${(((keyBytes / photos.length) * 1000) / 1024).toFixed(0)} KiB`,
      `${(bytes / n).toFixed(0)} B per result line; read back at ${(n / (read / 1000)).toFixed(0)} lines/s`,
    ]);
  }
  await removeBatch(client, 'imgclass', name);
}

console.log(table(['run', 'wall', 'startup / submit / per job', 'photos/s', 'vs predict'], rows));
console.log('\nRedis memory (INFO used_memory before → after, workers connected throughout):\n');
console.log(table(['what', 'total', 'per 1,000', 'notes'], memory));
const events = (await client.call('MEMORY', 'USAGE', 'bull:imgclass-predict:events', 'SAMPLES', '0')) as number | null;
console.log(`\nBullMQ's event stream of the queue (capped at 10,000 events): ${((events ?? 0) / 1024).toFixed(0)} KiB`);
console.log(`\nload average at the end: ${os.loadavg()[0]!.toFixed(1)} (${os.cpus().length} cores)`);

await client.quit();
await redis.stop();
await rm(noopDir, { recursive: true, force: true });
