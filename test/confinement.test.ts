import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { batchResults, batchStatus, submitBatch } from '../src/batch/batch.js';
import { fetchImageBytes, TransientError } from '../src/batch/fetch.js';
import { readConfinedFile, resolveRoots } from '../src/batch/roots.js';
import type { Resolver, UrlPolicy } from '../src/batch/url-guard.js';
import { startBatchWorker } from '../src/batch/worker.js';
import { isImgclassError } from '../src/util/errors.js';
import { makeEscapeFixture, redirectTargets, ssrfSpellings } from '../support/attacks.js';
import { startRedis } from './redis.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

const data = sharedDataDir();
const photo = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file;
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanups.reverse()) await f().catch(() => {});
});

// The "internal network": a server on loopback holding a secret, a photo, and redirects. Every
// request it receives is logged: a refused attempt must not reach it at all.
let jpeg: Buffer;
let port = 0;
const hits: string[] = [];
before(async () => {
  jpeg = await readFile(photo);
  const server = http.createServer((req, res) => {
    hits.push(req.url!);
    const u = new URL(req.url!, 'http://x');
    if (u.pathname === '/secret.jpg') res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
    else if (u.pathname === '/redirect') res.writeHead(302, { location: u.searchParams.get('to')! }).end();
    else if (u.pathname.startsWith('/loop/')) res.writeHead(302, { location: `/loop/${Number(u.pathname.slice(6)) + 1}` }).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  port = (server.address() as { port: number }).port;
});

/** A DNS that the test controls, counting questions: names under .test resolve as it says, nothing else does. */
function fakeDns(table: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (host: string) => {
    asked.push(host);
    const a = table[host];
    if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return a.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
  };
  return Object.assign(resolve, { asked });
}

async function refusal(url: string, policy?: UrlPolicy): Promise<string> {
  const before = hits.length;
  try {
    await fetchImageBytes(url, { policy, timeoutMs: 5000 });
  } catch (e) {
    assert.ok(isImgclassError(e), `${url}: a final error, not a retry (${String(e)})`);
    assert.equal(e.code, 'URL_REFUSED', `${url}: ${e.message}`);
    assert.deepEqual(hits.slice(before), [], `${url}: nothing reached the internal server`);
    return e.message;
  }
  assert.fail(`${url} was fetched`);
}

test('SSRF: loopback, private, link-local and special addresses are refused in every spelling, before any connection', async () => {
  const attempts = ssrfSpellings(port);
  for (const [url, why] of attempts) assert.match(await refusal(url), why, url);
});

test('SSRF: a name that resolves to loopback, or to a public and a private address, is refused; the resolver is asked once', async () => {
  const dns = fakeDns({ 'rebind.test': ['127.0.0.1'], 'mixed.test': ['93.184.216.34', '10.0.0.7'], 'v6.test': ['::1'] });
  assert.match(await refusal(`http://rebind.test:${port}/secret.jpg`, { resolve: dns }), /rebind\.test resolves to 127\.0\.0\.1 is a loopback/);
  assert.match(await refusal(`http://mixed.test:${port}/secret.jpg`, { resolve: dns }), /10\.0\.0\.7 is a private/);
  assert.match(await refusal(`http://v6.test:${port}/secret.jpg`, { resolve: dns }), /::1 is a loopback/);
  assert.deepEqual(dns.asked, ['rebind.test', 'mixed.test', 'v6.test']);
});

test('SSRF via redirect: an allowed host that redirects inward is refused at the hop, and every hop is checked', async () => {
  // images.test is allowed (a deployer's own image host) and happens to be the loopback server;
  // the address literal 127.0.0.1 and other names are not allowed.
  const dns = fakeDns({ 'images.test': ['127.0.0.1'], 'inner.test': ['10.0.0.2'] });
  const policy: UrlPolicy = { allowHosts: ['images.test'], resolve: dns };
  const via = (to: string) => `http://images.test:${port}/redirect?to=${encodeURIComponent(to)}`;
  for (const [to, why] of redirectTargets(port)) {
    const before = hits.length;
    await assert.rejects(fetchImageBytes(via(to), { policy, timeoutMs: 5000 }), (e) => isImgclassError(e) && e.code === 'URL_REFUSED' && why.test(e.message));
    assert.deepEqual(
      hits.slice(before).map((h) => h.split('?')[0]),
      ['/redirect'],
      `${to}: only the allowed host's redirect was requested`,
    );
  }

  // The allowed host itself works, redirects within it too; the connection goes to the address
  // that was checked (images.test is unknown to the system's DNS), with one question per hop.
  dns.asked.length = 0;
  const bytes = await fetchImageBytes(via(`http://images.test:${port}/secret.jpg`), { policy });
  assert.deepEqual(Buffer.from(bytes), jpeg);
  assert.deepEqual(dns.asked, ['images.test', 'images.test']);

  // At most 5 redirects: /loop/0 … /loop/5 is 6 hops of redirects.
  await assert.rejects(fetchImageBytes(`http://images.test:${port}/loop/0`, { policy }), (e) => isImgclassError(e) && /more than 5 redirects/.test(e.message));

  // --allow-private-urls opens everything, for a deployer who means it.
  assert.deepEqual(Buffer.from(await fetchImageBytes(`http://127.0.0.1:${port}/secret.jpg`, { policy: { allowPrivate: true } })), jpeg);
  // A refusal is final; an unreachable allowed host is still a retry (TransientError), as before.
  await assert.rejects(fetchImageBytes('http://127.0.0.1:1/x.jpg', { policy: { allowHosts: ['127.0.0.1'] } }), (e) => e instanceof TransientError);
});

test('path confinement: absolute paths outside, "..", and symbolic links out of the root are refused; files inside are read', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'imgclass-roots-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const { root, inside, escapes } = await makeEscapeFixture(tmp, jpeg);
  // a root given through a symlink is judged by its real path
  await symlink(root, path.join(tmp, 'root-alias'));
  const roots = await resolveRoots([path.join(tmp, 'root-alias')]);

  for (const file of [...inside, path.join(tmp, 'root-alias', 'sub', 'dog.jpg')]) assert.deepEqual(await readConfinedFile(file, roots), jpeg, file);
  for (const [file, why] of escapes)
    await assert.rejects(readConfinedFile(file, roots), (e) => isImgclassError(e) && e.code === 'PATH_REFUSED' && why.test(e.message), file);
  await assert.rejects(readConfinedFile(path.join(root, 'missing.jpg'), roots), (e) => isImgclassError(e) && e.code === 'FILE_NOT_FOUND');
  await assert.rejects(resolveRoots([path.join(tmp, 'nope')]), /--root: .* does not exist/);
});

test('a worker answers escapes and SSRF attempts with final error lines, once each, and still answers what is allowed', async () => {
  const redis = await startRedis();
  cleanups.push(redis.stop);
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  cleanups.push(() => client.quit());
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'imgclass-roots-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const root = path.join(tmp, 'root');
  await mkdir(root);
  await writeFile(path.join(root, 'dog.jpg'), jpeg);
  await symlink('/etc/hostname', path.join(root, 'hostname.jpg'));

  const dns = fakeDns({ 'images.test': ['127.0.0.1'], 'evil.test': ['127.0.0.1'] });
  const seen: string[] = [];
  const worker = await startBatchWorker<Record<string, unknown>>({
    redisUrl: redis.url,
    namespace: 'conf',
    task: 'predict',
    roots: [root],
    urlPolicy: { allowHosts: ['images.test'], resolve: dns },
    log: () => {},
    inference: {
      // what reaches inference is what the worker read: only allowed bytes ever get here
      answer: async (file, source) => {
        seen.push(file);
        return { file, bytes: typeof source === 'string' ? -1 : source.byteLength };
      },
      failure: (file, e, message) => ({ file, code: e.code, error: message }),
      isError: (l) => 'error' in l,
    },
  });
  cleanups.push(() => worker.close());
  const before = hits.length;
  const inputs = [
    path.join(root, 'dog.jpg'),
    '/etc/passwd',
    `${root}/../../etc/passwd`,
    path.join(root, 'hostname.jpg'),
    `http://127.0.0.1:${port}/secret.jpg`,
    `http://[::ffff:127.0.0.1]:${port}/secret.jpg`,
    `http://2130706433:${port}/secret.jpg`,
    `http://evil.test:${port}/secret.jpg`,
    `http://images.test:${port}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${port}/secret.jpg`)}`,
    `http://images.test:${port}/secret.jpg`,
  ];
  await submitBatch(client, { namespace: 'conf', name: 'attack', task: 'predict', inputs, attempts: 3, backoffMs: 100 });
  const deadline = Date.now() + 30_000;
  while (!(await batchStatus(client, 'conf', 'attack')).complete) {
    assert.ok(Date.now() < deadline, 'the batch finishes');
    await new Promise((r) => setTimeout(r, 100));
  }
  const lines: Record<string, unknown>[] = [];
  for await (const e of batchResults(client, 'conf', 'attack')) lines.push(JSON.parse(e.line!) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => l.code ?? l.bytes),
    [jpeg.length, 'PATH_REFUSED', 'PATH_REFUSED', 'PATH_REFUSED', 'URL_REFUSED', 'URL_REFUSED', 'URL_REFUSED', 'URL_REFUSED', 'URL_REFUSED', jpeg.length],
    JSON.stringify(lines, null, 1),
  );
  assert.deepEqual(seen.sort(), [path.join(root, 'dog.jpg'), `http://images.test:${port}/secret.jpg`].sort());
  // the internal server saw the allowed host's redirect and its photo, nothing else
  assert.deepEqual(
    hits
      .slice(before)
      .map((h) => h.split('?')[0])
      .sort(),
    ['/redirect', '/secret.jpg'],
  );
  // one attempt per input: a refusal is never retried (a retry would ask the DNS again)
  assert.deepEqual(dns.asked.sort(), ['evil.test', 'images.test', 'images.test']);
});
