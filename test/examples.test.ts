import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  extractExamples,
  lineMatches,
  matchLines,
  numberRule,
  prepareWorkdir,
  recordOutputs,
  runExample,
  updatedOutput,
  type ExampleRun,
} from '../support/doc-examples.js';
import { markdownFiles, readText, repoRoot } from '../support/markdown.js';

// UPDATE_EXAMPLES=all (or a comma-separated list of pages, e.g. README.md,docs/cli.md) records new outputs instead of comparing.
const update = (process.env.UPDATE_EXAMPLES ?? '').split(',').filter(Boolean);
const updating = (rel: string) => update.includes('all') || update.includes(rel) || update.includes(path.basename(rel));

test('the comparison: numbers within 2%, times ignored, … as a wildcard, JSON by structure', () => {
  assert.ok(lineMatches('a beagle (92.6%).', 'a beagle (92.5%).'));
  assert.ok(!lineMatches('a beagle (92.6%).', 'a beagle (72.6%).'));
  assert.ok(!lineMatches('a beagle (92.6%).', 'a Walker hound (92.6%).'));
  assert.ok(lineMatches('trained in 7.5 s, epoch 1.1s', 'trained in 19.0 s, epoch 0.3s'));
  assert.ok(lineMatches('verified on 20 photos (20 of …/val): max 1.61e-6', 'verified on 20 photos (20 of /tmp/x/val): max 1.7e-6'));
  assert.ok(!lineMatches('on 20 photos', 'on 30 photos'));
  assert.ok(lineMatches('on 20 photos', 'on 30 photos', { ...numberRule({ options: new Set(['numbers=any']) } as never) }));
  assert.ok(lineMatches('{"kind":"dog","p":0.9264,"timings":{"a":1}}', '{"p":0.9262,"kind":"dog","timings":{"a":900}}'));
  assert.ok(!lineMatches('{"kind":"dog","p":0.9264,"timings":{}}', '{"kind":"dog","p":0.9264,"timings":{},"extra":1}'));
  assert.deepEqual(matchLines(['a', '…', 'c'], ['a', 'x', 'y', 'c']), ['a', null, 'c']);
  assert.deepEqual(matchLines(['a', '…'], ['a']), ['a', null]);
  assert.equal(matchLines(['a', 'c'], ['a', 'b', 'c']), null);
  assert.deepEqual(updatedOutput(['n 1.0', '…'], ['n 1.01', 'more']), ['n 1.01', '…']);
  assert.deepEqual(updatedOutput(['old'], ['new', 'lines']), ['new', 'lines']);
});

test('extracting and recording: commands, their outputs, a program and its output block', () => {
  const md = [
    '# x',
    '```sh example server',
    '$ one \\',
    '  --flag',
    'out 1',
    '$ two',
    '```',
    '```ts example',
    'console.log(1)',
    '```',
    '',
    '```text output',
    '1',
    '```',
    '',
  ].join('\n');
  const [sh, ts] = extractExamples(md);
  assert.deepEqual(
    sh!.commands.map((c) => [c.command, c.expected]),
    [
      ['one  --flag', ['out 1']],
      ['two', []],
    ],
  );
  assert.ok(sh!.options.has('server'));
  assert.deepEqual(ts!.commands[0]!.expected, ['1']);
  const runs: ExampleRun[] = [
    { outputs: [['out 2'], ['printed']], codes: [0, 0] },
    { outputs: [['2']], codes: [0] },
  ];
  assert.equal(
    recordOutputs(md, [sh!, ts!], runs),
    [
      '# x',
      '```sh example server',
      '$ one \\',
      '  --flag',
      'out 2',
      '$ two',
      'printed',
      '```',
      '```ts example',
      'console.log(1)',
      '```',
      '',
      '```text output',
      '2',
      '```',
      '',
    ].join('\n'),
  );
  assert.throws(() => extractExamples('```ts example\nx\n```\n'), /followed by its output/);
});

for (const file of markdownFiles()) {
  const rel = path.relative(repoRoot, file);
  const examples = extractExamples(readText(file));
  if (examples.length === 0) continue;
  test(`the examples of ${rel} run and print what the page shows`, async (t) => {
    const cwd = await prepareWorkdir(rel.replace(/[/.]/g, '-'));
    const runs: ExampleRun[] = [];
    for (const ex of examples) {
      const run = await runExample(ex, cwd);
      runs.push(run);
      if (updating(rel)) continue;
      await t.test(`${rel}:${ex.line}`, () => {
        ex.commands.forEach((c, i) => {
          const actual = run.outputs[i] ?? [];
          const where = `${rel}:${ex.line}: \`${c.command.split('\n')[0]}\``;
          assert.equal(run.codes[i], 0, `${where} exited with ${run.codes[i]}:\n${actual.join('\n')}`);
          assert.ok(
            matchLines(c.expected, actual, numberRule(ex)),
            `${where} printed something else than the page shows (UPDATE_EXAMPLES=${rel} npm run docs:examples records it):\n--- page\n${c.expected.join('\n')}\n--- actual\n${actual.join('\n')}`,
          );
        });
      });
    }
    if (updating(rel)) await writeFile(file, recordOutputs(readText(file), examples, runs));
  });
}
