import { readFile } from 'node:fs/promises';
import { getDefaultStore, type ModelStore } from '../../models/store.js';
import { withLetterbox } from '../letterbox-graph.js';
import { YUNET_SIZE } from './yunet-decode.js';

/**
 * YuNet with its preprocessing as the first nodes of its own graph (letterbox-graph.ts), so every
 * host runs the same letterbox: the decoded RGB pixels go in as they are, and the graph makes them
 * planar BGR, resizes them and pads them with black to 320² at the bottom and right. Measured on
 * the app: the same letterbox in sharp and JavaScript took 3–5 ms and 1.4 ms per photo; ORT does it
 * in a fraction of a millisecond, and the browser's device mode runs these very nodes instead of
 * its own resampling.
 *
 * The file's opset goes from 11 to 18 (the letterbox's nodes are written at 18). YuNet's own operators
 * (Conv, Relu, MaxPool, Resize with scales, Add, Transpose, Reshape, Sigmoid) mean the same there.
 */
const YUNET_OPS = ['Conv', 'Relu', 'MaxPool', 'Resize', 'Add', 'Transpose', 'Reshape', 'Sigmoid'] as const;

export function yunetWithPreprocessing(bytes: Uint8Array, name = 'YuNet'): Uint8Array {
  return withLetterbox(bytes, { name, side: YUNET_SIZE, pad: 0, ops: YUNET_OPS });
}

/** A registry YuNet (`yunet_n` or `yunet_s`), resolved from the store, with its preprocessing in the graph. */
export async function loadYunetGraph(model: 'yunet_n' | 'yunet_s' = 'yunet_n', store: ModelStore = getDefaultStore()): Promise<Uint8Array> {
  return yunetWithPreprocessing(await readFile(await store.resolve(model)), model);
}
