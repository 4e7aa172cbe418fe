/**
 * npm run bench:engines — nothing gets worse on the ONNX engine:
 * 1. the dog app's decisions on every shared routing photo (imagewoof/val, LFW, negatives) on
 *    ONNX Runtime and on the old TF.js-wasm path, same thresholds: same kind, same top breed;
 * 2. the exported Imagewoof head (`imgclass export models/imagewoof-head`) against the trained
 *    model on TF.js on 1,000 photos: max |Δp| and top-1 agreement.
 *   BENCH_LIMIT=N limits each set (default: all).
 */
import path from 'node:path';
import { createDogApp, type DogAppResult } from '../src/app/dog-app.js';
import { loadImage } from '../src/data/image.js';
import { verifyExport } from '../src/evaluation/verify-export.js';
import { buildExport } from '../src/models/export.js';
import { imageFilesIn } from '../src/data/walk.js';
import { sharedDataDir } from '../support/shared.js';
import { table } from './stats.js';

const limit = Number(process.env.BENCH_LIMIT ?? Infinity);
const data = sharedDataDir();
const every = <T>(xs: T[], n: number) => (xs.length <= n ? xs : Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]!));
const sets: Record<string, string[]> = {
  'imagewoof/val': every(await imageFilesIn(path.join(data, 'imagewoof/val')), limit),
  lfw: every(await imageFilesIn(path.join(data, 'lfw')), limit),
  negatives: every(await imageFilesIn(path.join(data, 'negatives')), limit),
};

async function decisions(engine: 'onnx' | 'tfjs'): Promise<Map<string, DogAppResult>> {
  const app = await createDogApp({ engine });
  const out = new Map<string, DogAppResult>();
  for (const files of Object.values(sets)) for (const f of files) out.set(f, await app.classify(f));
  app.dispose();
  return out;
}
const onnx = await decisions('onnx');
const tfjs = await decisions('tfjs');
const rows = Object.entries(sets).map(([name, files]) => {
  const sameKind = files.filter((f) => onnx.get(f)!.kind === tfjs.get(f)!.kind).length;
  const withBreed = files.filter((f) => tfjs.get(f)!.breeds.length > 0 && onnx.get(f)!.kind === tfjs.get(f)!.kind);
  const sameBreed = withBreed.filter((f) => onnx.get(f)!.breeds[0]!.name === tfjs.get(f)!.breeds[0]!.name).length;
  const dp = Math.max(...files.map((f) => Math.abs(onnx.get(f)!.dogProbability - tfjs.get(f)!.dogProbability)));
  return [
    name,
    String(files.length),
    `${((100 * sameKind) / files.length).toFixed(2)}%`,
    `${((100 * sameBreed) / Math.max(1, withBreed.length)).toFixed(2)}% of ${withBreed.length}`,
    dp.toExponential(1),
  ];
});
const all = [...onnx.keys()];
const agree = all.filter((f) => onnx.get(f)!.kind === tfjs.get(f)!.kind).length;
rows.push(['all', String(all.length), `**${((100 * agree) / all.length).toFixed(2)}%**`, '', '']);
console.log(table(['photos', 'n', 'same decision (kind)', 'same top breed', 'max |Δ dogProbability|'], rows));
for (const f of all.filter((f) => onnx.get(f)!.kind !== tfjs.get(f)!.kind))
  console.log(
    `  differs: ${path.relative(data, f)}: ONNX ${onnx.get(f)!.kind} (dog ${onnx.get(f)!.dogProbability}), TF.js ` +
      `${tfjs.get(f)!.kind} (dog ${tfjs.get(f)!.dogProbability})`,
  );

// 2. the export against TF.js on 1,000 photos
const photos = every(await imageFilesIn(path.join(data, 'imagewoof/val')), Math.min(limit, 1000));
const built = await buildExport([path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head')]);
const images = [];
for (const f of photos) images.push(await loadImage(f));
const v = await verifyExport(built.bytes, built.info, images, `${photos.length} imagewoof/val photos`);
console.log(
  '\n' +
    table(
      ['export of models/imagewoof-head vs TF.js', 'value'],
      [
        ['photos', String(v.n)],
        ['max |Δp|', v.maxAbsDiff.toExponential(2)],
        ['mean |Δp|', v.meanAbsDiff.toExponential(2)],
        ['identical top-1', `${(v.top1Agreement * 100).toFixed(2)}%`],
      ],
    ),
);
