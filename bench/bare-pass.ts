/**
 * The floor every inference benchmark is compared with: one bare onnxruntime MobileNet pass on an
 * already preprocessed 1×224×224×3 tensor (no decoding, no resizing, no JavaScript around it),
 * measured in the same process as the thing compared, so the ratio holds on a noisy machine.
 */
import { loadImage } from '../src/data/image.js';
import { preprocessBatch } from '../src/data/preprocess.js';
import { backboneGraph, BACKBONE_INPUT } from '../src/models/backbone-graph.js';
import { registryEntry, DEFAULT_BACKBONE } from '../src/models/registry.js';
import { getDefaultStore } from '../src/models/store.js';
import { createSession, defaultThreads, ort } from '../src/runtime/ort.js';
import { median } from './stats.js';

export async function barePassMs(photo: string, runs = 200): Promise<number> {
  const entry = registryEntry(DEFAULT_BACKBONE);
  const graph = await backboneGraph(entry, entry.backbone!, getDefaultStore());
  // Inline: the session on this thread, no worker hop, so nothing but ORT's pass is timed (and
  // the same feeds can be run again: a worker session takes ownership of its inputs' buffers).
  const session = await createSession(graph.model, { inline: true });
  const { data, shape } = await preprocessBatch([await loadImage(photo)], entry.backbone!.preprocessing);
  const feeds = { [BACKBONE_INPUT]: new ort.Tensor('float32', data, shape) };
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  await session.release();
  return median(times);
}

export const threadsNote = () => `onnxruntime intra-op threads ${defaultThreads()}`;
