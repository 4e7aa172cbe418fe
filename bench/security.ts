/**
 * npm run bench:security — every attempt of test/confinement.test.ts, test/server-security.test.ts
 * and test/secure-batch.test.ts made again, counted: made, refused, and how many reached their
 * target with the guards and (where it can be replayed) with the code before them (a plain
 * fetch(), a plain readFile). Then what must still work (allowed files and hosts, a client with the
 * token), and the guard's cost per URL fetched, as a median ratio to a plain fetch in the same run.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createDogApp } from '../src/app/dog-app.js';
import { connectCommandRedis } from '../src/batch/connection.js';
import { fetchImageBytes } from '../src/batch/fetch.js';
import { readConfinedFile, resolveRoots } from '../src/batch/roots.js';
import type { Resolver } from '../src/batch/url-guard.js';
import { buildServer } from '../src/server/server.js';
import { makeEscapeFixture, redirectTargets, ssrfSpellings } from '../support/attacks.js';
import { makeCertificates } from '../support/certificates.js';
import { startRedis } from '../support/redis.js';
import { sampleClassFolders, sharedDataDir } from '../support/shared.js';
import { median, table } from './stats.js';

const data = sharedDataDir();
const photo = await readFile(sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file);
const tmp = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bench-security-'));
const rows: (string | number)[][] = [];
const controls: (string | number)[][] = [];

// The "internal network": a loopback server with a secret; every request it gets is counted.
let hits = 0;
const internal = http.createServer((req, res) => {
  const u = new URL(req.url!, 'http://x');
  // the allowed host's redirect is not a target; everything else it serves is
  if (u.pathname === '/redirect') return res.writeHead(302, { location: u.searchParams.get('to')! }).end();
  hits++;
  res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
});
await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
const port = (internal.address() as { port: number }).port;
const dns: Resolver = async (host) => {
  const table: Record<string, string[]> = {
    'rebind.test': ['127.0.0.1'],
    'mixed.test': ['93.184.216.34', '127.0.0.1'],
    'v6.test': ['::1'],
    'images.test': ['127.0.0.1'],
    'inner.test': ['10.0.0.2'],
  };
  if (!table[host]) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return table[host].map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

/** Refused = a final URL_REFUSED / PATH_REFUSED error; reached = the target server counted a request. */
async function attempt(fn: () => Promise<unknown>): Promise<{ refused: boolean; reached: boolean }> {
  const before = hits;
  let refused = false;
  try {
    await fn();
  } catch (e) {
    refused = /_REFUSED$/.test((e as { code?: string }).code ?? '');
  }
  return { refused, reached: hits > before };
}
/** The code before #23: fetch() following redirects, no checks. */
const plainFetch = (url: string) => fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(1000) }).then((r) => r.arrayBuffer());

async function urlRow(what: string, urls: string[], guarded: (u: string) => Promise<unknown>, before?: (u: string) => Promise<unknown>) {
  let refused = 0;
  let reached = 0;
  let reachedBefore = 0;
  for (const u of urls) {
    const r = await attempt(() => guarded(u));
    refused += Number(r.refused);
    reached += Number(r.reached);
    if (before) reachedBefore += Number((await attempt(() => before(u))).reached);
  }
  rows.push([what, urls.length, refused, reached, before ? reachedBefore : 'n/a']);
}

const spellings = ssrfSpellings(port).map(([u]) => u);
await urlRow(
  'URL: loopback/private/special address, every spelling (decimal, octal, hex, IPv6, mapped, NAT64, …)',
  spellings,
  (u) => fetchImageBytes(u, { timeoutMs: 2000 }),
  plainFetch,
);
await urlRow(
  'URL: a name resolving to loopback (or to a public and a private address)',
  ['rebind.test', 'mixed.test', 'v6.test'].map((h) => `http://${h}:${port}/secret.jpg`),
  (u) => fetchImageBytes(u, { timeoutMs: 2000, policy: { resolve: dns } }),
);
const via = (to: string) => `http://images.test:${port}/redirect?to=${encodeURIComponent(to)}`;
await urlRow(
  'URL: a redirect inward from an allowed host (--allow-url-host images.test)',
  redirectTargets(port).map(([to]) => to),
  (to) => fetchImageBytes(via(to), { timeoutMs: 2000, policy: { allowHosts: ['images.test'], resolve: dns } }),
  (to) => plainFetch(`http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(to)}`),
);

// Files: the worker reads only under its root.
const fixture = await makeEscapeFixture(tmp, photo);
const roots = await resolveRoots([fixture.root]);
{
  let refused = 0;
  let readBefore = 0;
  for (const [file] of fixture.escapes) {
    refused += Number((await attempt(() => readConfinedFile(file, roots))).refused);
    readBefore += await readFile(file).then(
      () => 1,
      () => 0,
    );
  }
  rows.push(['path: absolute outside the root, "..", a link out (file and folder), NUL', fixture.escapes.length, refused, 0, readBefore]);
}
let insideRead = 0;
for (const f of fixture.inside) insideRead += Number((await readConfinedFile(f, roots)).equals(photo));
controls.push(['files inside the root (one through a link inside)', fixture.inside.length, insideRead]);
let allowed = 0;
allowed += Number(
  Buffer.from(await fetchImageBytes(`http://images.test:${port}/p.jpg`, { policy: { allowHosts: ['images.test'], resolve: dns } })).equals(photo),
);
allowed += Number(
  Buffer.from(await fetchImageBytes(via(`http://images.test:${port}/p.jpg`), { policy: { allowHosts: ['images.test'], resolve: dns } })).equals(photo),
);
allowed += Number(Buffer.from(await fetchImageBytes(`http://127.0.0.1:${port}/p.jpg`, { policy: { allowPrivate: true } })).equals(photo));
controls.push(['URLs allowed by --allow-url-host (direct and by redirect) and --allow-private-urls', 3, allowed]);

