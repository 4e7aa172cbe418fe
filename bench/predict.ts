/**
 * npm run bench:predict — latency of the dog app on 200 shared photos (dogs, people, negatives),
 * per stage (decode, backbone, face detection, total), and batch throughput of the backbone,
 * against the plain TF.js-on-wasm path (load_img → tensor → model.predict, one image at a time,
 * the way the seed's Keras code does it) measured in the same run on the same photos.
 */
import path from 'node:path';
import sharp from 'sharp';
import * as tfl from '@tensorflow/tfjs-layers';
import { createDogApp } from '../src/app/dog-app.js';
import { loadImage } from '../src/data/image.js';
import { loadBackbone } from '../src/models/backbone.js';
import { fileLoader } from '../src/models/tfjs-io.js';
import { getDefaultStore } from '../src/models/store.js';
import { initTf, tf } from '../src/runtime/tf.js';
import { sampleClassFolders, sharedDataDir } from '../test/shared.js';
import { fmt, median, quantile, table } from './stats.js';

const data = sharedDataDir();
const files = [
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 10),
  ...sampleClassFolders(path.join(data, 'lfw'), 1).filter((_, i) => i % 11 === 0).slice(0, 50),
  ...sampleClassFolders(path.join(data, 'negatives'), 10),
].map((f) => f.file).slice(0, 200);
const backend = await initTf();
console.log(`bench:predict on ${files.length} photos, TF.js backend ${backend}, ${process.env.CI ? 'CI' : 'local'}\n`);

// Reference: plain TF.js on wasm, one image at a time.
const modelJson = await getDefaultStore().resolve('mobilenet_v1_0.75_224');
const plain = await tfl.loadLayersModel(fileLoader(path.dirname(modelJson)));
const refTimes: number[] = [];
for (const f of [...files.slice(0, 5), ...files]) {
  const t0 = performance.now();
  const { data: px } = await sharp(f).resize(224, 224, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const y = tf.tidy(() => plain.predict(tf.sub(tf.div(tf.tensor4d(Float32Array.from(px), [1, 224, 224, 3]), 127.5), 1)) as tf.Tensor);
  await y.data();
  y.dispose();
  refTimes.push(performance.now() - t0);
}
refTimes.splice(0, 5); // warm-up
plain.dispose();

// The app, image by image (what a user of predict or the server waits for).
const app = await createDogApp();
for (const f of files.slice(0, 5)) await app.classify(f);
const stages = { decode: [] as number[], backbone: [] as number[], faces: [] as number[], total: [] as number[] };
for (const f of files) {
  const r = await app.classify(f);
  stages.decode.push(r.timings.decodeMs);
  stages.backbone.push(r.timings.backboneMs);
  stages.faces.push(r.timings.facesMs);
  stages.total.push(r.timings.totalMs);
}
const noFlip = await createDogApp({ flipAverage: false });
const noFlipTotals: number[] = [];
for (const f of files) noFlipTotals.push((await noFlip.classify(f)).timings.totalMs);
noFlip.dispose();
app.dispose();

// Throughput: backbone alone, batched, on decoded images (feature extraction's inner loop).
const images = await Promise.all(files.map((f) => loadImage(f)));
const through: string[][] = [];
for (const bs of [1, 8, 16, 32]) {
  // the backbone chunks by its own batch size, so each size needs its own instance
  const backbone = await loadBackbone(undefined, { batchSize: bs });
  const t0 = performance.now();
  await backbone.run(images);
  through.push([`backbone, batch ${bs}`, `${(images.length / ((performance.now() - t0) / 1000)).toFixed(1)} img/s`]);
  backbone.dispose();
}

console.log(table(['per image', 'median', 'p90'], [
  ['reference: plain TF.js wasm, decode + predict (no faces, no flip)', fmt(median(refTimes)), fmt(quantile(refTimes, 0.9))],
  ['app: decode', fmt(median(stages.decode)), fmt(quantile(stages.decode, 0.9))],
  ['app: backbone (image + mirror, one batch)', fmt(median(stages.backbone)), fmt(quantile(stages.backbone, 0.9))],
  ['app: face detection + face check', fmt(median(stages.faces)), fmt(quantile(stages.faces, 0.9))],
  ['app: total (flip averaging on, the default)', fmt(median(stages.total)), fmt(quantile(stages.total, 0.9))],
  ['app: total, --no-flip', fmt(median(noFlipTotals)), fmt(quantile(noFlipTotals, 0.9))],
]));
console.log('\n' + table(['throughput', 'rate'], [[`reference: plain TF.js, one at a time`, `${(1000 / median(refTimes)).toFixed(1)} img/s`], ...through]));
