import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/redis.js';
import { sharedDataDir } from './shared.js';

// A server killed mid-training (SIGKILL: no chance to tidy up) leaves a run directory that
// `imgclass train --resume` continues, and a restarted server shows it as interrupted.
const vehicles = path.join(sharedDataDir(), 'vehicles');
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

function serve(runsDir: string, port: number): { child: ChildProcess; ready: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--runs', runsDir, '--port', String(port), '--preset', 'standard'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('imgclass ready on')) resolve(`http://127.0.0.1:${port}`);
    });
    child.stderr!.on('data', (d: Buffer) => (out += d));
    child.once('exit', (c) => reject(new Error(`serve exited with ${c}: ${out}`)));
  });
  return { child, ready };
}

const epochsIn = async (runDir: string) =>
  (await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).length;

test('kill the server mid-training: train --resume continues the run, and the page offers Resume', async () => {
  const runsDir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-train-kill-'));
  const port = await freePort();
  const first = serve(runsDir, port);
  const base = await first.ready;
  const api = async (url: string, init?: RequestInit) => {
    const r = await fetch(base + url, init);
    const body = (await r.json()) as Record<string, unknown>;
    assert.ok(r.ok, `${url}: ${JSON.stringify(body)}`);
    return body as { run: { id: string; status: string }; resumable: boolean };
  };
  const id = (await api('/api/train/runs', { method: 'POST' })).run.id;
  for (const c of ['Bus', 'motorcycle']) {
    await api(`/api/train/runs/${id}/classes`, { method: 'POST', body: JSON.stringify({ name: c }) });
    for (const f of readdirSync(path.join(vehicles, c)).sort().slice(0, 10))
      await api(`/api/train/runs/${id}/classes/${c}/photos?name=${encodeURIComponent(f)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: await readFile(path.join(vehicles, c, f)),
      });
  }
  // many epochs and no early stopping, so the kill lands mid-run
  await api(`/api/train/runs/${id}/train`, { method: 'POST', body: JSON.stringify({ epochs: 400, patience: 0 }) });
  const runDir = path.join(runsDir, id);
  const deadline = Date.now() + 300_000;
  while ((await epochsIn(runDir)) < 2) {
    assert.ok(Date.now() < deadline, 'training never got to epoch 2');
    await new Promise((r) => setTimeout(r, 100));
  }
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  // the training process goes with the server: the record stops growing
  await new Promise((r) => setTimeout(r, 1500));
  const committed = async () => (JSON.parse(await readFile(path.join(runDir, 'last', 'checkpoint.json'), 'utf8')) as { epoch: number }).epoch;
  const killedAt = await committed();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await committed(), killedAt, 'no training process outlives the server');
  assert.ok(killedAt < 400, `killed mid-run (after epoch ${killedAt})`);

  // a restarted server says what happened and offers Resume
  const second = serve(runsDir, port);
  await second.ready;
  const view = await api(`/api/train/runs/${id}`);
  assert.equal(view.run.status, 'interrupted');
  assert.equal(view.resumable, true);
  second.child.kill('SIGTERM');
  await new Promise((r) => second.child.once('exit', r));

  // the command line continues the page's run where it stopped (fewer epochs to keep the test short)
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', cli, 'train', path.join(runDir, 'data'), '--resume', runDir, '--epochs', String(killedAt + 3)],
      { maxBuffer: 1 << 24 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout + stderr)),
    ),
  );
  assert.match(out, new RegExp(`resumed after epoch ${killedAt}`));
  assert.equal(await epochsIn(runDir), killedAt + 3);
  assert.match(out, /test: \d+ held-out photos, accuracy/);
  await rm(runsDir, { recursive: true, force: true });
});
