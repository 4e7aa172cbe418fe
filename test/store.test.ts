import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelStore } from '../src/models/store.js';
import { REGISTRY, registerModel } from '../src/models/registry.js';
import { loadBackbone } from '../src/models/backbone.js';
import { isImgclassError } from '../src/util/errors.js';
import { sha256File } from '../src/util/file-store.js';
import { sha256FileCached } from '../src/util/hash-cache.js';
import { sharedDir } from './shared.js';

const shared = sharedDir();

test('resolves registry files from IMGCLASS_MODEL_DIR first', async () => {
  const store = new ModelStore({ modelDir: path.join(shared, 'models'), cacheDir: '/nonexistent', offline: true });
  assert.equal(await store.resolve('yunet_n'), path.join(shared, 'models', 'face', 'yunet_n_320_320.onnx'));
  assert.equal(await store.resolve('mobilenet_v1_0.75_224'), path.join(shared, 'models', 'mobilenet_v1_0.75_224', 'model.json'));
});

test('missing and offline: one clear error naming the file and the variable', async () => {
  const empty = await mkdtemp(path.join(os.tmpdir(), 'imgclass-empty-'));
  const store = new ModelStore({ modelDir: empty, cacheDir: path.join(empty, 'cache'), offline: true });
  await assert.rejects(store.resolve('yunet_n'), (e: unknown) => {
    assert.ok(isImgclassError(e));
    assert.equal(e.code, 'MODEL_NOT_FOUND');
    assert.match(e.message, /face\/yunet_n_320_320\.onnx/);
    assert.match(e.message, /IMGCLASS_MODEL_DIR/);
    return true;
  });
});

test('every download is pinned: an entry without a sha256 is never fetched', async () => {
  const empty = await mkdtemp(path.join(os.tmpdir(), 'imgclass-empty-'));
  const store = new ModelStore({ modelDir: empty, cacheDir: path.join(empty, 'cache'), offline: false });
  for (const e of REGISTRY)
    for (const f of e.files) if (f.url) assert.match(f.sha256 ?? '', /^[0-9a-f]{64}$/, `${e.name}: ${f.path} has a download URL but no pinned sha256`);
  registerModel({
    name: 'unpinned_test',
    format: 'onnx',
    description: 't',
    license: 't',
    main: 'u/u.onnx',
    files: [{ path: 'u/u.onnx', sha256: null, url: 'https://example.invalid/u.onnx' }],
  });
  await assert.rejects(store.resolve('unpinned_test'), /no pinned sha256/);
});

test('a truncated weight shard is reported as corrupt, not loaded as garbage', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-corrupt-'));
  await cp(path.join(shared, 'models', 'mobilenet_v1_0.75_224'), path.join(dir, 'mobilenet_v1_0.75_224'), { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(dir, 'mobilenet_v1_0.75_224', 'model.json'), 'utf8'));
  await truncate(path.join(dir, 'mobilenet_v1_0.75_224', manifest.weightsManifest[3].paths[0]), 10);
  await assert.rejects(
    loadBackbone('mobilenet_v1_0.75_224', { store: new ModelStore({ modelDir: dir, offline: true }) }),
    (e: unknown) => isImgclassError(e) && e.code === 'MODEL_CORRUPT',
  );
  await writeFile(path.join(dir, 'mobilenet_v1_0.75_224', 'model.json'), '{"modelTopology": ');
  await assert.rejects(
    loadBackbone('mobilenet_v1_0.75_224', { store: new ModelStore({ modelDir: dir, offline: true }) }),
    (e: unknown) => isImgclassError(e) && e.code === 'MODEL_CORRUPT',
  );
});

test('a source hash is remembered by the identity of the file and times, and never read stale', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-hash-'));
  const file = path.join(dir, 'model.bin');
  await writeFile(file, 'first contents');
  const first = await sha256FileCached(file, dir);
  assert.equal(first, await sha256File(file));
  // the entry is what a second call reads: a planted value comes back, so the file was not hashed again
  const [entry] = await readdir(path.join(dir, 'hashes'));
  const planted = 'a'.repeat(64);
  await writeFile(path.join(dir, 'hashes', entry!), planted);
  assert.equal(await sha256FileCached(file, dir), planted);
  // new contents of the same size, with the old modification time put back: the change time moves, so it is hashed afresh
  const before = await stat(file);
  await writeFile(file, 'other contents');
  await utimes(file, before.atime, before.mtime);
  const second = await sha256FileCached(file, dir);
  assert.equal(second, await sha256File(file));
  assert.notEqual(second, first);
  // an unreadable entry is only a miss
  for (const e of await readdir(path.join(dir, 'hashes'))) await writeFile(path.join(dir, 'hashes', e), 'torn');
  assert.equal(await sha256FileCached(file, dir), second);
});
