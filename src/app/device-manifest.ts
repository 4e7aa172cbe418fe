import type { DogPipelineOptions } from './dog-pipeline.js';
import type { Preprocessing } from '../data/tensor.js';
import type { DecodeLimits } from '../data/upload.js';
import type { ClassInfo } from '../models/probabilities.js';

/**
 * What the server tells the page about device mode (`GET /api/device`): where the models are, how
 * large they are, and every option the shared pipeline needs, so the browser runs exactly the
 * configuration the server runs.
 */
export interface DeviceAsset {
  /** Content-hashed URL (served with Cache-Control: immutable). */
  url: string;
  bytes: number;
}

export interface DeviceManifest {
  available: boolean;
  /** Why device mode is off (a head on pixels, the Haar detector …). */
  reason?: string;
  /** The device-mode bundle (src/web/device.ts), content-hashed. */
  bundle: string;
  ort: { version: string; module: string; glue: string; wasm: DeviceAsset };
  models: { backbone: DeviceAsset; faces: DeviceAsset; head?: DeviceAsset };
  backbone: { name: string; preprocessing: Preprocessing };
  /** The breed head: ImageNet probabilities restricted to `indices`, or an ONNX graph on `headInput`. */
  head: { kind: 'imagenet-subset'; indices: number[] } | { kind: 'onnx'; input: 'features' | 'features+probabilities' };
  classes: ClassInfo[];
  pipeline: DogPipelineOptions;
  yunet: { scoreThreshold: number; nmsIou: number };
  limits: DecodeLimits;
}
