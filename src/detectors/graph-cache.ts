import path from 'node:path';
import type { ModelStore } from '../models/store.js';
import { sha256FileCached } from '../util/hash-cache.js';
import type { GraphCache } from '../runtime/session-cache.js';

/**
 * Bump when letterbox-graph.ts (or yunet-graph.ts, coco-graph.ts) writes a different graph:
 * optimised graphs cached from the old one are then not used.
 */
const DETECTOR_GRAPH_VERSION = 2; // 2: the letterbox's Resize without antialiasing (it only enlarges)

/**
 * Where a detector's graph, letterbox included, is kept optimised (runtime/session-cache.ts): beside
 * the converted backbones, keyed by its source file's content, like the conversion cache. With the
 * cache warm the graph is neither edited (protobuf) nor optimised at start.
 */
export async function detectorGraphCache(store: ModelStore, name: string): Promise<GraphCache> {
  const source = await store.resolve(name);
  return { dir: path.join(store.cacheDir, 'converted'), name, key: `${DETECTOR_GRAPH_VERSION}:${await sha256FileCached(source, store.cacheDir)}` };
}

/**
 * The worker thread the detectors share (runtime/session-thread.ts): YuNet and YOLOX-nano are
 * small, and the dog pipeline never needs both at the same instant, so one thread's start is saved
 * (docs/startup.md).
 */
export const DETECTOR_THREAD = 'detectors';
