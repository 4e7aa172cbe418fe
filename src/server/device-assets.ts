import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DogApp } from '../app/dog-app.js';
import { ORT_WEB_DIST, ORT_WEB_PREFIX, ORT_WEB_VERSION } from './ort-web-files.js';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from '../data/upload.js';
import { loadYoloxGraph } from '../detectors/coco-graph.js';
import { YUNET_DEFAULTS } from '../detectors/face/yunet-decode.js';
import { loadYunetGraph } from '../detectors/face/yunet-graph.js';
import { backboneGraph } from '../models/backbone-graph.js';
import { ImagenetSubsetClassifier, TrainedClassifier, EnsembleClassifier, type TrainedModel } from '../models/classifier.js';
import { buildHeadOnnx } from '../models/export.js';
import { registryEntry } from '../models/registry.js';
import { tfliteBackboneFor } from '../models/tflite/backbone.js';
import { getDefaultStore, type ModelStore } from '../models/store.js';
import { layersModelJson, readLayersModelFiles } from '../models/tfjs-io.js';
import { deviceAssetUrls, type DeviceAsset, type DeviceManifest, type OfflineConfig, type TrainDeviceManifest } from '../app/device-manifest.js';

/**
 * Everything the page's device mode downloads, prepared once (on the first request for it): the
 * device bundle (src/web/device.ts and the shared pipeline modules, bundled by esbuild), the backbone
 * graph the server itself runs, YuNet, YOLOX-nano (only for a preset that asks it: not 'standard'),
 * the breed head, and onnxruntime-web's wasm from the installed package. YuNet and YOLOX are the
 * graphs the server runs too, their letterbox inside them. Files are addressed by the sha256 of their content, so the browser may keep them forever.
 */
export interface DeviceAssets {
  manifest: DeviceManifest;
  /** URL path → content. */
  files: Map<string, { bytes: Uint8Array; type: string }>;
}

const require = createRequire(import.meta.url);

/** A browser entry in src/web beside this module: .ts when run from source (tsx), .js in dist/. */
function webEntry(name: string): string {
  const base = fileURLToPath(new URL(`../web/${name}`, import.meta.url));
  for (const ext of ['.ts', '.js']) if (existsSync(base + ext)) return base + ext;
  throw new Error(`browser entry ${name} not found beside ${base}`);
}

/**
 * Bundle a browser entry. platform 'browser' makes the build fail on any Node-only import (fs,
 * sharp, onnxruntime-node) reaching the shared modules: the layering is checked here. esbuild is
 * imported here, on the first device-mode request, not when the server starts.
 */
async function bundle(name: string, o: { format: 'esm' | 'iife'; define?: Record<string, string> }): Promise<{ code: Uint8Array; inputs: string[] }> {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    entryPoints: [webEntry(name)],
    bundle: true,
    format: o.format,
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    ...(o.define ? { define: o.define } : {}),
  });
  return { code: r.outputFiles[0]!.contents, inputs: Object.keys(r.metafile.inputs) };
}

/** Device mode for the browser (src/web/device.ts and the shared pipeline modules). */
export const bundleDevice = () => bundle('device', { format: 'esm' });

/** Device-mode training (src/web/train-device.ts with the shared training, evaluation and export modules). */
export const bundleTrainDevice = () => bundle('train-device', { format: 'esm' });

/** tfjs-backend-wasm's binaries (device-mode training runs its head on TF.js). */
const TFJS_WASM_DIST = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm.wasm'));
const TFJS_WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export interface TrainDeviceAssets {
  manifest: TrainDeviceManifest;
  /** URL path → content. */
  files: Map<string, { bytes: Uint8Array; type: string }>;
}

/**
 * Everything device-mode training downloads, prepared once: its bundle, onnxruntime-web's wasm,
 * TF.js's wasm, the engine's backbone graph (the one the server extracts features with) and the
 * backbone's own network for the export (a TF.js layers model as one model.json and one weights
 * file, or the registry's ONNX file). Content-addressed like device mode's assets.
 */
