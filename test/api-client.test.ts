import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';

// web/api-client.js in Chromium against a scripted server: the token from #token=… on every
// request, and the server-sent-events reader that replaced EventSource (which cannot send it):
// fields, comments, multi-line data, lines cut across chunks, \r\n endings, reconnecting after a
// dropped connection with Last-Event-ID and the server's retry delay, and closing for good on an
// HTTP error, as EventSource does.
const client = path.resolve(import.meta.dirname, '..', 'web', 'api-client.js');
const TOKEN = 'stream-token-42';
let server: http.Server;
let base: string;
let browser: Browser;
const seen: { url: string; auth?: string; lastEventId?: string }[] = [];

before(async () => {
  const code = await readFile(client);
  let connections = 0;
  server = http.createServer((req, res) => {
    seen.push({ url: req.url!, auth: req.headers.authorization, lastEventId: req.headers['last-event-id'] as string | undefined });
    if (req.url === '/api-client.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
    if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>t</title>');
    if (req.url === '/api/health')
      return req.headers.authorization === `Bearer ${TOKEN}`
        ? res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
        : res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"no token"}');
    if (req.url === '/api/refused') return res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'wrong bearer token' }));
    if (req.url !== '/api/stream') return res.writeHead(404).end();
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"no token"}');
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    connections++;
    if (connections === 1) {
      // one message cut in the middle of a field and of a \r\n, then a comment, a default-typed message, and a drop
      const chunks = ['retry: 150\r\nid: 7\r\nevent: st', 'ate\r\ndata: {"n":1,\r', '\ndata: "s":"é"}\r\n\r\n', ': keep-alive\n\n', 'data: plain\n\n'];
      let i = 0;
      const next = () => (i < chunks.length ? res.write(chunks[i++], () => setTimeout(next, 30)) : res.destroy());
      next();
    } else {
      res.write('event: state\ndata: {"n":2}\n\n');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

test('eventStream: parses fields as EventSource does, carries the token, reconnects with Last-Event-ID, closes on an HTTP error', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/#token=${TOKEN}`);
  // a script, not a function: the test runner's transform would add helpers the page does not have
  const got = (await page.evaluate(`(async () => {
    const { eventStream, authHeaders } = await import('/api-client.js');
    const events = [];
    const errors = [];
    const stream = await new Promise((resolve) => {
      const s = eventStream('/api/stream', (e) => {
        events.push(e);
        if (events.length === 3) resolve(s);
      }, { onError: (err, fatal) => errors.push({ message: err.message, fatal }) });
    });
    stream.close();
    const refused = await new Promise((resolve) => eventStream('/api/refused', () => {}, { onError: (err, fatal) => resolve({ message: err.message, fatal }) }));
    return { events, errors, refused, headers: authHeaders(), address: location.href };
  })()`)) as {
    events: { type: string; data: string; lastEventId: string }[];
    errors: { message: string; fatal: boolean }[];
    refused: { message: string; fatal: boolean };
    headers: Record<string, string>;
    address: string;
  };
  assert.deepEqual(got.events, [
    { type: 'state', data: '{"n":1,\n"s":"é"}', lastEventId: '7' },
    { type: 'message', data: 'plain', lastEventId: '7' },
    { type: 'state', data: '{"n":2}', lastEventId: '7' },
  ]);
  assert.equal(got.errors.length, 1, 'one drop, reported as not fatal');
  assert.equal(got.errors[0]!.fatal, false);
  assert.deepEqual(got.refused, { message: 'wrong bearer token', fatal: true });
  assert.deepEqual(got.headers, { authorization: `Bearer ${TOKEN}` });
  assert.ok(!got.address.includes(TOKEN), `the token left the address bar: ${got.address}`);
  const streams = seen.filter((s) => s.url === '/api/stream');
  assert.equal(streams.length, 2, 'one reconnection');
  assert.ok(
    streams.every((s) => s.auth === `Bearer ${TOKEN}`),
    'both connections carried the token',
  );
  assert.equal(streams[1]!.lastEventId, '7', 'the reconnection says the last event id');
  assert.equal(seen.filter((s) => s.url === '/api/refused').length, 1, 'an HTTP error is not retried');
  assert.ok(!seen.some((s) => s.url.includes(TOKEN)), 'the token is in no URL');
  await page.close();
});

test('apiLinks: with a token, a click on an /api/ link shows its answer, fetched with the token, in a new tab; without one it is a plain link', async () => {
  const addLink = `(async () => {
    const { apiLinks } = await import('/api-client.js');
    const a = document.createElement('a');
    a.href = '/api/health';
    a.textContent = 'health';
    document.body.append(a);
    apiLinks();
  })()`;
  const page = await browser.newPage();
  await page.goto(`${base}/#token=${TOKEN}`);
  await page.evaluate(addLink);
  const [tab] = await Promise.all([page.waitForEvent('popup'), page.click('a')]);
  await tab.waitForURL(/^blob:/);
  assert.match(await tab.evaluate('document.body.innerText'), /"status":"ok"/);
  assert.ok(
    seen.some((r) => r.url === '/api/health' && r.auth === `Bearer ${TOKEN}`),
    'the answer was fetched with the token',
  );
  await tab.close();
  await page.close();
  // a tab without a token: the link navigates as any link (and the server refuses it)
  const plain = await browser.newPage();
  await plain.goto(`${base}/`);
  await plain.evaluate(addLink);
  await Promise.all([plain.waitForURL(`${base}/api/health`), plain.click('a')]);
  assert.match(await plain.evaluate('document.body.innerText'), /no token/);
  await plain.close();
});
