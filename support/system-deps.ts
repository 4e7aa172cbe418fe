/**
 * `npm test`'s first step (the `pretest` script): the tests need what npm cannot install: Debian's
 * Chromium (the browser tests; playwright-core never downloads a browser), a font for its pages
 * (fonts-dejavu-core), redis-server (the batch tests start their own on a free port), and a C
 * compiler with libjpeg-turbo's headers (gcc, libjpeg-dev: the native pixel kernels, built next).
 * When one is missing, this says what it installs and installs it with apt-get, through sudo when
 * not root; where it cannot (no apt-get, no sudo), it stops with a message that says what to do.
 * IMGCLASS_SKIP_SYSTEM_DEPS=1 skips the step (the tests that need a missing package then fail).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHROMIUM } from './chromium.js';

/** One Debian package the tests need, and how to tell that it is there. */
export interface SystemPackage {
  name: string;
  why: string;
  present: () => boolean;
}

/** True when `command` is an executable file on $PATH. */
export function onPath(command: string, pathVar = process.env.PATH ?? ''): boolean {
  return pathVar
    .split(path.delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(path.join(dir, command), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** What the test suite needs from the system. */
export const SYSTEM_PACKAGES: readonly SystemPackage[] = [
  { name: 'chromium', why: 'the browser tests', present: () => existsSync(CHROMIUM) },
  { name: 'fonts-dejavu-core', why: "the browser's text", present: () => existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf') },
  { name: 'redis-server', why: 'the batch-job tests', present: () => onPath('redis-server') },
  // the native pixel kernels (scripts/build-native.js, which npm test runs next): a C compiler and libjpeg-turbo's headers
  { name: 'gcc', why: 'building the native pixel kernels', present: () => onPath(process.env.CC || 'cc') },
  {
    name: 'libjpeg-dev',
    why: 'building the native pixel kernels',
    present: () => ['/usr/include', '/usr/local/include'].some((d) => existsSync(path.join(d, 'jpeglib.h'))),
  },
];

/** What this machine allows. */
export interface Host {
  isRoot: boolean;
  hasAptGet: boolean;
  hasSudo: boolean;
}

/** The plan: nothing to do, commands to run, or why it cannot be done. */
export type Plan = { action: 'none' } | { action: 'install'; missing: string[]; commands: string[][] } | { action: 'fail'; missing: string[]; reason: string };

/** Decides what to do about the `missing` packages on `host` (a pure function: the tests check every branch). */
export function planInstall(missing: readonly string[], host: Host): Plan {
  if (missing.length === 0) return { action: 'none' };
  const manual = `install them yourself (Debian/Ubuntu: apt-get install ${missing.join(' ')}), or set IMGCLASS_SKIP_SYSTEM_DEPS=1 to run the tests without them`;
  if (!host.hasAptGet) return { action: 'fail', missing: [...missing], reason: `apt-get is not available here: ${manual}` };
  if (!host.isRoot && !host.hasSudo) return { action: 'fail', missing: [...missing], reason: `installing needs root and sudo is not available: ${manual}` };
  const sudo = host.isRoot ? [] : ['sudo'];
  return {
    action: 'install',
    missing: [...missing],
    commands: [
      [...sudo, 'apt-get', 'update', '-qq'],
      [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing],
    ],
  };
}

/** Checks, plans, installs; returns the exit code. */
export function ensureSystemDeps(log: (line: string) => void = (l) => process.stderr.write(l + '\n')): number {
  const missing = SYSTEM_PACKAGES.filter((p) => !p.present());
  if (missing.length === 0) return 0;
  const names = missing.map((p) => p.name);
  const list = missing.map((p) => `${p.name} (${p.why})`).join(', ');
  if (process.env.IMGCLASS_SKIP_SYSTEM_DEPS === '1') {
    log(`system-deps: missing ${list}; not installing them (IMGCLASS_SKIP_SYSTEM_DEPS=1), so the tests that need them will fail`);
    return 0;
  }
  const plan = planInstall(names, { isRoot: process.getuid?.() === 0, hasAptGet: onPath('apt-get'), hasSudo: onPath('sudo') });
  if (plan.action === 'fail') {
    log(`system-deps: the tests need ${list}, which are missing, and they cannot be installed here: ${plan.reason}`);
    return 1;
  }
  if (plan.action === 'none') return 0;
  log(`system-deps: the tests need ${list}; installing with apt-get:`);
  for (const command of plan.commands) {
    log(`  $ ${command.join(' ')}`);
    const r = spawnSync(command[0]!, command.slice(1), { stdio: 'inherit' });
    if (r.status !== 0) {
      log(
        `system-deps: \`${command.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}); install ${names.join(' ')} yourself and run npm test again`,
      );
      return 1;
    }
  }
  const still = SYSTEM_PACKAGES.filter((p) => names.includes(p.name) && !p.present()).map((p) => p.name);
  if (still.length > 0) {
    log(`system-deps: apt-get finished but ${still.join(', ')} still cannot be found (CHROMIUM_PATH=${CHROMIUM}; PATH=${process.env.PATH ?? ''})`);
    return 1;
  }
  log(`system-deps: installed ${names.join(', ')}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = ensureSystemDeps();
