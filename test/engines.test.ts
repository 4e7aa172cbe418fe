import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';

const root = path.resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));

interface LockEntry {
  engines?: { node?: string };
  optional?: boolean;
  os?: string[];
  cpu?: string[];
}

/** Optional native builds for other platforms are never installed here; npm skips their engines. */
function installableHere(e: LockEntry): boolean {
  const fits = (list: string[] | undefined, v: string) => !list || list.some((x) => (x.startsWith('!') ? x.slice(1) !== v : x === v));
  return !e.optional || (fits(e.os, process.platform) && fits(e.cpu, process.arch));
}

test('every Node version the package declares is accepted by every locked dependency (npm ci without EBADENGINE)', () => {
  const declared: string = pkg.engines.node;
  assert.ok(semver.satisfies(process.version, declared), `this machine's Node ${process.version} is outside the declared ${declared}`);
  const refusing: string[] = [];
  for (const [name, entry] of Object.entries(lock.packages as Record<string, LockEntry>)) {
    const wants = entry.engines?.node;
    if (!name || !wants || !installableHere(entry)) continue;
    if (!semver.subset(declared, wants)) refusing.push(`${name} wants node ${wants}`);
  }
  assert.deepEqual(refusing, [], `declared node ${declared}, but:\n${refusing.join('\n')}`);
  assert.equal(lock.packages[''].engines.node, declared, 'package-lock.json records the same engines as package.json');
});
