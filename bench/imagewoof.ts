/**
 * npm run bench:imagewoof — the committed example breed model (models/imagewoof-head) and the
 * no-training reference (MobileNet's ImageNet head restricted to the 10 breeds) on imagewoof/val,
 * on all 1,000 photos and on the 162 that MobileNet never saw (ILSVRC2012_val_*: every other
 * photo in Imagewoof is an ImageNet training photo, which flatters any ImageNet backbone).
 */
import path from 'node:path';
import { loadDataset } from '../src/data/dataset.js';
import { evaluateModels } from '../src/evaluation/run-eval.js';
import { sharedDataDir } from '../support/shared.js';
import { table } from './stats.js';

const val = path.join(sharedDataDir(), 'imagewoof/val');
const ds = await loadDataset(val);
const all = Object.values(ds.splits)
  .flat()
  .sort((a, b) => a.file.localeCompare(b.file));
const unseen = all.filter((f) => path.basename(f.file).startsWith('ILSVRC2012_val_'));
const rows: string[][] = [];
for (const model of [path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head'), 'imagenet:mobilenet_v1_0.75_224']) {
  const cells = [model.startsWith('imagenet:') ? 'MobileNet ImageNet head restricted to the 10 breeds (no training)' : 'models/imagewoof-head (committed)'];
  for (const files of [all, unseen]) {
    const r = await evaluateModels([model], val, { files, filesDescription: `${files.length} imagewoof/val photos`, filesName: 'val' });
    cells.push(`${(r.accuracy * 100).toFixed(1)}% (n=${r.n}, macro F1 ${(r.macro.f1 * 100).toFixed(1)}%)`);
  }
  rows.push(cells);
}
console.log(table(['model', 'imagewoof/val, all 1,000 (838 of them ImageNet training photos)', 'imagewoof/val, the 162 unseen (ILSVRC2012_val_*)'], rows));
