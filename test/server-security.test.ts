import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createDogApp, type DogApp } from '../src/app/dog-app.js';
import { buildServer, type ServerOptions } from '../src/server/server.js';
import { launchChromium } from '../support/chromium.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

const data = sharedDataDir();
const webRoot = path.resolve(import.meta.dirname, '..', 'web');
let app: DogApp;
let dog: Buffer;
const servers: FastifyInstance[] = [];

before(async () => {
  app = await createDogApp();
  dog = await readFile(sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file);
});
after(async () => {
  for (const s of servers) await s.close();
  app.dispose();
});

async function serve(security?: ServerOptions['security']): Promise<string> {
  const server = await buildServer({ app, webRoot, security });
  servers.push(server);
  return server.listen({ host: '127.0.0.1', port: 0 });
}

const upload = (base: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/api/predict`, { method: 'POST', body: new Uint8Array(dog), headers: { 'content-type': 'image/jpeg', ...headers } });

/** The headers every response must carry, page or API, success or refusal. */
function assertHardened(res: Response, what: string): void {
  const csp = res.headers.get('content-security-policy') ?? '';
  for (const d of [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ])
    assert.ok(csp.includes(d), `${what}: CSP has ${d}: ${csp}`);
  assert.ok(!/unsafe-inline|unsafe-eval'|\*/.test(csp.replace("'wasm-unsafe-eval'", '')), `${what}: nothing loose in the CSP: ${csp}`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', what);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', what);
  // cross-origin isolation (device mode's threads) is still there
  assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin', what);
  assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp', what);
}

test('security headers on the page, its scripts, the API, errors and uploads', async () => {
  const base = await serve();
  for (const url of ['/', '/app.js', '/style.css', '/api/health', '/api/models', '/no-such-page', '/api/no-such-route']) {
    const res = await fetch(base + url);
    await res.arrayBuffer();
    assertHardened(res, url);
  }
  const res = await upload(base);
  assert.equal(res.status, 200);
  assert.ok(((await res.json()) as { breeds: unknown[] }).breeds.length > 0);
  assertHardened(res, 'POST /api/predict');
});

test('rate limit: the API answers 429 with Retry-After past the limit; the page is not limited; the default is 300 a minute', async () => {
  const base = await serve({ rateLimit: { max: 5, windowMs: 60_000 } });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const res = await fetch(`${base}/api/health`);
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
  const limited = await upload(base);
  assert.equal(limited.status, 429);
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${limited.headers.get('retry-after')}`);
  assert.match(((await limited.json()) as { error: string }).error, /rate limit/i);
  assertHardened(limited, '429');
  for (const url of ['/', '/app.js']) assert.equal((await fetch(base + url)).status, 200, `${url} is not rate limited`);

  const defaults = await serve();
  const answers = await Promise.all(Array.from({ length: 301 }, () => fetch(`${defaults}/api/health`).then(async (r) => (await r.arrayBuffer(), r.status))));
  assert.equal(answers.filter((s) => s === 200).length, 300);
  assert.equal(answers.filter((s) => s === 429).length, 1);
  // and a benchmark may switch it off
  const open = await serve({ rateLimit: false });
  const many = await Promise.all(Array.from({ length: 320 }, () => fetch(`${open}/api/health`).then(async (r) => (await r.arrayBuffer(), r.status))));
  assert.ok(many.every((s) => s === 200));
});

