/**
 * npm run bench:imagewoof — the committed example breed model (models/imagewoof-head) and the
 * no-training reference (MobileNet's ImageNet head restricted to the 10 breeds) on imagewoof/val,
 * on all 1,000 photos and on the 162 that MobileNet never saw (ILSVRC2012_val_*: every other
 * photo in Imagewoof is an ImageNet training photo, which flatters any ImageNet backbone).
 *
 * Another backbone: BENCH_MODEL=<trained model dir> scores that head instead of the committed one,
 * and the no-training reference is then its backbone's ImageNet head (BENCH_BACKBONE, which must
 * match the head's; default: the head's backbone). E.g. a head trained on MobileNet-EdgeTPU:
 *
 *   imgclass train …/imagewoof --backbone mobilenet_edgetpu_224_1.0 --arch linear … --out runs/woof-edgetpu
 *   BENCH_MODEL=runs/woof-edgetpu/model BENCH_BACKBONE=mobilenet_edgetpu_224_1.0 npm run bench:imagewoof
 */
import path from 'node:path';
import { loadDataset } from '../src/data/dataset.js';
import { evaluateModels } from '../src/evaluation/run-eval.js';
import { readManifest } from '../src/models/model-dir.js';
import { sharedDataDir } from '../support/shared.js';
import { table } from './stats.js';

const val = path.join(sharedDataDir(), 'imagewoof/val');
const ds = await loadDataset(val);
const all = Object.values(ds.splits)
  .flat()
  .sort((a, b) => a.file.localeCompare(b.file));
const unseen = all.filter((f) => path.basename(f.file).startsWith('ILSVRC2012_val_'));
const committed = path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head');
const head = path.resolve(process.env.BENCH_MODEL ?? committed);
const headBackbone = (await readManifest(head)).backbone;
const backbone = process.env.BENCH_BACKBONE ?? headBackbone;
if (backbone !== headBackbone) throw new Error(`BENCH_BACKBONE=${backbone}, but ${head} was trained on ${headBackbone}`);
const rows: string[][] = [];
for (const model of [head, `imagenet:${backbone}`]) {
  const cells = [
    model.startsWith('imagenet:')
      ? `${backbone}'s ImageNet head restricted to the 10 breeds (no training)`
      : head === committed
        ? 'models/imagewoof-head (committed)'
        : `${path.relative(process.cwd(), head)} (${backbone})`,
  ];
  for (const files of [all, unseen]) {
    const r = await evaluateModels([model], val, { files, filesDescription: `${files.length} imagewoof/val photos`, filesName: 'val' });
    cells.push(`${(r.accuracy * 100).toFixed(1)}% (n=${r.n}, macro F1 ${(r.macro.f1 * 100).toFixed(1)}%)`);
  }
  rows.push(cells);
}
console.log(table(['model', 'imagewoof/val, all 1,000 (838 of them ImageNet training photos)', 'imagewoof/val, the 162 unseen (ILSVRC2012_val_*)'], rows));
