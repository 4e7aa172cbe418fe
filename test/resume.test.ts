import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { runTraining } from '../src/training/pipeline.js';
import { loadModelDir, readManifest } from '../src/models/model-dir.js';
import { isImgclassError } from '../src/util/errors.js';
import { sharedDir } from './shared.js';

sharedDir();
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

// Learnable synthetic photos: class "left" is bright on the left, "right" on the right.
async function syntheticSet(root: string, perClass: number, shade = 0) {
  for (const cls of ['left', 'right']) {
    await mkdir(path.join(root, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const w = 24;
      const data = Buffer.alloc(w * w * 3);
      for (let y = 0; y < w; y++)
        for (let x = 0; x < w; x++) data.fill(x < w / 2 === (cls === 'left') ? 220 - i - shade : 20 + i + shade, (y * w + x) * 3, (y * w + x) * 3 + 3);
      await sharp(data, { raw: { width: w, height: w, channels: 3 } })
        .png()
        .toFile(path.join(root, cls, `${i}.png`));
    }
  }
}

/** Every file under dir → sha256 of its content: "nothing was written" is this map unchanged. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  if (!existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = createHash('sha256')
      .update(await readFile(p))
      .digest('hex');
  }
  return out;
}

const base = { arch: 'scratch' as const, backbone: 'mobilenet_v1_0.75_224', optimizer: 'adam' as const, batchSize: 8, size: 16, quiet: true, augment: false };

test('resume refuses, before writing anything, what is not the run it was: no run, another kind of folder, other data, other options, damage', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-resume-'));
  const dataDir = path.join(root, 'data');
  await syntheticSet(dataDir, 12);
  const runDir = path.join(root, 'run');
  await runTraining({ ...base, dataDir, runDir, epochs: 2 });
  const before = await snapshot(runDir);
  const refuses = async (request: Parameters<typeof runTraining>[0], code: string, re: RegExp, dir = runDir) => {
    const was = await snapshot(dir);
    await assert.rejects(runTraining(request), (e) => {
      assert.ok(isImgclassError(e), `an ImgclassError, not ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      return true;
    });
    assert.deepEqual(await snapshot(dir), was, `nothing in ${dir} was written`);
  };
  const resume = { dataDir, runDir, resume: true as const, quiet: true };
  // not a run at all
  await refuses({ ...resume, runDir: path.join(root, 'missing') }, 'BAD_RUN', /no such directory/, path.join(root, 'missing'));
  assert.ok(!existsSync(path.join(root, 'missing')), 'a missing run directory is not created');
  await mkdir(path.join(root, 'explored'));
  await writeFile(path.join(root, 'explored', 'explore.json'), '{}');
  await refuses({ ...resume, runDir: path.join(root, 'explored') }, 'BAD_RUN', /not a training run.*explore report/, path.join(root, 'explored'));
  await mkdir(path.join(root, 'kfold', 'fold-1'), { recursive: true });
  await writeFile(path.join(root, 'kfold', 'kfold.json'), '{}');
  await refuses({ ...resume, runDir: path.join(root, 'kfold') }, 'BAD_RUN', /k-fold/, path.join(root, 'kfold'));
  // another data set: other files, and other classes
  const other = path.join(root, 'other');
  await syntheticSet(other, 12, 5);
  await rename(path.join(other, 'left', '0.png'), path.join(other, 'left', 'renamed.png'));
  await refuses({ ...resume, dataDir: other }, 'BAD_DATASET', /files differ/);
  await writeFile(path.join(other, 'left', 'extra.png'), await readFile(path.join(other, 'left', '1.png')));
  await refuses({ ...resume, dataDir: other }, 'BAD_DATASET', /split differs/);
  await mkdir(path.join(other, 'third'));
  await writeFile(path.join(other, 'third', 'x.png'), await readFile(path.join(other, 'left', '1.png')));
  await refuses({ ...resume, dataDir: other }, 'BAD_DATASET', /classes differ/);
  // options that decide what is trained, given with other values
  await refuses({ ...resume, optimizer: 'sgd', arch: 'otsu' }, 'BAD_OPTION', /--arch otsu \(the run has scratch\); --optimizer sgd \(the run has adam\)/);
  await refuses({ ...resume, epochs: 1 }, 'BAD_OPTION', /already finished 2 epochs/);
  // a new run never overwrites one
  await refuses({ ...base, dataDir, runDir, epochs: 2 }, 'BAD_RUN', /already holds a training run/);
  assert.deepEqual(await snapshot(runDir), before);
  // damage: a checkpoint whose history disagrees with its epoch, a config that is not JSON
  const cp = path.join(runDir, 'last', 'checkpoint.json');
  const good = await readFile(cp, 'utf8');
  await writeFile(cp, JSON.stringify({ ...JSON.parse(good), epoch: 5 }));
  await refuses(resume, 'BAD_RUN', /checkpoint state is damaged/);
  await writeFile(cp, good);
  const config = await readFile(path.join(runDir, 'config.json'), 'utf8');
  await writeFile(path.join(runDir, 'config.json'), config.slice(0, 20));
  await refuses(resume, 'BAD_RUN', /config\.json is damaged/);
  await writeFile(path.join(runDir, 'config.json'), config);
  // and the intact run resumes with the same options repeated, from where it was
  const s = await runTraining({ ...resume, optimizer: 'adam', epochs: 3 });
  assert.equal(s.resumedFrom, 2);
  assert.deepEqual(
    s.history.map((h) => h.epoch),
    [1, 2, 3],
  );
});

test('the CLI refuses a resume of a missing run with a clear message, exit 2, and creates nothing', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-resume-cli-'));
  await syntheticSet(path.join(root, 'data'), 4);
  const missing = path.join(root, 'no-run');
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
    execFile(process.execPath, ['--import', 'tsx', cli, 'train', path.join(root, 'data'), '--resume', missing], (err, _o, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
    ),
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^imgclass: cannot resume .*no-run: no such directory/);
  assert.doesNotMatch(r.stderr, /TypeError|Cannot read properties/);
  assert.ok(!existsSync(missing));
});

/** Start `imgclass train`, SIGKILL it `delayMs` after its first "epoch" line (or after spawn when `fromStart`). */
function trainAndKill(args: string[], delayMs: number, fromStart: boolean): Promise<{ killed: boolean; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const arm = () => (timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs));
    if (fromStart) arm();
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/^epoch \d+\//m.test(stderr)) arm();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', code, stdout, stderr });
    });
  });
}

