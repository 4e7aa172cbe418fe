import type { RgbImage } from '../data/image.js';
import type { BackboneSpec } from './registry.js';

/** What one forward pass of a pretrained backbone gives for one image. */
export interface BackboneOutput {
  /** Softmax over the 1000 ImageNet classes. */
  probabilities: Float32Array;
  /** The transfer-learning feature vector (MobileNet: 768-d global average pool). */
  features: Float32Array;
}

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
  dispose(): void;
}

/** Which runtime runs a backbone: ONNX Runtime (the product's engine) or TF.js (training's, and the reference). */
export type Engine = 'onnx' | 'tfjs';
