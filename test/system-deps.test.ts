import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onPath, planInstall, SYSTEM_PACKAGES } from '../support/system-deps.js';

const script = path.resolve(import.meta.dirname, '..', 'support', 'system-deps.ts');

test('planInstall: nothing when nothing is missing; apt-get as root; through sudo otherwise', () => {
  assert.deepEqual(planInstall([], { isRoot: false, hasAptGet: false, hasSudo: false }), { action: 'none' });
  const root = planInstall(['chromium', 'redis-server'], { isRoot: true, hasAptGet: true, hasSudo: false });
  assert.equal(root.action, 'install');
  assert.deepEqual(root.action === 'install' && root.commands.at(-1)!.slice(-2), ['chromium', 'redis-server']);
  assert.ok(root.action === 'install' && root.commands.every((c) => c[0] !== 'sudo'));
  const user = planInstall(['redis-server'], { isRoot: false, hasAptGet: true, hasSudo: true });
  assert.ok(user.action === 'install' && user.commands.every((c) => c[0] === 'sudo'));
});

test('planInstall: a clear failure, naming the packages, where it cannot install', () => {
  const noApt = planInstall(['chromium'], { isRoot: true, hasAptGet: false, hasSudo: true });
  assert.equal(noApt.action, 'fail');
  assert.match(noApt.action === 'fail' ? noApt.reason : '', /apt-get is not available.*apt-get install chromium.*IMGCLASS_SKIP_SYSTEM_DEPS/);
  const noSudo = planInstall(['chromium', 'fonts-dejavu-core'], { isRoot: false, hasAptGet: true, hasSudo: false });
  assert.match(noSudo.action === 'fail' ? noSudo.reason : '', /needs root and sudo is not available.*chromium fonts-dejavu-core/);
});

test('onPath finds executables only', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-path-'));
  await writeFile(path.join(dir, 'tool'), '#!/bin/sh\n');
  await writeFile(path.join(dir, 'data'), 'not executable');
  await chmod(path.join(dir, 'tool'), 0o755);
  assert.equal(onPath('tool', dir), true);
  assert.equal(onPath('data', dir), false);
  assert.equal(onPath('tool', ''), false);
});

function runScript(env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', script], { env }, (err, _stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }));
  });
}

test('the pretest step: quiet and successful once everything is there (as after it ran)', async () => {
  const missing = SYSTEM_PACKAGES.filter((p) => !p.present()).map((p) => p.name);
  assert.deepEqual(missing, [], `npm test's pretest step should have installed ${missing.join(', ')}`);
  const { code, stderr } = await runScript(process.env);
  assert.equal(code, 0);
  assert.equal(stderr, '');
});

test('the pretest step: a missing package on a machine where it cannot install fails clearly, and the skip switch skips', async () => {
  // Chromium "missing" (a path that does not exist) and a PATH holding only node: no apt-get, no sudo.
  const bin = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bin-'));
  await symlink(process.execPath, path.join(bin, 'node'));
  const { IMGCLASS_SKIP_SYSTEM_DEPS: _skip, ...inherited } = process.env;
  const env = { ...inherited, CHROMIUM_PATH: '/nonexistent/chromium', PATH: bin };
  const failed = await runScript(env);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /the tests need chromium \(the browser tests\).*cannot be installed here: apt-get is not available/);
  const skipped = await runScript({ ...env, IMGCLASS_SKIP_SYSTEM_DEPS: '1' });
  assert.equal(skipped.code, 0);
  assert.match(skipped.stderr, /missing chromium .*not installing them \(IMGCLASS_SKIP_SYSTEM_DEPS=1\)/);
});
