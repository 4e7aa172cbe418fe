import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { headingSlug, markdownAnchors, markdownFiles, markdownLinks, readText, repoRoot } from '../support/markdown.js';

const files = markdownFiles();
const rel = (f: string) => path.relative(repoRoot, f);

test('every relative link and image in the README and docs/ resolves, anchors included', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const { target, line } of markdownLinks(readText(file))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: outside the repository
      checked++;
      const [rawPath, fragment] = target.split('#', 2) as [string, string | undefined];
      const resolved = rawPath ? path.resolve(path.dirname(file), decodeURIComponent(rawPath)) : file;
      const where = `${rel(file)}:${line}: ${target}`;
      if (!resolved.startsWith(repoRoot + path.sep) && resolved !== repoRoot) broken.push(`${where} (leaves the repository)`);
      else if (!existsSync(resolved)) broken.push(`${where} (no such file)`);
      else if (fragment !== undefined && statSync(resolved).isFile() && resolved.endsWith('.md') && !markdownAnchors(readText(resolved)).has(fragment))
        broken.push(`${where} (no heading with that anchor in ${rel(resolved)})`);
    }
  }
  assert.ok(checked > 50, `only ${checked} links found: is the link parser broken?`);
  assert.deepEqual(broken, [], `broken links:\n${broken.join('\n')}`);
});

test('every page in docs/ is linked from the README', () => {
  const readme = path.join(repoRoot, 'README.md');
  const linked = new Set(markdownLinks(readText(readme)).map(({ target }) => path.resolve(repoRoot, target.split('#')[0]!)));
  const unlinked = files.filter((f) => f.startsWith(path.join(repoRoot, 'docs') + path.sep) && !linked.has(f)).map(rel);
  assert.deepEqual(unlinked, [], `add a row to the README's Documentation table for: ${unlinked.join(', ')}`);
});

test('the README is at most 150 lines', () => {
  const lines = readText(path.join(repoRoot, 'README.md')).trimEnd().split('\n').length;
  assert.ok(lines <= 150, `README.md has ${lines} lines; move detail into docs/`);
});

test('the link checker itself: GitHub anchors, fenced code ignored, broken targets found', () => {
  assert.equal(headingSlug('`npm run bench:serve`: loopback, 8 connections, 20 s'), 'npm-run-benchserve-loopback-8-connections-20-s');
  assert.equal(headingSlug("Toolkit: the seeds' workflow"), 'toolkit-the-seeds-workflow');
  assert.equal(headingSlug('9. The unknown answer'), '9-the-unknown-answer');
  const md = '# A\n\n## A\n\n[x](b.md#a-1) ![y](c.png)\n\n```sh\n[not](a link)\n```\n`[nor](this)` <img src="d.png">\n';
  assert.deepEqual([...markdownAnchors(md)], ['a', 'a-1']);
  assert.deepEqual(
    markdownLinks(md).map((l) => l.target),
    ['b.md#a-1', 'c.png', 'd.png'],
  );
});