// The server: token, rate limit, headers.
const app = await createDogApp();
const server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web'), security: { token: 'T0k3n', rateLimit: { max: 20 } } });
const base = await server.listen({ host: '127.0.0.1', port: 0 });
const statusOf = async (url: string, headers: Record<string, string> = {}, body?: Uint8Array) => {
  const r = await fetch(base + url, body ? { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'image/jpeg', ...headers } } : { headers });
  await r.arrayBuffer();
  return r;
};
{
  const tries: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic VDBrM246' }, { authorization: 'Bearer T0k3n2' }];
  let refused = 0;
  for (const h of tries)
    for (const [u, b] of [['/api/predict', photo] as const, ['/api/models', undefined] as const]) refused += Number((await statusOf(u, h, b)).status === 401);
  rows.push([
    'API without the token (none, wrong, Basic, longer): predict and models',
    tries.length * 2,
    refused,
    tries.length * 2 - refused,
    'all (no token)',
  ]);
}
{
  // a fresh server: the refused attempts above counted against the first one's limit (it runs before the token check)
  const limitedServer = await buildServer({
    app,
    webRoot: path.resolve(import.meta.dirname, '..', 'web'),
    security: { token: 'T0k3n', rateLimit: { max: 20 } },
  });
  const limitedBase = await limitedServer.listen({ host: '127.0.0.1', port: 0 });
  const auth = { authorization: 'Bearer T0k3n' };
  const statuses = await Promise.all(
    Array.from({ length: 60 }, () => fetch(`${limitedBase}/api/health`, { headers: auth }).then(async (r) => (await r.arrayBuffer(), r.status))),
  );
  await limitedServer.close();
  const limited = statuses.filter((s) => s === 429).length;
  rows.push(['API requests past the per-client limit (20 a minute here; 300 by default)', 40, limited, 40 - limited, 'all (no limit)']);
  controls.push(['API requests with the token, within the limit', 20, statuses.filter((s) => s === 200).length]);
}
{
  const urls = ['/', '/app.js', '/api/health', '/no-such-page'];
  let hardened = 0;
  for (const u of urls) {
    const r = await statusOf(u);
    const csp = r.headers.get('content-security-policy') ?? '';
    hardened += Number(
      csp.includes("frame-ancestors 'none'") && r.headers.get('x-content-type-options') === 'nosniff' && r.headers.get('referrer-policy') === 'no-referrer',
    );
  }
  controls.push(['responses with CSP, nosniff, Referrer-Policy (page, script, API, 404)', urls.length, hardened]);
}
await server.close();
app.dispose();

// Redis: a password, and TLS with the deployer's CA.
const { ca, cert, key } = await makeCertificates(tmp);
const redis = await startRedis({ password: 'pw', tls: { ca, cert, key } });
{
  const wrong = [
    [`rediss://127.0.0.1:${redis.port}`, ca],
    [redis.url.replace(':pw@', ':nope@'), ca],
    [redis.url, undefined],
    [`redis://:pw@127.0.0.1:${redis.port}`, undefined],
  ] as const;
  let refused = 0;
  for (const [url, caFile] of wrong) {
    const c = await connectCommandRedis(url, { ca: caFile }).catch(() => null);
    if (c) await c.quit();
    else refused++;
  }
  rows.push(['Redis without the password, with a wrong one, without the CA, without TLS', wrong.length, refused, wrong.length - refused, 'n/a']);
  const ok = await connectCommandRedis(redis.url, { ca });
  controls.push(['Redis with the password and the CA (rediss://)', 1, Number((await ok.ping()) === 'PONG')]);
  await ok.quit();
}
await redis.stop();

// What the guard costs per URL: check + pinned connection vs a plain fetch of the same photo.
const guardedMs: number[] = [];
const plainMs: number[] = [];
for (let i = 0; i < 60; i++) {
  let t = performance.now();
  await fetchImageBytes(`http://images.test:${port}/p.jpg`, { policy: { allowHosts: ['images.test'], resolve: dns } });
  guardedMs.push(performance.now() - t);
  t = performance.now();
  await plainFetch(`http://127.0.0.1:${port}/p.jpg`);
  plainMs.push(performance.now() - t);
}
internal.close();
await rm(tmp, { recursive: true, force: true });

console.log(`bench:security — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Node ${process.version}\n`);
console.log(table(['attempt', 'made', 'refused', 'reached its target', 'reached before #23'], rows));
console.log('\nNothing else changed:\n');
console.log(table(['allowed', 'made', 'answered'], controls));
console.log(
  `\nguard's cost per URL (resolve, check, pinned connection; ${photo.length} B photo, 60 each, interleaved): median ${median(guardedMs).toFixed(2)} ms ` +
    `vs plain fetch ${median(plainMs).toFixed(2)} ms = ${(median(guardedMs) / median(plainMs)).toFixed(2)}×`,
);
const made = rows.reduce((n, r) => n + Number(r[1]), 0);
const refusedAll = rows.reduce((n, r) => n + Number(r[2]), 0);
console.log(`\n${refusedAll} of ${made} attempts refused`);
if (refusedAll !== made) process.exitCode = 1;
