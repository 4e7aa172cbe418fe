import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadDataset, matchClasses } from '../src/data/dataset.js';
import { explore, formatExploration } from '../src/data/explore.js';
import { leakedIntoTraining } from '../src/data/duplicates.js';
import { sharedDataDir } from './shared.js';
import { encode } from './fixtures.js';
import { sharedDir } from './shared.js';

sharedDir(); // model store for ImageNet names

async function makeTree(root: string, spec: Record<string, number>) {
  for (const [dir, n] of Object.entries(spec)) {
    await mkdir(path.join(root, dir), { recursive: true });
    for (let i = 0; i < n; i++) await writeFile(path.join(root, dir, `img${i}.png`), await encode('png', 8 + i, 8));
  }
}

test('split folders (train/valid|val/test) and Udacity-style class names', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-ds-'));
  await makeTree(root, {
    'train/001.Affenpinscher': 3,
    'train/002.Afghan_hound': 2,
    'val/001.Affenpinscher': 1,
    'val/002.Afghan_hound': 1,
    'test/002.Afghan_hound': 2,
  });
  const ds = await loadDataset(root);
  assert.equal(ds.splitSource, 'folders');
  assert.deepEqual(
    ds.classes.map((c) => c.name),
    ['Affenpinscher', 'Afghan hound'],
  );
  assert.deepEqual([ds.splits.train.length, ds.splits.valid.length, ds.splits.test.length], [5, 2, 2]);
  assert.ok(ds.splits.test.every((f) => f.label === 1));
});

test('WordNet-id folders get ImageNet names; a classes.tsv in the root wins', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-ds-'));
  await makeTree(root, { 'train/n02086240': 2, 'train/n02088364': 2 });
  let ds = await loadDataset(root);
  assert.deepEqual(ds.classes, [
    { name: 'Shih-Tzu', wnid: 'n02086240' },
    { name: 'beagle', wnid: 'n02088364' },
  ]);
  await writeFile(path.join(root, 'classes.tsv'), 'wnid\tbreed\nn02088364\tBeagle (tsv)\n');
  ds = await loadDataset(root);
  assert.equal(ds.classes[1]!.name, 'Beagle (tsv)');
  // eval matches by WordNet id first, then by name
  assert.deepEqual(matchClasses([{ name: 'x', wnid: 'n02088364' }, { name: 'Shih-Tzu' }], ds.classes), [1, 0]);
  assert.throws(() => matchClasses([{ name: 'cat' }, { name: 'dog' }], ds.classes), /not one of the model's classes/);
});

test('an unsplit folder is split stratified and seeded; too few classes is a clear error', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-ds-'));
  await makeTree(root, { Bus: 20, Car: 20, motorcycle: 10 });
  const a = await loadDataset(root, { seed: 1 });
  assert.equal(a.splitSource, 'stratified');
  // per class: 15% of 20 = 3 test + 3 valid; 15% of 10 = 1.5 → 2 + 2: train 14 + 14 + 6 = 34
  assert.deepEqual([a.splits.train.length, a.splits.valid.length, a.splits.test.length], [34, 8, 8]);
  assert.equal(a.splits.test.filter((f) => f.label === 2).length, 2);
  const b = await loadDataset(root, { seed: 1 });
  assert.deepEqual(a.splits.test, b.splits.test);
  const one = await mkdtemp(path.join(os.tmpdir(), 'imgclass-ds-'));
  await makeTree(one, { only: 3 });
  await assert.rejects(loadDataset(one), /at least two/);
});

test('explore counts classes and splits, sizes, unreadable files, and draws charts', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-ds-'));
  await makeTree(root, { 'train/a': 4, 'train/b': 2, 'valid/a': 1, 'valid/b': 1 });
  // a truncated PNG is an image that cannot be read; a text file named .jpg is no image at all
  await writeFile(path.join(root, 'train/b/broken.png'), (await encode('png', 40, 40)).subarray(0, 60));
  await writeFile(path.join(root, 'train/b/notes.jpg'), 'not really a jpeg');
  const out = path.join(root, 'report');
  const e = await explore(root, out);
  assert.equal(e.classes, 2);
  assert.deepEqual(e.perClass.a, { train: 4, valid: 1, test: 0 });
  assert.equal(e.perSplit.train.min, 3);
  assert.equal(e.perSplit.train.max, 4);
  assert.equal(e.unreadable.length, 1);
  assert.match(e.unreadable[0]!.file, /broken\.png/);
  assert.deepEqual(
    e.skipped.map((s) => [path.basename(s.file), s.reason]),
    [['notes.jpg', 'not-an-image']],
  );
  assert.equal(e.imageSize.minWidth, 8);
  assert.equal(e.charts?.length, 3);
  // makeTree draws img<i> the same in every folder: byte-identical copies across splits and labels
  assert.equal(e.duplicates.groups.length, 2);
  assert.deepEqual(e.duplicates.groups.map((g) => g.files.length).sort(), [2, 4]);
  assert.equal(e.duplicates.acrossSplits, 1);
  assert.equal(e.duplicates.acrossClasses, 2);
  assert.equal(e.duplicates.redundant, 4);
  // a: 5 photos, b: 4 (the unreadable one still counts as a photo of b): balanced enough
  assert.equal(e.imbalance.largest, 'a');
  assert.ok(Math.abs(e.imbalance.ratio - 5 / 4) < 1e-9);
  assert.match(formatExploration(e), /balanced enough/);
  // three more of a: 8 vs 4
  for (let i = 4; i < 7; i++) await writeFile(path.join(root, 'train/a', `img${i}.png`), await encode('png', 8 + i, 8));
  const more = await explore(root);
  assert.equal(more.imbalance.ratio, 2);
  assert.match(formatExploration(more), /IMBALANCED, a has 2\.0× the photos of b \(8 vs 4\)/);
});

test('explore finds the byte-identical photo pairs of the real vehicles set, one of them across train and valid', async () => {
  const root = path.join(sharedDataDir(), 'vehicles');
  const e = await explore(root);
  const pairs = e.duplicates.groups
    .map((g) =>
      g.files
        .map((f) => f.replace(/\\/g, '/'))
        .sort()
        .join(' = '),
    )
    .sort();
  assert.deepEqual(pairs, [
    'Car/Image_23.jpg = Car/Image_32.jpg',
    'motorcycle/Image_39.jpg = motorcycle/Image_77.jpg',
    'motorcycle/Image_55.jpg = motorcycle/Image_94.jpg',
  ]);
  assert.equal(e.duplicates.acrossSplits, 1);
  const text = formatExploration(e);
  assert.match(text, /exact duplicates: 3 groups .* 1 across splits/);
  assert.match(text, /Car\/Image_23\.jpg \(train\) = Car\/Image_32\.jpg \(valid\) {2}← across splits/);
  assert.ok(e.imbalance.ratio < 1.1, 'vehicles is balanced (73–75 per class)');
  // train's check: the valid photo Car/Image_32 has its copy among the training photos
  const ds = await loadDataset(root);
  const leaks = await leakedIntoTraining([...ds.splits.valid, ...ds.splits.test], ds.splits.train);
  assert.deepEqual(
    leaks.map((l) => [path.basename(l.file), l.copies.map((c) => path.basename(c))]),
    [['Image_32.jpg', ['Image_23.jpg']]],
  );
});
