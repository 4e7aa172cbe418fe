import { after, before, test } from 'node:test';
import { DOG_APP_BACKBONE } from '../src/app/tuning.js';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createDogApp, type DogApp } from '../src/app/dog-app.js';
import { buildServer } from '../src/server/server.js';
import { encode, hugePngHeader, PDF, SVG } from './fixtures.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

const data = sharedDataDir();
let app: DogApp;
let server: FastifyInstance;
let base: string;

before(async () => {
  app = await createDogApp();
  server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web'), maxBytes: 2_000_000, maxWaiting: 2 });
  base = await server.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await server.close();
  app.dispose();
});

const post = (body: Uint8Array | string | FormData, headers: Record<string, string> = {}) =>
  fetch(`${base}/api/predict`, { method: 'POST', body: body instanceof Uint8Array ? new Uint8Array(body) : body, headers });
const form = (bytes: Uint8Array, name = 'photo.jpg', field = 'image') => {
  const f = new FormData();
  f.append(field, new Blob([new Uint8Array(bytes)]), name);
  return f;
};

test('multipart and raw uploads of a real dog photo answer like predict --json', async () => {
  const dog = await readFile(sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[2]!.file);
  for (const res of [
    await post(form(dog)),
    await post(dog, { 'content-type': 'image/jpeg' }),
    await post(dog, { 'content-type': 'application/octet-stream' }),
  ]) {
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.kind, 'dog');
    assert.ok(body.breeds.length === 5 && body.breeds[0].probability > 0);
    assert.ok(!('file' in body));
    for (const key of ['kind', 'message', 'breeds', 'faces', 'dogProbability', 'timings']) assert.ok(key in body, key);
  }
});

test('/api/classify: the loaded classifier on the whole photo, no routing; bad input is a 4xx', async () => {
  // a golden retriever the centre view is sure of (0.98), so /api/predict reads no other view of it
  // (app/quality.ts: more views only below 0.7) and its ranking is the classifier's on the whole photo
  const file = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[6]!.file;
  const predicted = await (await post(form(await readFile(file)))).json();
  const res = await fetch(`${base}/api/classify`, { method: 'POST', body: form(await readFile(file)) });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.top.length, 5);
  // same model, same photo: the same breed ranking as /api/predict
  assert.deepEqual(
    body.top.map((c: { name: string }) => c.name),
    predicted.breeds.map((b: { name: string }) => b.name),
  );
  assert.ok(body.timings.totalMs > 0);
  const bad = await fetch(`${base}/api/classify`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
  assert.equal(bad.status, 415);
});

test('a human photo gets faces and a resembling breed', async () => {
  const face = await readFile(sampleClassFolders(path.join(data, 'lfw'), 1)[5]!.file);
  const body = await (await post(form(face, 'me.png'))).json();
  assert.equal(body.kind, 'human');
  assert.ok(body.faces.length >= 1);
});

test('bad requests get 4xx JSON errors, never a 500', async () => {
  const jpeg = await encode('jpeg', 300, 300);
  const cases: [string, Promise<Response>, number][] = [
    ['empty body', post(new Uint8Array(0)), 400],
    ['text', post('hello, world', { 'content-type': 'text/plain' }), 415],
    ['JSON', post('{"image": 1}', { 'content-type': 'application/json' }), 415],
    ['SVG as multipart .jpg', post(form(SVG, 'cat.jpg')), 415],
    ['PDF', post(PDF, { 'content-type': 'image/jpeg' }), 415],
    ['truncated JPEG', post(jpeg.subarray(0, 400)), 422],
    ['40000×40000 PNG', post(hugePngHeader(40000, 40000)), 413],
    ['over the byte limit', post(new Uint8Array(3_000_000)), 413],
    ['over the byte limit, multipart', post(form(new Uint8Array(3_000_000))), 413],
    ['wrong multipart field', post(form(jpeg, 'a.jpg', 'file')), 400],
  ];
  for (const [name, res, status] of cases) {
    const r = await res;
    assert.equal(r.status, status, name);
    const body = await r.json();
    assert.equal(typeof body.error, 'string', name);
  }
  // a huge *declared* size is refused from the header, before any body arrives
  const declared = await fetch(`${base}/api/predict`, {
    method: 'POST',
    headers: { 'content-length': '999999999' },
    body: new Uint8Array(10),
    duplex: 'half',
  } as RequestInit).catch((e: Error) => e);
  if (declared instanceof Response) assert.ok(declared.status === 413 || declared.status === 400, `declared size: ${declared.status}`);
  // and the server is still healthy
  assert.equal((await fetch(`${base}/api/health`)).status, 200);
});

test('a burst beyond the queue gets 503 with Retry-After, and every request is answered', async () => {
  const dog = await readFile(sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[3]!.file);
  const answers = await Promise.all(Array.from({ length: 8 }, () => post(dog)));
  const statuses = answers.map((r) => r.status);
  assert.ok(statuses.includes(200), statuses.join(','));
  assert.ok(statuses.includes(503), `queue of 1 running + 2 waiting should refuse some of 8: ${statuses.join(',')}`);
  for (const r of answers.filter((a) => a.status === 503)) assert.equal(r.headers.get('retry-after'), '1');
  await Promise.all(answers.map((a) => a.arrayBuffer()));
});

test('health, models and the page are served locally', async () => {
  const health = await (await fetch(`${base}/api/health`)).json();
  assert.equal(health.status, 'ok');
  const models = await (await fetch(`${base}/api/models`)).json();
  assert.equal(models.backbone, DOG_APP_BACKBONE);
  assert.equal(models.faceDetector, 'yunet');
  const page = await (await fetch(`${base}/`)).text();
  assert.match(page, /<title>imgclass/);
  assert.doesNotMatch(page, /https?:\/\/(?!www\.w3\.org)/, 'the page makes no external requests');
  assert.equal((await fetch(`${base}/nope`)).status, 404);
});

test('buildServer limits are declared once, enforced on every upload and reported (maxPixels, maxBytes)', async () => {
  const strict = await buildServer({
    app,
    webRoot: path.resolve(import.meta.dirname, '..', 'web'),
    maxPixels: 250 * 250,
    limits: { maxBytes: 50_000, maxSide: 512 },
  });
  try {
    const models = (await strict.inject({ method: 'GET', url: '/api/models' })).json();
    assert.deepEqual(models.limits, { maxBytes: 50_000, maxPixels: 62_500, maxSide: 512 });
    const photo = await encode('jpeg', 300, 300); // 90,000 pixels: over this server's limit, far under the default
    const big = await strict.inject({ method: 'POST', url: '/api/predict', payload: photo, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(big.statusCode, 413);
    assert.match(big.json().error, /megapixels; the limit is 0\.1 megapixels/);
    const classify = await strict.inject({ method: 'POST', url: '/api/classify', payload: photo, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(classify.statusCode, 413);
    const small = await strict.inject({
      method: 'POST',
      url: '/api/predict',
      payload: await encode('jpeg', 200, 200),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(small.statusCode, 200, small.body);
    const heavy = await strict.inject({
      method: 'POST',
      url: '/api/predict',
      payload: Buffer.alloc(60_000, 1),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(heavy.statusCode, 413);
    // the default server took the same 300×300 photo
    assert.equal((await post(photo)).status, 200);
  } finally {
    await strict.close();
  }
  await assert.rejects(buildServer({ app, webRoot: 'web', maxPixels: -1 }), /maxPixels must be a positive number/);
});
