/**
 * runtime/session-cache.ts: a session opened from onnxruntime's optimised graph (cached on disk,
 * loaded with optimisation off) answers exactly as one that optimises the graph itself, on the
 * converted MobileNet with a real photo and on a QDQ-quantised graph; the cache is written
 * atomically, read on the next start, and rebuilt when its file is torn.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadImage } from '../src/data/image.js';
import { packPixels } from '../src/data/pixels.js';
import { resizeFor } from '../src/data/preprocess.js';
import { backboneGraph, BACKBONE_PIXELS } from '../src/models/backbone-graph.js';
import { GraphBuilder, onnx, readModel, writeModel } from '../src/models/onnx/graph.js';
import { DEFAULT_BACKBONE, registryEntry } from '../src/models/registry.js';
import { getDefaultStore } from '../src/models/store.js';
import { ort } from '../src/runtime/ort-binding.js';
import { createSession, type OrtOutputs, type SessionModel, type SessionOptions } from '../src/runtime/ort.js';
import { optimizedGraphPath, type GraphCache } from '../src/runtime/session-cache.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

const data = sharedDataDir();

async function runOnce(model: SessionModel, o: SessionOptions, feeds: () => Record<string, ort.Tensor>): Promise<OrtOutputs> {
  const s = await createSession(model, o);
  try {
    return await s.run(feeds());
  } finally {
    await s.release();
  }
}

function assertSameOutputs(a: OrtOutputs, b: OrtOutputs, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    assert.deepEqual(b[k]!.dims, a[k]!.dims, `${what}: ${k} dims`);
    // to the bit: the same kernels on the same graph
    assert.deepEqual(Buffer.from((b[k]!.data as Float32Array).buffer), Buffer.from((a[k]!.data as Float32Array).buffer), `${what}: ${k} differs`);
  }
}

/** The graph's operators as domain:op (ONNX's own with an empty domain). */
const opTypes = async (file: string) => (readModel(await readFile(file)).graph?.node ?? []).map((n) => `${n.domain ?? ''}:${n.opType}`);

test('MobileNet from its cached optimised graph: identical outputs on a real photo, read back on the next start, a torn file rebuilt', async () => {
  const store = getDefaultStore();
  const entry = registryEntry(DEFAULT_BACKBONE);
  const graph = await backboneGraph(entry, entry.backbone!, store);
  const photo = await resizeFor(await loadImage(sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file), entry.backbone!.preprocessing);
  const feeds = () => {
    const { data: px, dims } = packPixels([photo]);
    return { [BACKBONE_PIXELS]: new ort.Tensor('uint8', px, dims) };
  };
  const cache: GraphCache = { dir: await mkdtemp(path.join(os.tmpdir(), 'imgclass-session-cache-')), name: 'mobilenet', key: path.basename(graph.model) };
  const file = optimizedGraphPath(cache);

  const plain = await runOnce(graph.model, {}, feeds);
  const first = await runOnce(graph.model, { cache }, feeds); // optimises and writes the cache
  assertSameOutputs(plain, first, 'the session that wrote the cache');
  const written = await stat(file);
  assert.deepEqual(await readdir(cache.dir), [path.basename(file)], 'one file, no temporary left behind');
  const ops = await opTypes(file);
  assert.ok(
    !ops.includes(':BatchNormalization') && ops.includes('com.microsoft.nchwc:Conv'),
    `the cached graph is the optimised one (BN folded, NCHWc): ${ops.join(' ')}`,
  );

  const second = await runOnce(graph.model, { cache }, feeds);
  assertSameOutputs(plain, second, 'the session from the cached graph');
  assert.equal((await stat(file)).mtimeMs, written.mtimeMs, 'the second start read the cache, it did not rewrite it');

  await writeFile(file, (await readFile(file)).subarray(0, 4096)); // torn, as by a crash mid-copy
  const rebuilt = await runOnce(graph.model, { cache }, feeds);
  assertSameOutputs(plain, rebuilt, 'the session after a torn cache');
  assert.ok((await stat(file)).size > 4096, 'the torn file was replaced');
});

/**
 * A small QDQ graph, as quantised models are (the TFLite EdgeTPU import writes them): uint8
 * activations and int8 weights through QuantizeLinear/DequantizeLinear around a Conv and its Relu,
 * which level 'all' fuses into QLinearConv. (Explicit zero points: ORT 1.30 rejects this graph at
 * 'extended' and above when QuantizeLinear leaves its zero point out.)
 */
function qdqGraph(): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('x', [1, 3, 16, 16]);
  const xs = g.constant('x_scale', [1 / 64], []);
  const xd = g.node('DequantizeLinear', [g.node('QuantizeLinear', [x, xs, 'zp_u8'], {}, 'x_q'), xs, 'zp_u8'], {}, 'x_dq');
  const wd = g.node('DequantizeLinear', ['w_q', g.constant('w_scale', [1 / 32], []), 'zp_i8'], {}, 'w_dq');
  const y = g.node('Relu', [g.node('Conv', [xd, wd], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv')], {}, 'relu');
  const ys = g.constant('y_scale', [1 / 16], []);
  g.node('DequantizeLinear', [g.node('QuantizeLinear', [y, ys, 'zp_u8'], {}, 'y_q'), ys, 'zp_u8'], {}, 'y');
  g.output('y', [1, 8, 16, 16]);
  const m = readModel(g.build());
  const w = Int8Array.from({ length: 8 * 3 * 9 }, (_, i) => ((i * 37) % 255) - 127);
  const T = onnx.TensorProto.DataType;
  m.graph!.initializer!.push(
    { name: 'w_q', dims: [8, 3, 3, 3], dataType: T.INT8, rawData: new Uint8Array(w.buffer) },
    { name: 'zp_i8', dims: [], dataType: T.INT8, rawData: new Uint8Array(1) },
    { name: 'zp_u8', dims: [], dataType: T.UINT8, rawData: new Uint8Array(1) },
  );
  return writeModel(m);
}

test('a QDQ-quantised graph: cached fused (QLinearConv), identical outputs from the cache', async () => {
  const bytes = qdqGraph();
  const input = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => ((i * 13) % 97) / 40);
  const feeds = () => ({ x: new ort.Tensor('float32', input.slice(), [1, 3, 16, 16]) });
  const cache: GraphCache = { dir: await mkdtemp(path.join(os.tmpdir(), 'imgclass-session-cache-')), name: 'qdq', key: 'qdq-test' };
  for (const inline of [true, false]) {
    const plain = await runOnce(bytes, { inline }, feeds);
    const writing = await runOnce(bytes, { inline, cache }, feeds);
    const fromCache = await runOnce(() => Promise.reject(new Error('the cache was not used')), { inline, cache }, feeds);
    assertSameOutputs(plain, writing, 'QDQ, the session that wrote the cache');
    assertSameOutputs(plain, fromCache, 'QDQ, from the cache');
  }
  const ops = await opTypes(optimizedGraphPath(cache));
  assert.ok(
    ops.some((op) => op.endsWith(':QLinearConv')),
    `QDQ fused in the cached graph: ${ops.join(' ')}`,
  );
});