test('kill -9 at random moments, then --resume: the run continues from its last finished epoch and model/ always loads', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-kill-'));
  const dataDir = path.join(root, 'data');
  await syntheticSet(dataDir, 24);
  const runDir = path.join(root, 'run');
  const epochs = 12;
  // early stopping off (it is on by default): this test is about resuming, and must see every epoch run
  const opts = ['--arch', 'scratch', '--size', '16', '--optimizer', 'adam', '--batch-size', '4', '--epochs', String(epochs), '--patience', '0'];
  let lastEpoch = 0;
  let bestLoss = Infinity;
  const kills: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    // the first attempt dies after it has started epochs (before that there is no run to resume);
    // later ones anywhere: during start-up, feature/tensor preparation, an epoch, or a checkpoint write
    const fromStart = attempt > 0 && Math.random() < 0.4;
    const delay = Math.round(Math.random() * (fromStart ? 4000 : 1500));
    const r = await trainAndKill(attempt === 0 ? [dataDir, '--out', runDir, ...opts] : [dataDir, '--resume', runDir], delay, fromStart);
    assert.doesNotMatch(r.stderr, /TypeError|Cannot read properties|imgclass: /, r.stderr);
    if (!r.killed) {
      assert.equal(r.code, 0, r.stderr);
      break; // it finished before the kill landed
    }
    const cp = existsSync(path.join(runDir, 'last', 'checkpoint.json'))
      ? JSON.parse(await readFile(path.join(runDir, 'last', 'checkpoint.json'), 'utf8'))
      : null;
    const epoch = cp?.epoch ?? 0;
    kills.push(`${delay} ms after ${fromStart ? 'start' : 'first epoch'} → epoch ${epoch}`);
    assert.ok(epoch >= lastEpoch, `committed epochs never go back (${lastEpoch} → ${epoch})`);
    lastEpoch = epoch;
    if (epoch > 0 || existsSync(path.join(runDir, 'model'))) {
      const m = await loadModelDir(path.join(runDir, 'model')); // always a loadable model
      assert.deepEqual(
        m.manifest.classes.map((c) => c.name),
        ['left', 'right'],
      );
      m.model.dispose();
      const loss = (await readManifest(path.join(runDir, 'model'))).metrics!.valLoss as number;
      assert.ok(loss <= bestLoss, `the best model is never replaced by a worse one (${bestLoss} → ${loss})`);
      bestLoss = loss;
    }
    const lines = (await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).epoch),
      Array.from({ length: lines.length }, (_, i) => i + 1),
      'history: epochs 1..n, no gaps, no torn line',
    );
  }
  t.diagnostic(`kills: ${kills.join('; ')}`);
  // and now it runs to the end
  const done = await trainAndKill([dataDir, '--resume', runDir], 600_000, true);
  assert.equal(done.code, 0, done.stderr);
  if (lastEpoch > 0 && lastEpoch < epochs) assert.match(done.stdout, new RegExp(`resumed after epoch ${lastEpoch}`));
  const history = (await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    history.map((h) => h.epoch),
    Array.from({ length: epochs }, (_, i) => i + 1),
  );
  assert.equal((await readFile(path.join(runDir, 'metrics.csv'), 'utf8')).trim().split('\n').length, epochs + 1);
  const final = await readManifest(path.join(runDir, 'model'));
  assert.ok((final.metrics!.valLoss as number) <= Math.min(bestLoss, ...history.map((h) => h.valLoss)) + 1e-12);
  (await loadModelDir(path.join(runDir, 'model'))).model.dispose();
  assert.deepEqual(
    (await readdir(root)).filter((n) => /\.(tmp|old)-/.test(n)),
    [],
  );
  assert.deepEqual(
    (await readdir(runDir)).filter((n) => /\.(tmp|old)-/.test(n)),
    [],
    'no half-written files or checkpoints left behind',
  );
  await rm(root, { recursive: true, force: true });
});
