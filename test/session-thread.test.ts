/**
 * runtime/session-thread.ts: sessions that share a worker thread (the dog app's detectors) each
 * answer as a session on a thread of its own; releasing one leaves the other working; the thread
 * goes once its last session is released, and a later session of that name gets a new one; a
 * graph that does not load is a clear error and leaves the shared thread usable. A worker hands an
 * input's large buffer back with the answer, for the next input (util/byte-pool.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../src/models/onnx/graph.js';
import { createSession, feed, type OrtSession } from '../src/runtime/ort.js';
import { isImgclassError } from '../src/util/errors.js';
import { releaseBytes, takeBytes } from '../src/util/byte-pool.js';

/** y = x·k + b, elementwise, on a 1×4 float input: two graphs that answer differently. */
function affine(k: number, b: number): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('x', [1, 4]);
  g.node('Add', [g.node('Mul', [x, g.constant('k', [k], [])], {}, 'xk'), g.constant('b', [b], [])], {}, 'y');
  g.output('y', [1, 4]);
  return g.build();
}

const input = () => feed('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]);
const run = async (s: OrtSession) => Array.from((await s.run({ x: input() })).y!.data as Float32Array);

test('two sessions on one named thread answer as on their own threads; one released, the other still answers', async () => {
  const own = await createSession(affine(2, 1), { threads: 1 });
  const a = await createSession(affine(2, 1), { threads: 1, thread: 'test-shared' });
  const b = await createSession(affine(-1, 0.5), { threads: 1, thread: 'test-shared' });
  assert.deepEqual(await run(a), await run(own));
  assert.deepEqual(await run(a), [3, 5, 7, 9]);
  // both at once: their runs queue on the one thread and each gets its own answer
  const [ra, rb] = await Promise.all([run(a), run(b)]);
  assert.deepEqual(ra, [3, 5, 7, 9]);
  assert.deepEqual(rb, [-0.5, -1.5, -2.5, -3.5]);
  await a.release();
  assert.deepEqual(await run(b), [-0.5, -1.5, -2.5, -3.5], 'the other session still answers');
  await b.release();
  await assert.rejects(run(b), 'a released session does not answer');
  // the thread went with its last session: the name gets a new one
  const c = await createSession(affine(3, 0), { threads: 1, thread: 'test-shared' });
  assert.deepEqual(await run(c), [3, 6, 9, 12]);
  await Promise.all([c.release(), own.release()]);
});

test('a graph that does not load is a MODEL_CORRUPT error, and the shared thread keeps serving', async () => {
  const good = await createSession(affine(1, 1), { threads: 1, thread: 'test-corrupt' });
  await assert.rejects(
    createSession(new Uint8Array([1, 2, 3, 4, 5]), { threads: 1, thread: 'test-corrupt' }),
    (e) => isImgclassError(e) && e.code === 'MODEL_CORRUPT',
  );
  assert.deepEqual(await run(good), [2, 3, 4, 5]);
  await good.release();
});

test("a worker gives an input's large buffer back with its answer, and the next buffer of that size is that one", async () => {
  // y = x + 1 on 1×N floats, N large enough (≥ 64 KB) for the buffer to come back (util/byte-pool.ts)
  const n = 40_000;
  const g = new GraphBuilder();
  g.node('Add', [g.input('x', [1, n]), g.constant('one', [1], [])], {}, 'y');
  g.output('y', [1, n]);
  const s = await createSession(g.build(), { threads: 1 });
  const bytes = takeBytes(n * 4);
  const x = new Float32Array(bytes.buffer, 0, n).fill(2.5);
  const y = (await s.run({ x: feed('float32', x, [1, n]) })).y!.data as Float32Array;
  assert.equal(y.length, n);
  assert.ok(
    y.every((v) => v === 3.5),
    'the answer is right',
  );
  assert.equal(x.length, 0, 'the buffer was handed over, not copied');
  // the same bytes are handed out again: what was written into them is still there
  const again = takeBytes(n * 4);
  assert.ok(
    new Float32Array(again.buffer, 0, n).every((v) => v === 2.5),
    'the buffer that came back is reused',
  );
  assert.ok(
    takeBytes(n * 4).every((v) => v === 0),
    'and only once: the next one is new',
  );
  await s.release();
});

test('the byte pool hands out only what was given back, once, and never a buffer it did not make', () => {
  const a = takeBytes(200_000);
  assert.equal(a.length, 200_000);
  a.fill(7);
  releaseBytes(a);
  const b = takeBytes(210_000); // rounded up to the same multiple of 64 KB: the buffer given back
  assert.equal(b.buffer, a.buffer);
  assert.equal(b.length, 210_000);
  assert.notEqual(takeBytes(210_000).buffer, a.buffer, 'handed out once');
  releaseBytes(b);
  releaseBytes(b); // twice: still handed out once
  assert.equal(takeBytes(200_000).buffer, a.buffer);
  assert.notEqual(takeBytes(200_000).buffer, a.buffer);
  // bytes it did not make (a caller's image) are left alone, whatever their size
  const mine = new Uint8Array(4 * 65536);
  releaseBytes(mine);
  assert.notEqual(takeBytes(4 * 65536).buffer, mine.buffer);
  // small requests are plain arrays of their own
  const small = takeBytes(100);
  assert.equal(small.buffer.byteLength, 100);
});
