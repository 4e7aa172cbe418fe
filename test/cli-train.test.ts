import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import './shared.js';

const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const env = { ...process.env, CI: '' };

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cli, ...args], { env, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function tinySet(root: string) {
  for (const cls of ['left', 'right']) {
    await mkdir(path.join(root, cls), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const w = 16;
      const data = Buffer.alloc(w * w * 3);
      for (let y = 0; y < w; y++)
        for (let x = 0; x < w; x++) data.fill(x < w / 2 === (cls === 'left') ? 220 - i : 20 + i, (y * w + x) * 3, (y * w + x) * 3 + 3);
      await sharp(data, { raw: { width: w, height: w, channels: 3 } })
        .png()
        .toFile(path.join(root, cls, `${i}.png`));
    }
  }
}

test('options that do not apply to a command are errors, not silently ignored', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-opts-'));
  await tinySet(path.join(root, 'data'));
  const sweep = await run(['sweep', path.join(root, 'data'), '--optimizer', 'sgd', '--epochs', '3', '--out', path.join(root, 'sweep')]);
  assert.equal(sweep.code, 2);
  assert.match(sweep.stderr, /--optimizer does not apply to sweep.*--optimizers/);
  assert.match(sweep.stderr, /--epochs does not apply to sweep.*--epoch-list/);
  assert.ok(!existsSync(path.join(root, 'sweep')), 'nothing was trained');
  const hidden = await run(['train', path.join(root, 'data'), '--arch', 'scratch', '--hidden', '8']);
  assert.equal(hidden.code, 2);
  assert.match(hidden.stderr, /--hidden applies to --arch head only/);
});

test('Ctrl-C during train: exit 130, the finished epochs recorded, how to resume printed; the resumed run records its new budget', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-sigint-'));
  const data = path.join(root, 'data');
  await tinySet(data);
  const runDir = path.join(root, 'run');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      'train',
      data,
      '--arch',
      'scratch',
      '--size',
      '16',
      '--optimizer',
      'adam',
      '--epochs',
      '400',
      '--patience',
      '0',
      '--batch-size',
      '8',
      '--no-augment',
      '--out',
      runDir,
    ],
    { env },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (/Epoch +2\/400/.test(stderr) && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /Resume with:\n {2}imgclass train .* --resume /);
  const finished = (await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').length;
  assert.ok(finished >= 2 && finished < 400);
  assert.equal((await readFile(path.join(runDir, 'metrics.csv'), 'utf8')).trim().split('\n').length, finished + 1, 'metrics.csv holds every finished epoch');
  assert.ok(existsSync(path.join(runDir, 'curves.png')));
  const budget = finished + 2;
  const resumed = await run(['train', data, '--resume', runDir, '--epochs', String(budget)]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`resumed after epoch ${finished}; trained 2 epochs`));
  assert.match(resumed.stderr, new RegExp(`Epoch ${budget}/${budget}  loss [0-9.]+  acc [0-9.]+  val_loss [0-9.]+  val_acc [0-9.]+  [0-9.]+s`));
  assert.equal(JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')).epochs, budget);
  const manifest = JSON.parse(await readFile(path.join(runDir, 'model', 'manifest.json'), 'utf8'));
  assert.equal(manifest.training.epochs, budget);
  assert.deepEqual(manifest.training.resumedAfter, [finished]);
});
