import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadDataset } from '../src/data/dataset.js';
import { describeSkipped, walkImages } from '../src/data/walk.js';
import { isImgclassError } from '../src/util/errors.js';
import { encode, PDF } from './fixtures.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

const data = sharedDataDir();
const tmp = () => mkdtemp(path.join(os.tmpdir(), 'imgclass-walk-'));
const names = (files: string[], root: string) => files.map((f) => path.relative(root, f));

test('a walk chooses files by content: no extension is fine, a .jpg holding text is not; all skipped entries are reported', async () => {
  const root = await tmp();
  await mkdir(path.join(root, 'a', 'deeper'), { recursive: true });
  await writeFile(path.join(root, 'a', '3f2c9e1d0b7a'), await encode('jpeg')); // named by its hash, no extension
  await writeFile(path.join(root, 'a', 'deeper', 'photo.PNG'), await encode('png'));
  await writeFile(path.join(root, 'a', 'photo.webp.bak'), await encode('webp'));
  await writeFile(path.join(root, 'a', 'notes.jpg'), 'shopping list');
  await writeFile(path.join(root, 'a', 'paper.png'), PDF);
  await writeFile(path.join(root, 'a', 'empty.gif'), '');
  await writeFile(path.join(root, 'README.txt'), 'hello');
  const w = await walkImages([root]);
  assert.deepEqual(names(w.files, root), ['a/3f2c9e1d0b7a', 'a/deeper/photo.PNG', 'a/photo.webp.bak']);
  assert.deepEqual(w.skipped.map((s) => [path.relative(root, s.file), s.reason]).sort(), [
    ['README.txt', 'not-an-image'],
    ['a/empty.gif', 'not-an-image'],
    ['a/notes.jpg', 'not-an-image'],
    ['a/paper.png', 'unsupported-format'],
  ]);
  const line = describeSkipped(w.skipped)!;
  assert.ok(!line.includes('\n'), 'one line');
  assert.match(line, /^skipped 4 entries that are not images \(3 not an image, 1 unsupported format\), e\.g\. /);
  assert.equal(describeSkipped([]), null);
  // a file named directly is kept whatever it holds: the decoder reports it per file
  assert.deepEqual(names((await walkImages([path.join(root, 'a', 'notes.jpg')])).files, root), ['a/notes.jpg']);
  await assert.rejects(walkImages([path.join(root, 'nope')]), (e) => isImgclassError(e) && e.code === 'FILE_NOT_FOUND');
});

test('a walk follows links to files and folders, reports broken links, and stops at cycles', async () => {
  const root = await tmp();
  const photo = sampleClassFolders(path.join(data, 'lfw'), 1)[0]!.file;
  await mkdir(path.join(root, 'real', 'sub'), { recursive: true });
  await writeFile(path.join(root, 'real', 'sub', 'x.png'), await encode('png'));
  await mkdir(path.join(root, 'walked'));
  await symlink(photo, path.join(root, 'walked', 'linked.jpg')); // link to a file
  await symlink(path.join(root, 'real'), path.join(root, 'walked', 'folder')); // link to a folder
  await symlink(path.join(root, 'walked'), path.join(root, 'walked', 'folder-loop')); // link to itself: a cycle
  await symlink('../../walked', path.join(root, 'real', 'sub', 'up')); // a cycle entered through the folder link
  await symlink(path.join(root, 'gone.jpg'), path.join(root, 'walked', 'dangling.jpg'));
  await mkdir(path.join(root, 'walked', '.cache'));
  await writeFile(path.join(root, 'walked', '.cache', 'blob.png'), await encode('png')); // hidden folders are not entered
  const w = await walkImages([path.join(root, 'walked')]);
  assert.deepEqual(names(w.files, root), ['walked/folder/sub/x.png', 'walked/linked.jpg']);
  assert.deepEqual(w.skipped.map((s) => [path.relative(root, s.file), s.reason]).sort(), [
    ['walked/dangling.jpg', 'broken-link'],
    ['walked/folder-loop', 'link-cycle'],
    ['walked/folder/sub/up', 'link-cycle'],
  ]);
});

test('a data set laid out with symbolic links (DVC style) reads like a copied one; a linked class folder counts', async () => {
  const root = await tmp();
  const dogs = sampleClassFolders(path.join(data, 'imagewoof/val'), 3).slice(0, 6);
  // photos live in a content-addressed cache; the class folders hold links named by hash, no extension
  await mkdir(path.join(root, 'set', 'beagle'), { recursive: true });
  for (const [i, d] of dogs.slice(0, 3).entries()) await symlink(d.file, path.join(root, 'set', 'beagle', `md5-${i}`));
  await mkdir(path.join(root, 'elsewhere', 'terrier'), { recursive: true });
  for (const [i, d] of dogs.slice(3).entries()) await symlink(d.file, path.join(root, 'elsewhere', 'terrier', `${i}.jpg`));
  await symlink(path.join(root, 'elsewhere', 'terrier'), path.join(root, 'set', 'terrier'));
  await writeFile(path.join(root, 'set', 'beagle', 'Thumbs.db'), 'windows thumbnail cache');
  const ds = await loadDataset(path.join(root, 'set'), { validFraction: 0.34, testFraction: 0 });
  assert.deepEqual(
    ds.classes.map((c) => c.name),
    ['beagle', 'terrier'],
  );
  assert.equal(ds.splits.train.length + ds.splits.valid.length + ds.splits.test.length, 6);
  assert.deepEqual(
    ds.skipped.map((s) => path.basename(s.file)),
    ['Thumbs.db'],
  );
});

test('a data set, split or class with no images is an error, never a silent success', async () => {
  const expectBad = async (root: string, re: RegExp) =>
    assert.rejects(loadDataset(root), (e) => {
      assert.ok(isImgclassError(e) && e.code === 'BAD_DATASET', String(e));
      assert.match(e.message, re);
      return true;
    });
  // every photo a link to nowhere (a data set checked out without its cache)
  const dangling = await tmp();
  for (const c of ['a', 'b']) {
    await mkdir(path.join(dangling, c));
    await symlink(path.join(dangling, 'cache', c), path.join(dangling, c, 'photo.jpg'));
  }
  await expectBad(dangling, /no images in any class folder.*broken link|no images in any class folder/);
  // an empty test split folder
  const split = await tmp();
  for (const d of ['train/a', 'train/b', 'valid/a', 'valid/b', 'test/a']) await mkdir(path.join(split, d), { recursive: true });
  for (const d of ['train/a', 'train/b', 'valid/a', 'valid/b']) await writeFile(path.join(split, d, 'x.png'), await encode('png'));
  await expectBad(split, /test split holds no images/);
  // one class without a single image
  const cls = await tmp();
  for (const c of ['a', 'b', 'c']) await mkdir(path.join(cls, c));
  for (const c of ['a', 'b']) await writeFile(path.join(cls, c, 'x.png'), await encode('png'));
  await writeFile(path.join(cls, 'c', 'x.txt'), 'no photo here');
  await expectBad(cls, /class folder c holds no images \(1 other entries were not images/);
});
