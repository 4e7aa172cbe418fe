import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { deviceAssetUrls, type DeviceManifest } from '../src/app/device-manifest.js';
import { bundleServiceWorker, offlineConfig } from '../src/server/device-assets.js';
import { strategyFor } from '../src/web/offline.js';

// The service worker's rules, in Node: what it answers from its caches and what it never touches.
const origin = 'http://127.0.0.1:3000';
const get = (p: string) => strategyFor({ method: 'GET', url: origin + p }, origin);

test('the service worker never touches /api/, a POST, another origin or itself; content-addressed files are cache-first', () => {
  for (const p of ['/api/predict', '/api/classify', '/api/device', '/api/models', '/api/health', '/sw.js', '/nowhere.png']) {
    assert.equal(get(p).strategy, 'pass', p);
  }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    for (const p of ['/api/predict', '/', '/assets/abc/device.js'])
      assert.equal(strategyFor({ method, url: origin + p }, origin).strategy, 'pass', `${method} ${p}`);
  }
  assert.equal(strategyFor({ method: 'GET', url: 'https://cdn.example/ort.wasm' }, origin).strategy, 'pass');
  assert.deepEqual(get('/assets/0bf3aa2e/mobilenet.onnx?x=1'), { strategy: 'cache-first', key: `${origin}/assets/0bf3aa2e/mobilenet.onnx` });
  assert.equal(get('/ort/1.30.0/ort.wasm.min.mjs').strategy, 'cache-first');
  // the page (any query: /?run=device) and its files: network first, one cached copy each
  for (const p of ['/', '/?run=device', '/index.html']) assert.deepEqual(get(p), { strategy: 'network-first', key: `${origin}/` }, p);
  for (const p of ['/app.js', '/api-client.js', '/style.css', '/device-manifest.json'])
    assert.deepEqual(get(p), { strategy: 'network-first', key: origin + p }, p);
});

test("the worker's version follows the page's files and the manifest; it precaches device mode's code, not the models", async () => {
  const web = await mkdtemp(path.join(os.tmpdir(), 'imgclass-web-'));
  await cp(path.resolve(import.meta.dirname, '..', 'web'), web, { recursive: true });
  const asset = (name: string) => ({ url: `/assets/0123/${name}`, bytes: 1 });
  const manifest = {
    available: true,
    quality: 'standard',
    bundle: '/assets/0123/device.js',
    ort: { version: '1.30.0', module: '/ort/1.30.0/ort.wasm.min.mjs', glue: '/ort/1.30.0/ort-wasm-simd-threaded.mjs', wasm: asset('ort.wasm') },
    models: { backbone: asset('b.onnx'), faces: asset('f.onnx') },
  } as DeviceManifest;
  const a = await offlineConfig(web, manifest);
  assert.match(a.version, /^[0-9a-f]{16}$/);
  assert.deepEqual(a.precache, ['/assets/0123/device.js', '/ort/1.30.0/ort.wasm.min.mjs', '/ort/1.30.0/ort-wasm-simd-threaded.mjs']);
  assert.deepEqual(a.keep, deviceAssetUrls(manifest));
  assert.equal((await offlineConfig(web, manifest)).version, a.version, 'same files, same version');
  const b = await offlineConfig(web, { ...manifest, models: { ...manifest.models, faces: asset('g.onnx') } });
  assert.notEqual(b.version, a.version, 'a new model is a new version');
  // a preset with YOLOX-nano ('fast', 'accurate'): its graph is kept like the other models, fetched on first use
  const withObjects = await offlineConfig(web, { ...manifest, quality: 'accurate', models: { ...manifest.models, objects: asset('yolox_nano.onnx') } });
  assert.ok(withObjects.keep!.includes('/assets/0123/yolox_nano.onnx'), 'kept on activate');
  assert.ok(!a.keep!.includes('/assets/0123/yolox_nano.onnx'), 'not kept by a deploy that does not serve it');
  assert.deepEqual(withObjects.precache, a.precache, 'models are not precached');
  assert.notEqual(withObjects.version, a.version);
  await writeFile(path.join(web, 'style.css'), 'body { color: red }');
  const c = await offlineConfig(web, manifest);
  assert.notEqual(c.version, a.version, 'a new page is a new version');
  // device mode not built: the page alone, and no pruning of the models kept
  const d = await offlineConfig(web, null);
  assert.deepEqual([d.precache, d.keep], [[], null]);
  // device mode off (Haar, a CNN head): nothing of it precached
  assert.deepEqual((await offlineConfig(web, { ...manifest, available: false })).precache, []);
  const code = new TextDecoder().decode(await bundleServiceWorker(a));
  assert.ok(
    code.includes(a.version) && !code.includes('__IMGCLASS_OFFLINE__') && !/\bimport\b|\bexport\b/.test(code),
    'a classic script with the config built in',
  );
});
