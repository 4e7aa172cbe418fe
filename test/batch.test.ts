import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { batchResults, batchStatus, cancelBatch, removeBatch, submitBatch } from '../src/batch/batch.js';
import { queueName } from '../src/batch/names.js';
import { hugePngHeader, PDF, SVG } from './fixtures.js';
import { startRedis } from './redis.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

const data = sharedDataDir(); // also points IMGCLASS_MODEL_DIR at shared/models, offline
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const env = { ...process.env, CI: '1' };

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const f of cleanups.reverse()) await f().catch(() => {});
});

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(process.execPath, ['--import', 'tsx', cli, ...args], { env, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      children.delete(c);
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    children.add(c);
  });
}

/**
 * Workers read files only under their roots and fetch only public URLs unless told otherwise
 * (test/confinement.test.ts): these tests' files are under the shared data and a temporary
 * folder, their URLs on a loopback server.
 */
let confinement: string[] = ['--root', data];

interface WorkerProcess {
  child: ChildProcess;
  /** Its BullMQ worker name (host:pid), stored on the jobs it holds. */
  name: string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** An `imgclass worker` process; resolves once it says it is ready (models loaded, connected). */
async function startWorker(redisUrl: string, extra: string[]): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'worker', '--redis', redisUrl, '--lock-ms', '5000', ...confinement, ...extra], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      children.delete(child);
      r(code);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker not ready after 120 s: ${err}`)), 120_000);
    child.stderr!.on('data', () => {
      if (!err.includes(' ready: ')) return;
      clearTimeout(t);
      resolve();
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`worker exited with ${code}: ${err}`));
    });
  });
  return { child, name: `${os.hostname()}:${child.pid}`, stderr: () => err, exited };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const withoutTimings = (l: Record<string, unknown>) => {
  const { timings: _t, ...rest } = l;
  return rest;
};

test('a batch of real photos, hostile files and URLs through two workers, one SIGKILLed halfway: every input once, in order, as predict answers', async (t) => {
  const t0 = performance.now();
  const phases: string[] = [];
  const mark = (what: string) => phases.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const redis = await startRedis();
  cleanups.push(redis.stop);
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  cleanups.push(() => client.quit());

  // Real photos: dogs, people, neither.
  const photos = [
    ...sampleClassFolders(path.join(data, 'imagewoof/val'), 1),
    ...sampleClassFolders(path.join(data, 'lfw'), 1).filter((_, i) => i % 100 === 0),
    ...sampleClassFolders(path.join(data, 'negatives'), 1),
  ].map((f) => f.file);
  // Hostile files, in a folder that submit walks (sorted, like predict).
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'imgclass-batch-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const hostileDir = path.join(tmp, 'hostile');
  await mkdir(hostileDir);
  const jpeg = await readFile(photos[0]!);
  const hostile: [string, Buffer | string, string][] = [
    ['a-text.jpg', 'this is a text file with a .jpg name', 'NOT_AN_IMAGE'],
    ['b-truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length * 0.4)), 'CORRUPT_IMAGE'],
    ['c-empty.png', '', 'EMPTY_INPUT'],
    ['d-vector.jpg', SVG, 'UNSUPPORTED_FORMAT'],
    ['e-bomb.png', hugePngHeader(40_000, 40_000), 'TOO_MANY_PIXELS'],
    ['f-document.png', PDF, 'UNSUPPORTED_FORMAT'],
  ];
  for (const [name, bytes] of hostile) await writeFile(path.join(hostileDir, name), bytes);
  // URLs from a local server: a photo, one that fails once (retried), one gone (404), one always failing.
  let flakyHits = 0;
  const server = http.createServer((req, res) => {
    const send = (status: number, body: Buffer | string = '') => {
      res.writeHead(status, { 'content-type': 'image/jpeg' });
      res.end(body);
    };
    if (req.url === '/dog.jpg') send(200, jpeg);
    else if (req.url === '/flaky.jpg') send(++flakyHits === 1 ? 503 : 200, flakyHits === 1 ? '' : jpeg);
    else if (req.url === '/down.jpg') send(500, 'boom');
    else send(404);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  confinement = ['--root', data, '--root', tmp, '--allow-url-host', '127.0.0.1'];
  const urls = [`${base}/dog.jpg`, `${base}/flaky.jpg`, `${base}/missing.jpg`, `${base}/down.jpg`];
  const expectedOrder = [...hostile.map(([n]) => path.join(hostileDir, n)), ...photos, ...urls];

  // Two workers (A holds two jobs at a time, B one), started while the batch is submitted.
  const listFile = path.join(tmp, 'urls.txt');
  await writeFile(listFile, `# URLs\n${urls.join('\n')}\n`);
  const [a, b, sub] = await Promise.all([
    startWorker(redis.url, ['--concurrency', '2']),
    startWorker(redis.url, []),
    // named one by one: like predict, a walked folder skips (and reports) what is not an image, a named file is always answered
    runCli([
      'batch',
      'submit',
      '--redis',
      redis.url,
      '--name',
      'mixed',
      '--attempts',
      '3',
      ...hostile.map(([n]) => path.join(hostileDir, n)),
      ...photos,
      '--files-from',
      listFile,
    ]),
  ]);
  assert.equal(sub.code, 0, sub.stderr);
  assert.match(sub.stdout, new RegExp(`${expectedOrder.length} inputs added`));
  mark('submitted, workers A and B ready');

  const queue = new Queue(queueName('imgclass', 'predict'), { connection: client });
  cleanups.push(() => queue.close());
  const heldBy = async (name: string) => (await queue.getActive()).filter((j) => j.processedBy === name).map((j) => j.id!);
  const done = async () => (await batchStatus(client, 'imgclass', 'mixed')).done;

  // A third of the way in, with jobs in A's hands: SIGKILL A.
  let orphaned: string[] = [];
  await until(
    'a third of the batch, with A holding jobs',
    async () => (await done()) >= expectedOrder.length / 3 && (orphaned = await heldBy(a.name)).length > 0,
    60_000,
  );
  a.child.kill('SIGKILL');
  assert.equal(await a.exited, null, 'A died of the signal');
  mark(`A killed holding ${orphaned.length} jobs at ${await done()}/${expectedOrder.length} done`);

  // B gets SIGTERM while it holds a job: it finishes that job, stores its line, exits 0.
  let inHand: string[] = [];
  await until('B holding a job', async () => (inHand = await heldBy(b.name)).length > 0, 30_000);
  b.child.kill('SIGTERM');
  assert.equal(await b.exited, 0, b.stderr());
  const afterB = await client.hmget('imgclass:batch:{mixed}:results', ...inHand);
  assert.ok(
    afterB.every((l) => l !== null),
    'the job B held when told to stop has its result',
  );
  mark('B stopped by SIGTERM after finishing its job');

  // A fresh worker C finishes the batch, A's orphaned jobs included (BullMQ's stalled-job check),
  // while `predict --json` answers the same files in one process, for comparison.
  const filesOnly = expectedOrder.filter((f) => !f.startsWith('http'));
  const predicting = runCli(['predict', '--json', ...filesOnly]);
  const c = await startWorker(redis.url, []);
  mark('worker C ready');
  await until('the batch to finish', async () => (await batchStatus(client, 'imgclass', 'mixed')).complete, 150_000);
  assert.match(c.stderr() + b.stderr(), /orphaned by a worker that died/);
  const orphanLines = await client.hmget('imgclass:batch:{mixed}:results', ...orphaned);
  assert.ok(
    orphanLines.every((l) => l !== null),
    'the jobs A held when killed were answered by another worker',
  );
  mark('batch complete');

  // Results through the CLI, as JSONL and as CSV.
  const outJsonl = path.join(tmp, 'out', 'mixed.jsonl');
  const outCsv = path.join(tmp, 'out', 'mixed.csv');
  const [res, csv, pred] = await Promise.all([
    runCli(['batch', 'results', '--redis', redis.url, 'mixed', '--out', outJsonl]),
    runCli(['batch', 'results', '--redis', redis.url, 'mixed', '--out', outCsv]),
    predicting,
  ]);
  mark('results and predict');
  assert.equal(res.code, 1, 'error lines make the exit code 1, as for predict');
  const lines = (await readFile(outJsonl, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => l.file),
    expectedOrder,
    'every input exactly once, in submission order',
  );

  const predicted = new Map(
    pred.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .map((l) => [l.file as string, l]),
  );
  assert.equal(predicted.size, filesOnly.length);
  for (const l of lines.filter((l) => !(l.file as string).startsWith('http'))) {
    assert.deepEqual(withoutTimings(l), withoutTimings(predicted.get(l.file as string)!), `${l.file}: the worker's line is predict's`);
  }
  const byFile = new Map(lines.map((l) => [l.file as string, l]));
  for (const [name, , code] of hostile) assert.equal(byFile.get(path.join(hostileDir, name))!.code, code, name);
  assert.ok(photos.every((p) => byFile.get(p)!.kind !== 'error'));
  const kinds = new Set(photos.map((p) => byFile.get(p)!.kind));
  assert.ok(kinds.has('dog') && kinds.has('human') && kinds.has('neither'), `routing covers dogs, humans and neither: ${[...kinds]}`);

  // URLs: read with the same decoder; a 503 is retried, a 404 is final, a URL that keeps failing ends as an error line.
  const fromPhoto = withoutTimings({ ...byFile.get(photos[0]!)!, file: '' });
  assert.deepEqual(withoutTimings({ ...byFile.get(urls[0]!)!, file: '' }), fromPhoto);
  assert.deepEqual(withoutTimings({ ...byFile.get(urls[1]!)!, file: '' }), fromPhoto, 'retried after a 503');
  assert.ok(flakyHits >= 2);
  assert.equal(byFile.get(urls[2]!)!.code, 'FETCH_FAILED');
  assert.match(byFile.get(urls[3]!)!.message as string, /failed 3 times.*HTTP 500/);
  assert.equal(byFile.get(urls[3]!)!.code, 'JOB_FAILED');
  assert.equal(lines.filter((l) => l.code === 'JOB_FAILED').length, 1, 'no input lost to the killed worker');

  // CSV: a header and one row per input, same order.
  assert.equal(csv.code, 1);
  const rows = (await readFile(outCsv, 'utf8')).trim().split('\n');
  assert.equal(rows[0], 'file,kind,breed,probability,human_breed,human_probability,dog_probability,faces,message,code');
  assert.equal(rows.length, expectedOrder.length + 1);
  assert.ok(rows[1]!.startsWith(`${expectedOrder[0]},error,`));

  // Submitting the same batch again adds no job.
  const again = await submitBatch(client, { namespace: 'imgclass', name: 'mixed', task: 'predict', inputs: expectedOrder });
  assert.deepEqual(again, { total: expectedOrder.length, added: 0, known: expectedOrder.length, requeued: 0 });
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed');
  assert.deepEqual(counts, { waiting: 0, active: 0, delayed: 0 });

  c.child.kill('SIGTERM');
  assert.equal(await c.exited, 0);
  mark('done');
  t.diagnostic(`${expectedOrder.length} inputs: ${phases.join('; ')}`);
});

