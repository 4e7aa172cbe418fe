import { readFile } from 'node:fs/promises';
import { getDefaultStore, type ModelStore } from '../models/store.js';
import { YOLOX_PAD, YOLOX_SIZE } from './coco-decode.js';
import { withLetterbox } from './letterbox-graph.js';

/**
 * YOLOX-nano with its letterbox as the first nodes of its own graph (letterbox-graph.ts), as YuNet
 * has: the decoded RGB pixels go in as they are, and the graph makes them planar BGR, resizes them
 * (linear, half-pixel centres; a larger photo comes shrunk by the host) and pads them with grey 114 to 416² at
 * the bottom and right, YOLOX's own `preproc`. The server and the browser's device mode run these
 * very nodes, so their boxes agree; before, the server letterboxed with sharp, which the browser
 * host does not have.
 *
 * The file's opset goes from 11 to 18 (the letterbox's nodes are written at 18). YOLOX's own operators (the Focus
 * stem's Slice with its bounds as inputs, Conv, Sigmoid, Mul, Add, Concat, MaxPool, nearest
 * Resize with scales, Reshape, Transpose) mean the same there.
 */
const YOLOX_OPS = ['Slice', 'Concat', 'Conv', 'Sigmoid', 'Mul', 'Add', 'MaxPool', 'Resize', 'Reshape', 'Transpose'] as const;

export function yoloxWithPreprocessing(bytes: Uint8Array, name = 'YOLOX-nano'): Uint8Array {
  return withLetterbox(bytes, { name, side: YOLOX_SIZE, pad: YOLOX_PAD, ops: YOLOX_OPS });
}

/** The registry's YOLOX-nano, resolved from the store, with its preprocessing in the graph. */
export async function loadYoloxGraph(store: ModelStore = getDefaultStore()): Promise<Uint8Array> {
  return yoloxWithPreprocessing(await readFile(await store.resolve('yolox_nano')), 'yolox_nano');
}
