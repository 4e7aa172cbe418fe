/**
 * npm run bench:train — the toolkit's two hot loops against the plain TF.js path, same run:
 * 1. bottleneck feature extraction (photos/s) on 200 shared photos, cache cold: the ONNX engine
 *    against the old TF.js-wasm path and one bare ORT MobileNet pass (the floor);
 * 2. 20 epochs of the seed's head (Dropout → Dense 256 → Dropout → Dense 10) on 5,000 feature
 *    vectors, batch 20: wasm vs the cpu backend;
 * 3. one epoch of the seed's scratch CNN (64×64, 500 images, batch 32): wasm with our backprop
 *    kernels vs the cpu backend.
 * Timings of training do not depend on the values, so 2 and 3 use seeded random data.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { extractFeatures } from '../src/features/bottleneck.js';
import { loadBackbone } from '../src/models/backbone.js';
import { initTf, tf } from '../src/runtime/tf.js';
import { featureHead, seedScratchCnn } from '../src/training/architectures.js';
import { sampleClassFolders, sharedDataDir } from '../support/shared.js';
import { barePassMs } from './bare-pass.js';
import { table } from './stats.js';

await initTf();
const files = sampleClassFolders(path.join(sharedDataDir(), 'imagewoof/val'), 20).map((f) => f.file);
const rows: string[][] = [];

// 1. feature extraction (cold cache: decode, fit, photo + mirror through the backbone, cache write)
async function coldFeatures(engine: 'onnx' | 'tfjs', list: string[]): Promise<{ rate: number; warm: number }> {
  const cache = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bench-'));
  const backbone = await loadBackbone(undefined, { engine, batchSize: engine === 'onnx' ? 2 : 1 });
  await extractFeatures(list.slice(0, 4), backbone, { cacheDir: await mkdtemp(path.join(os.tmpdir(), 'imgclass-warmup-')) });
  let t0 = performance.now();
  await extractFeatures(list, backbone, { cacheDir: cache });
  const rate = list.length / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  await extractFeatures(list, backbone, { cacheDir: cache });
  const warm = list.length / ((performance.now() - t0) / 1000);
  backbone.dispose();
  await rm(cache, { recursive: true, force: true });
  return { rate, warm };
}
const floor = await barePassMs(files[0]!);
const onnx = await coldFeatures('onnx', files);
const old = await coldFeatures('tfjs', files.slice(0, 40));
rows.push(
  ['bare ORT MobileNet pass (floor)', `${floor.toFixed(1)} ms → target ≥ 1/(2.5 × floor) = ${(1000 / (2.5 * floor)).toFixed(1)} photos/s`],
  ['features, cold cache, ONNX engine (photo + mirror)', `${onnx.rate.toFixed(1)} photos/s (${(1000 / onnx.rate / floor).toFixed(2)} × floor per photo)`],
  ['features, cold cache, TF.js wasm (old path, 40 photos)', `${old.rate.toFixed(1)} photos/s (ONNX ${(onnx.rate / old.rate).toFixed(1)}× faster)`],
  ['features, second run (cache hit)', `${onnx.warm.toFixed(0)} photos/s`],
);

// 2 and 3 train on the TF.js cpu backend for a quarter of an hour; BENCH_TRAIN_FEATURES_ONLY=1 skips them.
if (process.env.BENCH_TRAIN_FEATURES_ONLY !== '1') {
  // 2. head training
  async function headEpochs(backend: 'wasm' | 'cpu', epochs: number): Promise<number> {
    await tf.setBackend(backend);
    const x = tf.randomNormal([5000, 768], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.randomUniform([5000], 0, 10, 'int32', 2), 10);
    const m = featureHead({ inputDim: 768, classes: 10 });
    m.compile({ optimizer: 'rmsprop', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const s = performance.now();
    await m.fit(x, y, { epochs, batchSize: 20, verbose: 0 });
    const secs = ((performance.now() - s) / 1000) * (20 / epochs);
    tf.dispose([x, y]);
    m.dispose();
    return secs;
  }
  const headCpu = await headEpochs('cpu', 2);
  const headWasm = await headEpochs('wasm', 20);
  rows.push(
    ['head, 20 epochs on 5,000 features, plain TF.js cpu backend', `${headCpu.toFixed(1)} s (2 epochs measured, ×10)`],
    ['head, 20 epochs on 5,000 features, wasm', `${headWasm.toFixed(1)} s (${(headCpu / headWasm).toFixed(1)}× faster)`],
  );

  // 3. scratch CNN epoch
  async function cnnEpoch(backend: 'wasm' | 'cpu', n: number): Promise<number> {
    await tf.setBackend(backend);
    const x = tf.randomUniform([n, 64, 64, 3], 0, 1, 'float32', 3);
    const y = tf.oneHot(tf.randomUniform([n], 0, 10, 'int32', 4), 10);
    const m: tfl.Sequential = seedScratchCnn({ size: 64, channels: 3, classes: 10 });
    m.compile({ optimizer: 'rmsprop', loss: 'categoricalCrossentropy' });
    const s = performance.now();
    await m.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0 });
    const secs = (performance.now() - s) / 1000;
    tf.dispose([x, y]);
    m.dispose();
    return (secs / n) * 500; // per 500 images
  }
  const cnnCpu = await cnnEpoch('cpu', 32);
  const cnnWasm = await cnnEpoch('wasm', 500);
  rows.push(
    ['scratch CNN 64×64, 500 images, plain TF.js cpu backend', `${cnnCpu.toFixed(1)} s (measured on 32, scaled)`],
    ['scratch CNN 64×64, 500 images, wasm + imgclass backprop kernels', `${cnnWasm.toFixed(1)} s (${(cnnCpu / cnnWasm).toFixed(1)}× faster)`],
  );
}
console.log(table(['bench:train', 'result'], rows));
