import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startBatchWorker } from '../src/batch/worker.js';
import { makeCertificates } from '../support/certificates.js';
import { startRedis } from './redis.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// Batches through a Redis that a deployer would run: one that requires a password, and one that
// also speaks only TLS with a certificate from the deployer's own CA (made here with openssl).
const data = sharedDataDir();
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const PASSWORD = 'pw-7f3a9c-not-in-any-log';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const f of cleanups.reverse()) await f().catch(() => {});
});

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(process.execPath, ['--import', 'tsx', cli, ...args], { env: { ...process.env, CI: '1', ...env } }, (err, stdout, stderr) => {
      children.delete(c);
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    children.add(c);
  });
}

test('a TLS-only Redis with a password: worker and batch commands need both, and a batch of real photos goes through', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'imgclass-tls-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const certs = await makeCertificates(tmp);
  const redis = await startRedis({ password: PASSWORD, tls: certs });
  cleanups.push(redis.stop);
  assert.match(redis.url, /^rediss:\/\/:pw-.*@127\.0\.0\.1:\d+$/);
  const bare = `rediss://127.0.0.1:${redis.port}`;
  const stderrs: string[] = [];

  // Every way to get it wrong fails fast with a clear message, and never prints the password.
  for (const [args, why] of [
    [['--redis', bare, '--redis-ca', certs.ca], /NOAUTH|Authentication required/],
    [['--redis', redis.url.replace(PASSWORD, 'wrong'), '--redis-ca', certs.ca], /WRONGPASS|invalid username-password/],
    [['--redis', redis.url], /self[- ]signed|unable to verify|certificate/i],
    [['--redis', redis.url.replace('rediss:', 'redis:'), '--redis-ca', certs.ca], /--redis-ca is for TLS/],
  ] as const) {
    const r = await runCli(['batch', 'status', 'none', ...args]);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, why);
    stderrs.push(r.stderr);
  }

  // The real thing: a worker process and the batch commands, CA from the option or the environment.
  const photos = [
    ...sampleClassFolders(path.join(data, 'imagewoof/val'), 1).slice(0, 2),
    ...sampleClassFolders(path.join(data, 'negatives'), 1).slice(0, 1),
  ].map((p) => p.file);
  const worker = spawn(process.execPath, ['--import', 'tsx', cli, 'worker', '--redis', redis.url, '--redis-ca', certs.ca, '--root', data], {
    env: { ...process.env, CI: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(worker);
  let workerErr = '';
  worker.stderr!.on('data', (d) => (workerErr += d));
  const submitted = await runCli(['batch', 'submit', '--redis', redis.url, '--name', 'secure', ...photos], { IMGCLASS_REDIS_CA: certs.ca });
  assert.equal(submitted.code, 0, submitted.stderr);
  const results = await runCli(['batch', 'results', '--redis', redis.url, '--redis-ca', certs.ca, '--wait', 'secure']);
  assert.equal(results.code, 0, results.stderr);
  const lines = results.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { file: string; kind: string });
  assert.deepEqual(
    lines.map((l) => l.file),
    photos,
  );
  assert.ok(
    lines.every((l) => l.kind !== 'error'),
    results.stdout,
  );
  assert.equal(lines[0]!.kind, 'dog');
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
  assert.match(workerErr, / ready: queue imgclass-predict on rediss:\/\/:\*\*\*@127\.0\.0\.1/);
  for (const text of [...stderrs, workerErr, submitted.stdout, submitted.stderr, results.stderr]) assert.ok(!text.includes(PASSWORD), text);
});

test('a password-protected Redis: the URL from $IMGCLASS_REDIS_URL carries the password; without it, nothing is reached', async () => {
  const redis = await startRedis({ password: PASSWORD });
  cleanups.push(redis.stop);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'imgclass-auth-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const files = ['a.jpg', 'b.jpg'].map((n) => path.join(tmp, n));
  const text = 'not an image, and it does not matter: the worker below only counts bytes';
  for (const f of files) await writeFile(f, text);

  await assert.rejects(
    startBatchWorker({
      redisUrl: `redis://127.0.0.1:${redis.port}`,
      namespace: 'auth',
      task: 'predict',
      log: () => {},
      inference: { answer: async () => ({}), failure: () => ({}), isError: () => false },
    }),
    /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/?: NOAUTH/,
  );
  const worker = await startBatchWorker({
    redisUrl: redis.url,
    namespace: 'auth',
    task: 'predict',
    roots: [tmp],
    log: () => {},
    inference: {
      answer: async (file, source): Promise<Record<string, unknown>> => ({ file, bytes: typeof source === 'string' ? -1 : source.byteLength }),
      failure: (file, e) => ({ file, code: e.code }),
      isError: () => false,
    },
  });
  cleanups.push(() => worker.close());
  const env = { IMGCLASS_REDIS_URL: redis.url };
  const sub = await runCli(['batch', 'submit', '--namespace', 'auth', '--name', 'pw', ...files], env);
  // submit walks like predict: named files are queued even when they are not images
  assert.equal(sub.code, 0, sub.stderr);
  const res = await runCli(['batch', 'results', '--namespace', 'auth', '--wait', 'pw'], env);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(
    res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown),
    files.map((file) => ({ file, bytes: Buffer.byteLength(text) })),
  );
  const denied = await runCli(['batch', 'status', 'pw', '--namespace', 'auth', '--redis', `redis://127.0.0.1:${redis.port}`]);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /NOAUTH/);
});