test('cancel: queued inputs are removed and read as cancelled; remove leaves nothing in Redis', async () => {
  const redis = await startRedis();
  cleanups.push(redis.stop);
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  cleanups.push(() => client.quit());
  const photos = sampleClassFolders(path.join(data, 'negatives'), 2).map((f) => f.file);
  // No worker runs: every job stays queued.
  const r = await submitBatch(client, { namespace: 'imgclass', name: 'doomed', task: 'predict', inputs: photos });
  assert.equal(r.added, photos.length);
  const queue = new Queue(queueName('imgclass', 'predict'), { connection: client });
  cleanups.push(() => queue.close());
  assert.equal(await queue.getWaitingCount(), photos.length);
  const before = await batchStatus(client, 'imgclass', 'doomed');
  assert.deepEqual([before.complete, before.pending, before.done], [false, photos.length, 0]);

  assert.equal(await cancelBatch(client, 'imgclass', 'doomed'), photos.length);
  assert.equal(await queue.getWaitingCount(), 0);
  const s = await batchStatus(client, 'imgclass', 'doomed');
  assert.equal(s.status, 'cancelled');
  assert.equal(s.complete, true);
  const entries = [];
  for await (const e of batchResults(client, 'imgclass', 'doomed')) entries.push(e);
  assert.deepEqual(
    entries.map((e) => e.input),
    photos,
  );
  assert.ok(entries.every((e) => e.line === null && e.missing?.state === 'cancelled'));

  await removeBatch(client, 'imgclass', 'doomed');
  assert.deepEqual(await client.keys('imgclass:*'), []);
  await assert.rejects(batchStatus(client, 'imgclass', 'doomed'), /no batch "doomed"/);
});
