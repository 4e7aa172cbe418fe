/**
 * The floor every inference benchmark is compared with: one bare onnxruntime MobileNet pass on an
 * already preprocessed 1×224×224×3 tensor (no decoding, no resizing, no JavaScript around it),
 * measured in the same process as the thing compared, so the ratio holds on a noisy machine.
 *
 * `bareWorkMs` measures the same way each model pass the dog app makes for a photo, so a benchmark
 * can say what the photo's model work costs with nothing around it: the line between overhead
 * (ours to remove) and work (the pipeline's to decide).
 */
import { readFile } from 'node:fs/promises';
import type { DogApp } from '../src/app/dog-app.js';
import { loadImage, type ImageInput } from '../src/data/image.js';
import { preprocessBatch } from '../src/data/preprocess.js';
import { flipHorizontal } from '../src/data/pixels.js';
import { YUNET_SIZE } from '../src/detectors/face/yunet-decode.js';
import { backboneGraph, BACKBONE_INPUT } from '../src/models/backbone-graph.js';
import { readModel } from '../src/models/onnx/graph.js';
import { registryEntry, DEFAULT_BACKBONE } from '../src/models/registry.js';
import { getDefaultStore } from '../src/models/store.js';
import { ort } from '../src/runtime/ort-binding.js';
import { createSession, defaultThreads, type OrtSession, type SessionOptions } from '../src/runtime/ort.js';
import { median } from './stats.js';

/** Median time of `runs` runs of an inline session on fixed feeds, after 20 warm-up runs. */
export async function timeBare(model: string | Uint8Array, options: SessionOptions, feeds: Record<string, ort.Tensor>, runs: number): Promise<number> {
  // Inline: the session on this thread, no worker hop, so nothing but ORT's pass is timed (and
  // the same feeds can be run again: a worker session takes ownership of its inputs' buffers).
  const session: OrtSession = await createSession(model, { ...options, inline: true });
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

export async function backboneFeeds(photo: string, flip: boolean) {
  const entry = registryEntry(DEFAULT_BACKBONE);
  // the bare network: its input already normalised, none of the engine's nodes in front
  const graph = await backboneGraph(entry, entry.backbone!, getDefaultStore(), { input: 'normalised' });
  const image = await loadImage(photo);
  const { data, shape } = await preprocessBatch(flip ? [image, flipHorizontal(image)] : [image], entry.backbone!.preprocessing);
  return { model: graph.model, feeds: { [BACKBONE_INPUT]: new ort.Tensor('float32', data, shape) } };
}

/**
 * One bare MobileNet pass, batch 1, at the app's thread count: the faster of ORT's two ways for
 * idle threads to wait (spinning, its default, wins on a quiet machine; blocking, the app's
 * setting, under other load), so the floor is never one the app's own setting makes easy to beat.
 */
export async function barePassMs(photo: string, runs = 200): Promise<number> {
  const { model, feeds } = await backboneFeeds(photo, false);
  const spinning = await timeBare(model, { spin: true }, feeds, runs / 2);
  const blocking = await timeBare(model, { spin: false }, feeds, runs / 2);
  return Math.min(spinning, blocking);
}

/**
 * The dog app's model passes, each bare, as the app configures them: the backbone on a photo and
 * its mirror image (one batch of 2; a face crop costs the same again) and YuNet (1 thread).
 */
export async function bareWorkMs(photo: string, runs = 100): Promise<{ backbonePair: number; yunet: number }> {
  const pair = await backboneFeeds(photo, true);
  const backbonePair = Math.min(await timeBare(pair.model, { spin: true }, pair.feeds, runs / 2), await timeBare(pair.model, {}, pair.feeds, runs / 2));
  // YuNet's own graph (its letterbox, in the app's graph, is part of the overhead measured against this)
  const yunetBytes = await readFile(await getDefaultStore().resolve('yunet_n'));
  const x = new ort.Tensor('float32', new Float32Array(3 * YUNET_SIZE * YUNET_SIZE).fill(114), [1, 3, YUNET_SIZE, YUNET_SIZE]);
  const yunet = await timeBare(yunetBytes, { threads: 1, spin: true }, { [readModel(yunetBytes).graph!.input![0]!.name!]: x }, runs);
  return { backbonePair, yunet };
}

export const threadsNote = () => `onnxruntime intra-op threads ${defaultThreads()}`;

/**
 * How many backbone views the dog app sends for each photo (the photo and its mirror image, and
 * a pair per face crop checked), counted on the app's own backbone while it classifies them.
 */
export async function viewsPerPhoto(app: DogApp, inputs: ImageInput[]): Promise<number[]> {
  const backbone = app.backbone;
  const run = backbone.run.bind(backbone);
  let views = 0;
  backbone.run = (images) => ((views += images.length), run(images));
  const counts: number[] = [];
  try {
    for (const input of inputs) {
      views = 0;
      await app.classify(input);
      counts.push(views);
    }
  } finally {
    backbone.run = run;
  }
  return counts;
}

/** A photo's model passes with nothing around them: its backbone views in pairs, plus one YuNet pass. */
export const bareModelWork = (views: number, work: { backbonePair: number; yunet: number }) => (views / 2) * work.backbonePair + work.yunet;
