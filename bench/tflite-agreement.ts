/**
 * The project's TFLite → ONNX conversion against a real TFLite runtime (issue #20): LiteRT.js
 * (support/tflite-reference.ts) with XNNPack and with TFLite's built-in kernels, on the same
 * fitted pixels of unseen Imagewoof photos. Per file: top-1 agreement (over the 1001 outputs)
 * and the largest and mean |Δp|, for our 8-bit graph as the engine runs it and for the float one;
 * and LiteRT's two kernel paths against each other, for scale.
 *
 *   npm run bench:tflite-agreement [-- --photos 200]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { convertTflite, type Precision } from '../src/models/tflite/convert.js';
import { ort } from '../src/runtime/ort-binding.js';
import { imagewoofUnseen } from '../support/imagewoof-unseen.js';
import { inceptionFitFile } from '../support/inception-fit.js';
import { openTfliteReference, shippedTfliteClassifiers, type LiteRtKernels } from '../support/tflite-reference.js';
import { table } from './stats.js';

const { values: args } = parseArgs({ options: { photos: { type: 'string', default: '200' } } });
const n = Number(args.photos);
const all = imagewoofUnseen();
const photos = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / n)) === 0).slice(0, n);

const argmax = (p: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[b]!) b = i;
  return b;
};

function agreement(a: Float32Array[], b: Float32Array[]) {
  let same = 0;
  let max = 0;
  let sum = 0;
  let count = 0;
  a.forEach((p, i) => {
    if (argmax(p) === argmax(b[i]!)) same++;
    p.forEach((v, j) => {
      const d = Math.abs(v - b[i]![j]!);
      max = Math.max(max, d);
      sum += d;
      count++;
    });
  });
  return { top1: `${same}/${a.length} (${((100 * same) / a.length).toFixed(1)}%)`, max: max.toFixed(4), mean: (sum / count).toExponential(1) };
}

const rows: string[][] = [];
for (const model of shippedTfliteClassifiers()) {
  const inputs = await Promise.all(photos.map((p) => inceptionFitFile(p.file)));
  const ours: Record<string, Float32Array[]> = {};
  const bytes = await readFile(model.file);
  for (const precision of ['8bit', 'float'] as Precision[]) {
    const session = await ort.InferenceSession.create(convertTflite(bytes, { inputType: 'uint8', input: 'pixels', precision, signedWeights: true }).bytes);
    ours[precision] = [];
    for (const px of inputs) {
      const out = await session.run({ pixels: new ort.Tensor('uint8', px, [1, 224, 224, 3]) });
      ours[precision].push(Float32Array.from(Object.values(out)[0]!.data as Float32Array));
    }
    await session.release();
  }
  const litert: Record<string, Float32Array[]> = {};
  for (const kernels of ['xnnpack', 'builtin'] as LiteRtKernels[]) {
    const ref = await openTfliteReference(model.file, { kernels });
    litert[kernels] = [];
    for (const px of inputs) litert[kernels].push(await ref.run(px));
    ref.close();
  }
  for (const [a, b] of [
    ['8bit', 'xnnpack'],
    ['8bit', 'builtin'],
    ['float', 'xnnpack'],
  ] as const) {
    const r = agreement(ours[a]!, litert[b]!);
    rows.push([model.name, `ours ${a} vs LiteRT ${b}`, r.top1, r.max, r.mean]);
  }
  const r = agreement(litert.xnnpack!, litert.builtin!);
  rows.push([model.name, 'LiteRT xnnpack vs LiteRT builtin', r.top1, r.max, r.mean]);
  // each file's rows as soon as they are known (a 200-photo run takes minutes per file on a loaded machine)
  process.stderr.write(
    `${rows
      .slice(-4)
      .map((row) => row.join(' | '))
      .join('\n')}\n`,
  );
}
console.log(`${photos.length} unseen Imagewoof photos (every ${Math.floor(all.length / n)}th), Inception fit (support/inception-fit.ts)\n`);
console.log(table(['file', 'compared', 'top-1 agreement', 'max |Δp|', 'mean |Δp|'], rows));
