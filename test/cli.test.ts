import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDogApp } from '../src/app/dog-app.js';
import { MANY_FILES } from '../src/cli/each-file.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

const data = sharedDataDir();
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

function run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string; signal: string | null }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', cli, ...args], { env: process.env, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      const e = err as { code?: number; signal?: string } | null;
      resolve({ code: e ? (e.code ?? 1) : 0, stdout, stderr, signal: e?.signal ?? null });
    });
    child.stdin!.end(input ?? '');
  });
}

test('predict --json: one JSON object per image, errors reported per file, non-zero exit', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-cli-'));
  const bad = path.join(dir, 'notes.jpg');
  await writeFile(bad, 'this is text with a .jpg name');
  const dog = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file;
  const person = sampleClassFolders(path.join(data, 'lfw'), 1)[0]!.file;
  const { code, stdout } = await run(['predict', '--json', '--top-k', '3', dog, bad, person]);
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.deepEqual(
    lines.map((l) => l.file),
    [dog, bad, person],
  );
  assert.equal(lines[0].kind, 'dog');
  assert.equal(lines[0].breeds.length, 3);
  assert.equal(lines[1].kind, 'error');
  assert.match(lines[1].message, /not an image/);
  assert.equal(lines[2].kind, 'human');
  assert.ok(lines[2].faces.length >= 1);
  for (const l of lines) for (const key of ['file', 'kind', 'message', 'breeds', 'faces', 'dogProbability']) assert.ok(key in l, `${key} missing`);
  assert.equal(code, 1, 'a failed file makes the exit code non-zero');
});

test("classify --model: any trained model's classes per image (the committed breed head), errors per file", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-cli-'));
  const bad = path.join(dir, 'empty.png');
  await writeFile(bad, '');
  const samoyed = sampleClassFolders(path.join(data, 'imagewoof/val'), 1).find((f) => f.label === 'n02111889')!.file;
  const model = path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head');
  const { code, stdout } = await run(['classify', '--json', '--top-k', '3', '--model', model, samoyed, bad]);
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[0].label, 'Samoyed');
  assert.equal(lines[0].top.length, 3);
  assert.ok(lines[0].probability > 0.5);
  assert.match(lines[1].error, /empty/);
  assert.equal(code, 1);
});

test('predict walks directories and prints readable text; all good → exit 0', async () => {
  const { code, stdout } = await run(['predict', '--top-k', '2', path.join(data, 'lfw', 'AJ_Cook')]);
  assert.equal(code, 0);
  assert.match(stdout, /AJ_Cook_0001\.jpg: Human detected/);
  assert.match(stdout, /%/);
});

test('usage errors and missing paths exit non-zero with a message', async () => {
  const r1 = await run(['predict', '--face-detector', 'nope', 'x.jpg']);
  assert.notEqual(r1.code, 0);
  assert.match(r1.stderr, /nope/);
  const r2 = await run(['predict', '/no/such/dir']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /No such file or directory/);
});

test('5,000 paths on the command line: every path answered in order, no crash (onnxruntime telemetry off)', async () => {
  // onnxruntime 1.30's telemetry ran a recursive regex over /proc/self/cmdline: a command line
  // over ~30 KB overflowed the stack (SIGSEGV) when the face detector's session was created
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-many-'));
  const dog = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file;
  const paths = [dog];
  for (let i = 1; i < 5000; i++) {
    const p = path.join(dir, `not-a-photo-${String(i).padStart(4, '0')}.jpg`);
    await writeFile(p, `text ${i}`);
    paths.push(p);
  }
  assert.ok(paths.join(' ').length > 100_000, 'a command line far over the old ~30 KB limit');
  const r = await run(['predict', '--json', '--no-flip', '--top-k', '1', ...paths]);
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 5000);
  assert.deepEqual(
    lines.map((l) => l.file),
    paths,
  );
  assert.equal(lines[0].kind, 'dog');
  assert.ok(lines.slice(1).every((l) => l.kind === 'error' && l.code === 'NOT_AN_IMAGE'));
  assert.equal(r.code, 1);
});