export async function buildTrainDeviceAssets(backboneName: string, o: { store?: ModelStore; limits?: Partial<DecodeLimits> } = {}): Promise<TrainDeviceAssets> {
  const files = new Map<string, { bytes: Uint8Array; type: string }>();
  const add = (name: string, bytes: Uint8Array, type: string): DeviceAsset => {
    const url = `/assets/${createHash('sha256').update(bytes).digest('hex').slice(0, 20)}/${name}`;
    files.set(url, { bytes, type });
    return { url, bytes: bytes.length };
  };
  const store = o.store ?? getDefaultStore();
  const entry = registryEntry(backboneName);
  if (!entry.backbone) throw new Error(`${backboneName} is not a backbone`);
  const spec = entry.backbone;
  const main = await store.resolve(entry);
  const [code, graph, wasm, tfjsWasm] = await Promise.all([
    bundleTrainDevice(),
    backboneGraph(entry, spec, store).then((g) => readFile(g.model)),
    readFile(path.join(ORT_WEB_DIST, 'ort-wasm-simd-threaded.wasm')),
    Promise.all(TFJS_WASM_FILES.map((f) => readFile(path.join(TFJS_WASM_DIST, f)))),
  ]);
  let source: TrainDeviceManifest['backbone']['source'];
  if (entry.format === 'tfjs-layers') {
    const l = await readLayersModelFiles(path.dirname(main));
    source = {
      kind: 'layers',
      model: add(
        `${entry.name}.model.json`,
        new TextEncoder().encode(layersModelJson({ modelTopology: l.modelTopology as object, weightSpecs: l.weightSpecs })),
        'application/json',
      ),
      weights: add(`${entry.name}.weights.bin`, new Uint8Array(l.weightData), 'application/octet-stream'),
    };
  } else if (entry.format === 'tflite') {
    const converted = tfliteBackboneFor(await readFile(main), spec, 'normalised').bytes;
    source = { kind: 'converted', file: add(`${entry.name}.export.onnx`, converted, 'application/octet-stream') };
  } else source = { kind: 'onnx', file: add(`${entry.name}.source.onnx`, await readFile(main), 'application/octet-stream') };
  const manifest: TrainDeviceManifest = {
    bundle: add('train-device.js', code.code, 'text/javascript').url,
    ort: {
      version: ORT_WEB_VERSION,
      module: `${ORT_WEB_PREFIX}ort.wasm.min.mjs`,
      glue: `${ORT_WEB_PREFIX}ort-wasm-simd-threaded.mjs`,
      wasm: add('ort-wasm-simd-threaded.wasm', wasm, 'application/wasm'),
    },
    tfjsWasm: Object.fromEntries(TFJS_WASM_FILES.map((f, i) => [f, add(f, tfjsWasm[i]!, 'application/wasm').url])),
    backbone: { name: entry.name, spec, graph: add(`${entry.name}.onnx`, graph, 'application/octet-stream'), source },
    limits: { ...DEFAULT_DECODE_LIMITS, ...o.limits },
  };
  return { manifest, files };
}

/**
 * What the service worker (src/web/sw.ts) of this deploy must know. The version hashes every file
 * of the page (webRoot) and the device manifest, so any change gives the worker new bytes, which is
 * what makes the browser install it. `manifest` is null when device mode could not be prepared.
 */
export async function offlineConfig(webRoot: string, manifest: DeviceManifest | null): Promise<OfflineConfig> {
  const hash = createHash('sha256');
  const files = (await readdir(webRoot, { recursive: true, withFileTypes: true })).filter((f) => f.isFile());
  for (const f of files.map((f) => path.join(f.parentPath, f.name)).sort()) {
    hash
      .update(path.relative(webRoot, f))
      .update('\0')
      .update(await readFile(f))
      .update('\0');
  }
  hash.update(JSON.stringify(manifest));
  const usable = manifest?.available ? manifest : null;
  return {
    version: hash.digest('hex').slice(0, 16),
    precache: usable ? [usable.bundle, usable.ort.module, usable.ort.glue] : [],
    keep: manifest ? deviceAssetUrls(manifest) : null,
  };
}