test('token: /api/ needs Authorization: Bearer; the page and its files do not; an upload without it is not classified', async () => {
  const token = 'correct horse battery staple';
  const base = await serve({ token });
  const before = (await (await fetch(`${base}/api/health`, { headers: { authorization: `Bearer ${token}` } })).json()) as { queue: unknown };
  for (const [headers, why] of [
    [{}, /requires Authorization: Bearer/],
    [{ authorization: 'Bearer wrong' }, /wrong bearer token/],
    [{ authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }, /requires Authorization: Bearer/],
    [{ authorization: `Bearer ${token}x` }, /wrong bearer token/],
  ] as const) {
    for (const res of [await fetch(`${base}/api/models`, { headers }), await upload(base, headers)]) {
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="imgclass"');
      assert.match(((await res.json()) as { error: string }).error, why);
      assertHardened(res, '401');
    }
  }
  const after = (await (await fetch(`${base}/api/health`, { headers: { authorization: `Bearer ${token}` } })).json()) as { queue: unknown };
  assert.deepEqual(after.queue, before.queue, 'no refused upload reached the inference queue');
  // the router decodes the path: an encoded /api/ is the API too, and needs the token
  for (const url of ['/%61pi/models', '/%61pi/health', '/./api/models']) assert.equal((await fetch(base + url)).status, 401, url);
  const ok = await upload(base, { authorization: `Bearer ${token}` });
  assert.equal(ok.status, 200);
  for (const url of ['/', '/app.js', '/device-manifest.json']) assert.equal((await fetch(base + url)).status, 200, url);
});

test('request timeout: a client that starts a request and goes quiet is cut off', async () => {
  const base = await serve({ requestTimeoutMs: 1000 });
  const { port } = new URL(base);
  const sock = net.connect(Number(port), '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const t0 = Date.now();
  sock.write('POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\nabc');
  let answer = '';
  sock.on('data', (d) => (answer += d));
  await new Promise((r) => sock.once('close', r));
  const s = (Date.now() - t0) / 1000;
  assert.ok(s < 10, `closed after ${s} s`);
  assert.ok(answer === '' || /^HTTP\/1\.1 408/.test(answer), answer);
});

test('serve warns when it listens beyond loopback without a token', async () => {
  const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
  const start = (args: string[], env: Record<string, string> = {}) =>
    new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--port', '0', ...args], {
        env: { ...process.env, CI: '1', IMGCLASS_TOKEN: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.stdout.on('data', (d) => {
        if (!String(d).includes('imgclass ready')) return;
        c.kill('SIGTERM');
        resolve(err);
      });
      c.once('exit', (code) => (code ? reject(new Error(`serve exited ${code}: ${err}`)) : resolve(err)));
    });
  assert.match(await start(['--host', '0.0.0.0']), /warning: listening on 0\.0\.0\.0, reachable from other machines, without a token/);
  assert.doesNotMatch(await start(['--host', '0.0.0.0'], { IMGCLASS_TOKEN: 'from-the-environment' }), /warning/);
  assert.doesNotMatch(await start(['--host', '127.0.0.1']), /warning/);
});

test('the page with a token server: refused without it, working once opened as /#token=…, which leaves the address bar; no CSP violation', async () => {
  const token = 'page-token-51c0';
  const base = await serve({ token });
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const violations: string[] = [];
    context.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
    });
    const dogFile = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file;
    const message = '#message';

    const without = await context.newPage();
    await without.goto(base);
    await without.waitForFunction(() => /unavailable/.test(document.getElementById('models')!.textContent ?? ''));
    await without.setInputFiles('#file', dogFile);
    await without.waitForFunction((sel) => /Bearer/.test(document.querySelector(sel)!.textContent ?? ''), message, { timeout: 30_000 });

    const withToken = await context.newPage();
    await withToken.goto(`${base}/#token=${token}`);
    await withToken.waitForFunction(() => document.getElementById('models')!.textContent!.includes('mobilenet'));
    assert.ok(!withToken.url().includes(token), `the token left the address bar: ${withToken.url()}`);
    await withToken.setInputFiles('#file', dogFile);
    await withToken.waitForFunction((sel) => /Dog detected/.test(document.querySelector(sel)!.textContent ?? ''), message, { timeout: 30_000 });
    // the breed bars are sized through the CSSOM, which the CSP allows (an inline style attribute it refuses)
    const widths = await withToken.$$eval('#breeds li .bar span', (spans) => spans.map((s) => (s as HTMLElement).style.width));
    assert.ok(widths.length === 5 && widths.every((w) => /^\d+(\.\d)?%$/.test(w)), widths.join(' '));
    assert.deepEqual(violations, []);
  } finally {
    await browser.close();
  }
});
