import type { DogPlan, Quality } from './quality.js';
import type { Preprocessing } from '../data/tensor.js';
import type { DecodeLimits } from '../data/upload.js';
import type { YoloxDecodeOptions } from '../detectors/coco-decode.js';
import type { ClassInfo } from '../models/probabilities.js';
import type { BackboneSpec } from '../models/registry.js';

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
  /** `objects`: YOLOX-nano with its letterbox in its graph, served only to a preset that asks it (not 'standard'). */
  models: { backbone: DeviceAsset; faces: DeviceAsset; objects?: DeviceAsset; head?: DeviceAsset };
  backbone: { name: string; preprocessing: Preprocessing };
  /** The breed head: ImageNet probabilities restricted to `indices`, or an ONNX graph on `headInput`. */
  head: { kind: 'imagenet-subset'; indices: number[] } | { kind: 'onnx'; input: 'features' | 'features+probabilities' };
  classes: ClassInfo[];
  /** The server's preset (app/quality.ts). */
  quality: Quality;
  /** The server's plan (its preset's steps, its backbone's values): device mode runs the same pipeline by it. */
  plan: DogPlan;
  yunet: { scoreThreshold: number; nmsIou: number };
  /** YOLOX's decoding, with `models.objects`. */
  yolox?: YoloxDecodeOptions;
  limits: DecodeLimits;
}

/** Every content-addressed URL device mode loads: the bundle, onnxruntime-web's scripts and wasm, the models. */
export function deviceAssetUrls(m: DeviceManifest): string[] {
  return [m.bundle, m.ort.module, m.ort.glue, m.ort.wasm.url, ...deviceModels(m).map((a) => a.url)];
}

/** The models device mode downloads, in the order it loads them (the ones this deploy does not serve left out). */
export function deviceModels(m: DeviceManifest): DeviceAsset[] {
  return [m.models.backbone, m.models.faces, m.models.objects, m.models.head].filter((a): a is DeviceAsset => a !== undefined);
}

/**
 * The headers that make the page cross-origin isolated (so onnxruntime-web may use threads):
 * the server sends them on every response, and the service worker keeps them on every response it
 * serves from its cache, so the page stays isolated offline.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * What the server builds into the service worker (`GET /sw.js`, src/web/sw.ts). A new deploy
 * changes `version`, hence the script's bytes: the browser installs the new worker, which replaces
 * the old caches.
 */
export interface OfflineConfig {
  /** Hash of the page's files and the device manifest: names the shell cache. */
  version: string;
  /** Content-addressed files fetched at install (device mode's code; the models and wasm come on first use). */
  precache: string[];
  /** Every content-addressed URL of this deploy: anything else in the asset cache is deleted on activate. Null when device mode is not built. */
  keep: string[] | null;
}

/**
 * What the page needs to train in the browser (`GET /api/train-device`; web/train-device.ts):
 * the training bundle, onnxruntime-web, TF.js's wasm binaries, the backbone graph the server
 * extracts features with, and the backbone's own network (for the ONNX export), all
 * content-addressed; plus the server's decode limits.
 */
export interface TrainDeviceManifest {
  /** The training bundle (src/web/train-device.ts), content-hashed. */
  bundle: string;
  ort: { version: string; module: string; glue: string; wasm: DeviceAsset };
  /** tfjs-backend-wasm's binaries by file name (setWasmPaths). */
  tfjsWasm: Record<string, string>;
  backbone: {
    name: string;
    spec: BackboneSpec;
    /** The engine's backbone graph (pixels in; probabilities and features out), as device mode runs it. */
    graph: DeviceAsset;
    /**
     * The backbone's source network for the export: a TF.js layers model (model.json with one weights
     * file), the registry's ONNX file, or a TFLite backbone as converted for an export (8 bits kept).
     */
    source: { kind: 'layers'; model: DeviceAsset; weights: DeviceAsset } | { kind: 'onnx' | 'converted'; file: DeviceAsset };
  };
  limits: DecodeLimits;
}

/** Every content-addressed URL device-mode training loads. */
export function trainDeviceAssetUrls(m: TrainDeviceManifest): string[] {
  const s = m.backbone.source;
  return [
    m.bundle,
    m.ort.module,
    m.ort.glue,
    m.ort.wasm.url,
    ...Object.values(m.tfjsWasm),
    m.backbone.graph.url,
    ...(s.kind === 'layers' ? [s.model.url, s.weights.url] : [s.file.url]),
  ];
}
