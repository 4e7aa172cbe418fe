import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initTf, tf } from '../src/runtime/tf.js';
import { rng } from '../src/util/random.js';

// The wasm Conv2DBackpropFilter must give the same filter gradients as the reference cpu backend.
async function grads(
  backend: 'wasm' | 'cpu',
  xs: Float32Array,
  xShape: [number, number, number, number],
  ws: Float32Array,
  wShape: [number, number, number, number],
  strides: number,
  pad: 'same' | 'valid',
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(xs, xShape);
    const w = tf.tensor4d(ws, wShape);
    const [gx, gw] = tf.grads((xv: tf.Tensor, wv: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xv as tf.Tensor4D, wv as tf.Tensor4D, strides, pad))))([x, w]);
    return [gx!.dataSync() as Float32Array, gw!.dataSync() as Float32Array];
  });
}

test('wasm Conv2DBackpropFilter and Conv2DBackpropInput match the cpu backend (same/valid padding, strides 1 and 2)', async () => {
  await initTf('wasm');
  const random = rng(3);
  const cases: { x: [number, number, number, number]; w: [number, number, number, number]; s: number; pad: 'same' | 'valid' }[] = [
    { x: [2, 9, 7, 3], w: [3, 3, 3, 4], s: 1, pad: 'same' },
    { x: [3, 10, 10, 2], w: [2, 2, 2, 5], s: 1, pad: 'valid' },
    { x: [2, 11, 9, 4], w: [3, 3, 4, 6], s: 2, pad: 'same' },
    { x: [1, 8, 8, 1], w: [5, 5, 1, 2], s: 2, pad: 'valid' },
  ];
  try {
    for (const c of cases) {
      const xs = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, () => random() * 2 - 1);
      const ws = Float32Array.from({ length: c.w.reduce((a, b) => a * b) }, () => random() * 2 - 1);
      const wasm = await grads('wasm', xs, c.x, ws, c.w, c.s, c.pad);
      const cpu = await grads('cpu', xs, c.x, ws, c.w, c.s, c.pad);
      for (const [which, a, b] of [
        ['dx', wasm[0]!, cpu[0]!],
        ['dW', wasm[1]!, cpu[1]!],
      ] as const) {
        assert.equal(a.length, b.length);
        const maxErr = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!) / (1 + Math.abs(b[i]!))), 0);
        assert.ok(maxErr < 1e-4, `${which} ${JSON.stringify(c)}: max relative error ${maxErr}`);
        assert.ok(
          b.some((v) => Math.abs(v) > 1e-3),
          `${which}: gradient should not be all zero`,
        );
      }
    }
  } finally {
    await tf.setBackend('wasm');
  }
});

test('a small CNN trains on wasm (loss goes down)', async () => {
  await initTf('wasm');
  const tfl = await import('@tensorflow/tfjs-layers');
  const m = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [12, 12, 1],
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 }),
      }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 8 }) }),
    ],
  });
  m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  // Seeded weights, no shuffling: the same run every time (an unseeded start can leave every ReLU dead).
  // class 0: bright left half; class 1: bright right half
  const n = 32;
  const xs = new Float32Array(n * 144);
  const ys = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 144; p++) xs[i * 144 + p] = p % 12 < 6 === (i % 2 === 0) ? 1 : 0;
    ys[i * 2 + (i % 2)] = 1;
  }
  const h = await m.fit(tf.tensor4d(xs, [n, 12, 12, 1]), tf.tensor2d(ys, [n, 2]), { epochs: 15, batchSize: 8, verbose: 0, shuffle: false });
  const loss = h.history.loss as number[];
  assert.ok(loss[loss.length - 1]! < loss[0]! * 0.5, `loss ${loss[0]} → ${loss[loss.length - 1]}`);
});
