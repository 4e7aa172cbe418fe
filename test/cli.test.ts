import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sampleClassFolders, sharedDataDir } from './shared.js';

const data = sharedDataDir();
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cli, ...args], { env: process.env, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('predict --json: one JSON object per image, errors reported per file, non-zero exit', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-cli-'));
  const bad = path.join(dir, 'notes.jpg');
  await writeFile(bad, 'this is text with a .jpg name');
  const dog = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file;
  const person = sampleClassFolders(path.join(data, 'lfw'), 1)[0]!.file;
  const { code, stdout } = await run(['predict', '--json', '--top-k', '3', dog, bad, person]);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.file), [dog, bad, person]);
  assert.equal(lines[0].kind, 'dog');
  assert.equal(lines[0].breeds.length, 3);
  assert.equal(lines[1].kind, 'error');
  assert.match(lines[1].message, /not an image/);
  assert.equal(lines[2].kind, 'human');
  assert.ok(lines[2].faces.length >= 1);
  for (const l of lines) for (const key of ['file', 'kind', 'message', 'breeds', 'faces', 'dogProbability']) assert.ok(key in l, `${key} missing`);
  assert.equal(code, 1, 'a failed file makes the exit code non-zero');
});

test('classify --model: any trained model\'s classes per image (the committed breed head), errors per file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-cli-'));
  const bad = path.join(dir, 'empty.png');
  await writeFile(bad, '');
  const samoyed = sampleClassFolders(path.join(data, 'imagewoof/val'), 1).find((f) => f.label === 'n02111889')!.file;
  const model = path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head');
  const { code, stdout } = await run(['classify', '--json', '--top-k', '3', '--model', model, samoyed, bad]);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
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