test('--files-from (NUL-separated) and - (standard input) hand over path lists; a walked folder reports what is not an image', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-list-'));
  const [a, b] = sampleClassFolders(path.join(data, 'lfw'), 1)
    .slice(0, 2)
    .map((f) => f.file);
  const folder = path.join(dir, 'folder');
  await mkdir(folder);
  await symlink(a!, path.join(folder, 'face-by-hash')); // a link, no extension: found by content
  await writeFile(path.join(folder, 'notes.txt'), 'not a photo');
  const list = path.join(dir, 'list');
  await writeFile(list, `${b}\0${folder}\0`);
  const r = await run(['predict', '--json', '--no-flip', '--files-from', list, '-'], `${a}\n`);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.file),
    [b, path.join(folder, 'face-by-hash'), a],
  );
  assert.ok(lines.every((l) => l.kind === 'human'));
  assert.match(r.stderr, /skipped 1 entry that is not an image \(1 not an image\), e\.g\. .*notes\.txt/);
  const none = await run(['predict']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--files-from/);
});

test('explore follows a data set made of symbolic links, and an empty one is an error', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-links-'));
  const photos = sampleClassFolders(path.join(data, 'vehicles'), 2);
  for (const p of photos) {
    await mkdir(path.join(dir, 'set', p.label), { recursive: true });
    await symlink(p.file, path.join(dir, 'set', p.label, path.basename(p.file)));
    await mkdir(path.join(dir, 'gone', p.label), { recursive: true });
    await symlink(path.join(dir, 'nowhere', path.basename(p.file)), path.join(dir, 'gone', p.label, path.basename(p.file)));
  }
  const ok = await run(['explore', '--json', '--out', path.join(dir, 'report'), path.join(dir, 'set')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).images, photos.length);
  const empty = await run(['explore', '--json', '--out', path.join(dir, 'report2'), path.join(dir, 'gone')]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no images in any class folder.*broken link|no images in any class folder/);
});

test('predict --no-ensemble: an unsure dog is answered without the breed ensemble, which the default runs', async () => {
  // an Australian terrier EdgeTPU's centre view is unsure of (test/ensemble.test.ts)
  const terrier = path.join(data, 'imagewoof', 'train', 'n02096294', 'ILSVRC2012_val_00042604.jpg');
  const [withIt, without] = await Promise.all([
    run(['predict', '--json', '--top-k', '1', terrier]),
    run(['predict', '--json', '--top-k', '1', '--no-ensemble', terrier]),
  ]);
  assert.equal(withIt.code, 0, withIt.stderr);
  assert.equal(without.code, 0, without.stderr);
  const [a, b] = [withIt, without].map((r) => JSON.parse(r.stdout.trim()));
  assert.deepEqual(a.ensemble, ['mobilenet_v2_1.0_224_quant', 'mobilenet_v1_0.75_224']);
  assert.equal(a.breeds[0].name, 'Australian terrier');
  assert.equal(b.ensemble, undefined);
  assert.equal(b.breeds[0].name, 'briard');
});

test('predict over more than MANY_FILES photos (the backbone readied for many on the way) answers each as the library does one by one', async () => {
  const files = [...sampleClassFolders(path.join(data, 'imagewoof/val'), 4), ...sampleClassFolders(path.join(data, 'lfw'), 1).slice(0, 6)].map((f) => f.file);
  assert.ok(files.length >= MANY_FILES, `${files.length} photos`);
  const r = await run(['predict', '--json', ...files]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'the backbone was readied without a warning');
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const app = await createDogApp();
  try {
    for (const [i, file] of files.entries()) {
      const { timings: _t, width: _w, height: _h, ...expected } = await app.classify(file);
      const { timings: _u, file: f, ...got } = lines[i];
      assert.equal(f, file);
      assert.deepEqual(got, JSON.parse(JSON.stringify(expected)), path.basename(file));
    }
  } finally {
    app.dispose();
  }
});

test('a bad first file, decoded while the models load, is reported in its turn like any other', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-cli-first-'));
  const bad = path.join(dir, 'first.jpg');
  await writeFile(bad, 'not a photo');
  const dog = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file;
  const r = await run(['predict', '--json', bad, dog, bad]);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => [l.file, l.kind]),
    [
      [bad, 'error'],
      [dog, 'dog'],
      [bad, 'error'],
    ],
  );
  assert.equal(lines[0].code, 'NOT_AN_IMAGE');
  assert.equal(r.code, 1);
});
