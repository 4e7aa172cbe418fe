/**
 * bench:startup's floor for a cold `predict`, as a cold process: node's own start, onnxruntime,
 * the same sessions the command creates (from the same cached optimised graphs, optimisation off,
 * the same thread counts), and the same passes on the same photo's feeds, one after another, with
 * nothing around them. The spec (written by bench/startup.ts) lists each session's graph, options
 * and feeds.
 * Usage: node bench/startup-floor.mjs SPEC.json
 */
import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import process from 'node:process';

process.env.ORT_DISABLE_TELEMETRY = '1'; // as runtime/ort.ts sets it
const ort = await import('onnxruntime-node');
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ARRAYS = { uint8: Uint8Array, int64: BigInt64Array, float32: Float32Array };
for (const s of spec.sessions) {
  const session = await ort.InferenceSession.create(s.model, {
    intraOpNumThreads: s.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'disabled',
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  for (let i = 0; i < s.passes; i++) {
    const feeds = {};
    for (const [name, f] of Object.entries(s.feeds)) {
      const bytes = new Uint8Array(Buffer.from(f.base64, 'base64')); // a copy: aligned for BigInt64Array
      feeds[name] = new ort.Tensor(f.type, new ARRAYS[f.type](bytes.buffer), f.dims);
    }
    await session.run(feeds);
  }
}
process.stdout.write('done\n');
