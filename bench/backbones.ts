/**
 * The TFLite backbones' bare passes, 8-bit against float (issue #20): each shipped file converted
 * both ways (src/models/tflite/convert.ts, `precision`), run on one fitted photo at batch 1 and at
 * the engine's batch of 2 (a photo and its mirror image), as ratios to one bare fp32 MobileNet v1
 * 0.75 pass measured in the same rounds (bare-pass.ts). Rounds interleave the graphs so a burst
 * of load on the shared machine falls on all of them; the table gives the median of the rounds.
 *
 *   npm run bench:backbones [-- --rounds 5 --runs 40]
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadImage } from '../src/data/image.js';
import { flipHorizontal, packPixels } from '../src/data/pixels.js';
import { resizeFor } from '../src/data/preprocess.js';
import { registryEntry } from '../src/models/registry.js';
import { getDefaultStore } from '../src/models/store.js';
import { convertTflite, type Precision } from '../src/models/tflite/convert.js';
import { ort } from '../src/runtime/ort-binding.js';
import { sharedDataDir } from '../support/shared.js';
import { backboneFeeds, threadsNote, timeBare } from './bare-pass.js';
import { median, table } from './stats.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, runs: { type: 'string', default: '40' } } });
const rounds = Number(args.rounds);
const runs = Number(args.runs);
const photo = path.join(sharedDataDir(), 'imagewoof', 'val', 'n02099601', 'ILSVRC2012_val_00001112.jpg');

interface Variant {
  name: string;
  precision: Precision;
  /** uint8 weights handed to onnxruntime as int8 (the VNNI kernels' u8 × s8). */
  signed: boolean;
  batch: 1 | 2;
  model: Uint8Array;
  feeds: Record<string, ort.Tensor>;
}

const variants: Variant[] = [];
for (const name of ['mobilenet_edgetpu_224_1.0', 'mobilenet_v2_1.0_224_quant']) {
  const entry = registryEntry(name);
  const bytes = await readFile(await getDefaultStore().resolve(entry));
  const image = await resizeFor(await loadImage(photo), entry.backbone!.preprocessing);
  for (const [precision, signed] of [
    ['8bit', true],
    ['8bit', false],
    ['float', false],
  ] as const)
    for (const batch of [1, 2] as const) {
      const { data, dims } = packPixels(batch === 1 ? [image] : [image, flipHorizontal(image)]);
      const { bytes: model } = convertTflite(bytes, { inputType: 'uint8', input: 'pixels', precision, signedWeights: signed });
      variants.push({ name, precision, signed, batch, model, feeds: { pixels: new ort.Tensor('uint8', data, dims) } });
    }
}

const reference = await backboneFeeds(photo, false);
// the faster of ORT's two ways for idle threads to wait, as barePassMs does
const time = async (model: string | Uint8Array, feeds: Record<string, ort.Tensor>) =>
  Math.min(await timeBare(model, { spin: true }, feeds, runs), await timeBare(model, { spin: false }, feeds, runs));
const ratios = new Map<Variant, number[]>();
const times = new Map<Variant, number[]>();
const refs: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    // each variant right after its own reference pass: load on the shared machine moves both
    const ref = await time(reference.model, reference.feeds);
    const ms = await time(v.model, v.feeds);
    refs.push(ref);
    (times.get(v) ?? times.set(v, []).get(v)!).push(ms);
    (ratios.get(v) ?? ratios.set(v, []).get(v)!).push(ms / ref);
  }
  process.stderr.write(`round ${r + 1}/${rounds}: reference median ${median(refs).toFixed(1)} ms\n`);
}

console.log(`bare MobileNet v1 0.75 fp32 pass (batch 1): median ${median(refs).toFixed(1)} ms over ${refs.length} measurements; ${threadsNote()}\n`);
console.log(
  table(
    ['backbone', 'precision', 'batch', 'median ms', '× bare v1 0.75 pass (median of rounds)'],
    variants.map((v) => [
      v.name,
      v.precision === 'float' ? 'float' : `8-bit, ${v.signed ? 'int8' : 'uint8'} weights`,
      v.batch,
      median(times.get(v)!).toFixed(1),
      `${median(ratios.get(v)!).toFixed(2)}×`,
    ]),
  ),
);
