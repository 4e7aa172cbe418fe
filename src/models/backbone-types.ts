import type { RgbImage } from '../data/image.js';
import type { BackboneOutput } from './probabilities.js';
import type { BackboneSpec } from './registry.js';

export type { BackboneOutput } from './probabilities.js';

/**
 * The tensor names of every engine backbone graph (backbone-graph.ts), here with no host
 * dependency so the browser's device mode feeds the served graph by the same names.
 */
export const BACKBONE_TENSORS = {
  /** The fitted images as they are: uint8 NHWC RGB (the graph normalises them). */
  pixels: 'pixels',
  /** The bare network's input, already normalised (benchmarks' floor only). */
  input: 'input',
  probabilities: 'probabilities',
  features: 'features',
} as const;

/**
 * A pretrained network with its preprocessing attached (keras-hub's backbone + preprocessor):
 * callers hand it decoded RGB images and never see normalisation constants.
 */
export interface Backbone {
  readonly name: string;
  readonly spec: BackboneSpec;
  /** Images of any size; resized and normalised per `spec.preprocessing`, run in batches. */
  run(images: RgbImage[]): Promise<BackboneOutput[]>;
  /**
   * The ImageNet classifier as a Dense layer on the features (kernel featureDim×1000, bias 1000),
   * when the backbone has one that reads the features directly (MobileNet's 1×1 conv_preds).
   */
  imagenetHead?(): Promise<{ kernel: Float32Array; bias: Float32Array } | undefined>;
  /**
   * Readies it for many photos, where that costs something at start (the ONNX backbone's
   * single-threaded sessions side by side: backbone.ts). Answers are the same before and after.
   */
  warmUp?(): Promise<void>;
  /** Releases the backbone's sessions. */
  dispose(): void;
}

/** Which runtime runs a backbone: ONNX Runtime (the product's engine) or TF.js (training's, and the reference). */
export type Engine = 'onnx' | 'tfjs';

/** A backbone's converted graph, cached (backbone-graph.ts). */
export interface BackboneGraph {
  /** Path of the cached .onnx file. */
  model: string;
  /** Set when the graph only takes batches of this size. */
  fixedBatch?: number;
}