/** The service worker with `config` built in: a classic script (every browser runs those). */
export async function bundleServiceWorker(config: OfflineConfig): Promise<Uint8Array> {
  return (await bundle('sw', { format: 'iife', define: { __IMGCLASS_OFFLINE__: JSON.stringify(config) } })).code;
}

export async function buildDeviceAssets(app: DogApp, o: { maxBytes?: number; maxPixels?: number } = {}): Promise<DeviceAssets> {
  const files = new Map<string, { bytes: Uint8Array; type: string }>();
  const add = (name: string, bytes: Uint8Array, type: string): DeviceAsset => {
    const url = `/assets/${createHash('sha256').update(bytes).digest('hex').slice(0, 20)}/${name}`;
    files.set(url, { bytes, type });
    return { url, bytes: bytes.length };
  };
  const store = app.options.store ?? getDefaultStore();
  const limits: DecodeLimits = {
    ...DEFAULT_DECODE_LIMITS,
    ...app.options.limits,
    ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}),
    ...(o.maxPixels ? { maxPixels: o.maxPixels } : {}),
  };
  const backbone = app.backbone;
  const head = app.classifier;
  let reason: string | undefined;
  let headSpec: DeviceManifest['head'] = { kind: 'imagenet-subset', indices: [] };
  let headAsset: DeviceAsset | undefined;
  if (app.faceDetector.name !== 'yunet') reason = 'device mode runs the YuNet face detector; this server uses Haar';
  if (head instanceof ImagenetSubsetClassifier) headSpec = { kind: 'imagenet-subset', indices: head.indices };
  else if (head instanceof TrainedClassifier || head instanceof EnsembleClassifier) {
    const model = head as TrainedModel;
    const input = model.singleModels()[0]!.manifest.input;
    if (input === 'image') reason ??= "this server's breed model reads pixels (a CNN of its own); device mode runs heads on the backbone's features";
    else {
      headSpec = { kind: 'onnx', input };
      headAsset = add('head.onnx', buildHeadOnnx(model), 'application/octet-stream');
    }
  } else reason ??= `device mode cannot run the breed model ${head.name}`;

  const graph = await backboneGraph(registryEntry(backbone.name), backbone.spec, store);
  const yunet = app.options.yunet ?? {};
  const objects = app.objectDetector;
  const [bundle, backboneBytes, facesBytes, objectsBytes, wasmBytes] = await Promise.all([
    bundleDevice(),
    readFile(graph.model),
    loadYunetGraph(yunet.model, store),
    objects ? loadYoloxGraph(store) : null,
    readFile(path.join(ORT_WEB_DIST, 'ort-wasm-simd-threaded.wasm')),
  ]);
  const manifest: DeviceManifest = {
    available: !reason,
    ...(reason ? { reason } : {}),
    bundle: add('device.js', bundle.code, 'text/javascript').url,
    ort: {
      version: ORT_WEB_VERSION,
      module: `${ORT_WEB_PREFIX}ort.wasm.min.mjs`,
      glue: `${ORT_WEB_PREFIX}ort-wasm-simd-threaded.mjs`,
      wasm: add('ort-wasm-simd-threaded.wasm', wasmBytes, 'application/wasm'),
    },
    models: {
      backbone: add(`${backbone.name}.onnx`, backboneBytes, 'application/octet-stream'),
      faces: add(`${yunet.model ?? 'yunet_n'}.onnx`, facesBytes, 'application/octet-stream'),
      ...(objectsBytes ? { objects: add(`${objects!.name}.onnx`, objectsBytes, 'application/octet-stream') } : {}),
      ...(headAsset ? { head: headAsset } : {}),
    },
    backbone: { name: backbone.name, preprocessing: backbone.spec.preprocessing },
    head: headSpec,
    classes: head.classes,
    quality: app.plan.quality,
    plan: app.plan,
    yunet: { scoreThreshold: yunet.scoreThreshold ?? YUNET_DEFAULTS.scoreThreshold, nmsIou: yunet.nmsIou ?? YUNET_DEFAULTS.nmsIou },
    ...(objects ? { yolox: objects.options } : {}),
    limits,
  };
  return { manifest, files };
}
