import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createDogApp, type DogApp } from '../src/app/dog-app.js';
import { buildServer } from '../src/server/server.js';
import { sharedDataDir } from './shared.js';

// The Train view's API on its own: uploads stay under their run whatever the names say, the byte
// limit answers 413 with a message, and one training runs at a time while others wait, visibly.
const vehicles = path.join(sharedDataDir(), 'vehicles');
let runsDir: string;
let app: DogApp;
let server: FastifyInstance;

before(async () => {
  runsDir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-train-routes-'));
  app = await createDogApp({ quality: 'standard' });
  server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web'), train: { runsDir }, limits: { maxBytes: 400_000 } });
});
after(async () => {
  await server?.close();
  app?.dispose();
  await rm(runsDir, { recursive: true, force: true });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the answers' shapes are what the tests check
type Json = Record<string, any>;

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, body?: Buffer | object) {
  const r = await server.inject({
    method,
    url,
    headers: { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json' },
    payload: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  return { status: r.statusCode, body: r.json() as Json };
}

const photos = (c: string, n: number) =>
  readdirSync(path.join(vehicles, c))
    .sort()
    .slice(0, n)
    .map((f) => path.join(vehicles, c, f));

async function filledRun(n: number): Promise<string> {
  const id = (await call('POST', '/api/train/runs')).body.run.id as string;
  for (const c of ['Bus', 'Car']) {
    assert.equal((await call('POST', `/api/train/runs/${id}/classes`, { name: c })).status, 200);
    for (const f of photos(c, n)) {
      const r = await call('POST', `/api/train/runs/${id}/classes/${c}/photos?name=${encodeURIComponent(path.basename(f))}`, await readFile(f));
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  }
  return id;
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

test('uploads are stored only under their run, whatever the names say; too large is a 413 with a message', async () => {
  const id = (await call('POST', '/api/train/runs')).body.run.id as string;
  await call('POST', `/api/train/runs/${id}/classes`, { name: '../Bus' });
  const v = await call('GET', `/api/train/runs/${id}`);
  const folder = v.body.run.classes[0].folder as string;
  assert.doesNotMatch(folder, /[./\\]/);
  const photo = await readFile(photos('Bus', 1)[0]!);
  const r = await call('POST', `/api/train/runs/${id}/classes/${encodeURIComponent(folder)}/photos?name=${encodeURIComponent('../../../evil.jpg')}`, photo);
  assert.equal(r.body.outcome, 'stored');
  assert.equal(r.body.file, 'evil.jpg');
  const all = await filesUnder(runsDir);
  assert.deepEqual(
    all.filter((f) => f.endsWith('evil.jpg')),
    [path.join(runsDir, id, 'data', folder, 'evil.jpg')],
  );
  // ids and class folders in URLs must be ones the server made
  assert.equal((await call('POST', `/api/train/runs/${encodeURIComponent('../x')}/classes/Bus/photos?name=a.jpg`, photo)).status, 400);
  assert.equal((await call('POST', `/api/train/runs/${id}/classes/${encodeURIComponent('..')}/photos?name=a.jpg`, photo)).status, 404);
  assert.equal((await call('POST', `/api/train/runs/${id}/classes`, { name: 'Test' })).status, 400);
  // a photo over the server's byte limit
  const big = Buffer.concat([photo, Buffer.alloc(400_000)]);
  const tooBig = await call('POST', `/api/train/runs/${id}/classes/${encodeURIComponent(folder)}/photos?name=big.jpg`, big);
  assert.equal(tooBig.status, 413);
  assert.match(tooBig.body.error, /larger than the limit of 0\.4 MB/);
  assert.deepEqual(
    (await filesUnder(path.join(runsDir, id))).map((f) => path.relative(path.join(runsDir, id), f)).sort(),
    ['data/' + folder + '/evil.jpg', 'page.json'].sort(),
  );
});

test('one training at a time: the second waits in a visible queue, Stop takes it out, the first finishes', async () => {
  const a = await filledRun(6);
  const b = await filledRun(6);
  assert.equal((await call('POST', `/api/train/runs/${a}/train`, { epochs: 3 })).status, 202);
  assert.equal((await call('POST', `/api/train/runs/${b}/train`, { epochs: 3 })).status, 202);
  const waiting = (await call('GET', `/api/train/runs/${b}`)).body;
  assert.equal(waiting.run.status, 'queued');
  assert.equal(waiting.live.phase, 'queued');
  assert.equal(waiting.live.position, 1);
  const q = (await call('GET', '/api/train/queue')).body;
  assert.equal(q.running.runId, a);
  assert.deepEqual(
    q.waiting.map((w: { runId: string }) => w.runId),
    [b],
  );
  // a second Train of a queued run is refused, not queued twice
  assert.equal((await call('POST', `/api/train/runs/${b}/train`, {})).status, 400);
  assert.equal((await call('POST', `/api/train/runs/${b}/stop`)).body.run.status, 'filling');
  assert.deepEqual((await call('GET', '/api/train/queue')).body.waiting, []);
  const deadline = Date.now() + 300_000;
  let v: Json;
  do {
    await new Promise((r) => setTimeout(r, 500));
    v = (await call('GET', `/api/train/runs/${a}`)).body;
    assert.ok(Date.now() < deadline, 'training did not finish');
  } while (v.run.status === 'training' || v.run.status === 'queued');
  assert.equal(v.run.status, 'trained', JSON.stringify(v.run));
  assert.equal(v.history.length, 3);
  assert.match(v.lines[0], /^Epoch 1\/3 {2}loss/);
  assert.equal(v.report.n, v.summary.split.test);
  // photos of a trained run no longer change
  assert.equal((await call('POST', `/api/train/runs/${a}/classes`, { name: 'Truck' })).status, 400);
});

test("with the Train view on, the rest of the API keeps the app's JSON errors: an undecodable upload is a 415, not a 500", async () => {
  // the Train view's routes are a plugin; registered before the app's error handler was set, they
  // had left every route of the server with Fastify's default handler (found by the token work, #23)
  for (const url of ['/api/predict', '/api/classify']) {
    const r = await server.inject({ method: 'POST', url, headers: { 'content-type': 'image/jpeg' }, payload: Buffer.from('not a picture at all') });
    assert.equal(r.statusCode, 415, url);
    assert.deepEqual(Object.keys(r.json() as object), ['error'], url);
    assert.match((r.json() as { error: string }).error, /not an image/, url);
  }
  const missing = await server.inject({ method: 'GET', url: '/api/train/runs/page-00000000-000000-000000' });
  assert.equal(missing.statusCode, 404);
});
