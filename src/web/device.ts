/**
 * Device mode: the dog-breed app run entirely in the browser. Bundled by esbuild when the server
 * starts (server/device-assets.ts) and loaded by the page (web/app.js) only when device mode is on.
 * The decisions are the server's own modules (dog-pipeline.ts and what it imports), run by the
 * server's plan (its preset's steps and its backbone's tuned values, app/quality.ts);
 * this file only supplies the browser host: decoding with createImageBitmap, the pure resize
 * (resample.ts, which reproduces sharp), the pure crop, and onnxruntime-web sessions (YuNet and
 * YOLOX-nano letterbox in their own graphs, as on the server). No request made here carries the photo.
 * The host has no `ensemble`: the pipeline skips step 6b (other backbones on an unsure dog, which
 * the page would have to download too), so device mode answers as a server with `ensemble: false`.
 */
import type * as Ort from 'onnxruntime-web';
import { runDogPipeline, round, type DogPipelineHost, type DogPipelineResult } from '../app/dog-pipeline.js';
import { cropPixels, modelCrop, packPixels, type RgbImage } from '../data/pixels.js';
import { resample, resizeLike } from '../data/resample.js';
import { decodeYolox, YOLOX_DEFAULTS, yoloxFeeds, type CocoBox } from '../detectors/coco-decode.js';
import { decodeYunet, yunetFeeds } from '../detectors/face/yunet-decode.js';
import { letterboxTensors, type TensorMaker } from '../detectors/letterbox.js';
import { BACKBONE_TENSORS } from '../models/backbone-types.js';
import { headInput, restrictProbabilities, type BackboneOutput } from '../models/probabilities.js';
import { deviceAssetUrls, deviceModels, type DeviceAsset, type DeviceManifest } from '../app/device-manifest.js';
import { ASSET_CACHE } from './offline.js';
import { decodeInBrowser } from './decode.js';
import { ORT_WEB_SESSION, startOrtWeb } from './ort-web.js';

export type { DeviceManifest } from '../app/device-manifest.js';

export interface LoadProgress {
  /** Bytes in hand so far (network or cache) and in all. */
  loaded: number;
  total: number;
  /** Bytes that came over the network (0 on a visit whose models are all cached). */
  fetched: number;
}

export interface DeviceResult extends Omit<DogPipelineResult, 'timings'> {
  /** `objectsMs`: YOLOX-nano ('fast' and 'accurate' presets; 0 when it did not run). */
  timings: { decodeMs: number; backboneMs: number; facesMs: number; objectsMs?: number; totalMs: number };
}

/**
 * Models are content-addressed, so a cached copy is never stale; files of older deploys are pruned.
 * The cache is the service worker's asset cache (sw.ts): the worker stores what passes through it,
 * and this stores what it fetched while no worker controlled the page (the first visit, or a
 * browser without service workers).
 */
/** The letterboxes' shrink (letterbox.ts) as sharp does it on the server: resample.ts's linear kernel. */
const resampleExactly = async (image: RgbImage, width: number, height: number) => resample(image, width, height, 'linear');

async function fetchAll(manifest: DeviceManifest, assets: DeviceAsset[], onProgress: (p: LoadProgress) => void): Promise<Uint8Array[]> {
  const total = assets.reduce((n, a) => n + a.bytes, 0);
  let loaded = 0;
  let fetched = 0;
  const cache = typeof caches !== 'undefined' ? await caches.open(ASSET_CACHE).catch(() => null) : null;
  const worker = typeof navigator !== 'undefined' && !!navigator.serviceWorker?.controller;
  if (cache) {
    const keep = new Set(deviceAssetUrls(manifest).map((u) => new URL(u, location.href).href));
    for (const req of await cache.keys()) if (!keep.has(req.url)) await cache.delete(req);
  }
  const report = () => onProgress({ loaded, total, fetched });
  return Promise.all(
    assets.map(async (a) => {
      const hit = await cache?.match(a.url);
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        loaded += bytes.length;
        report();
        return bytes;
      }
      const res = await fetch(a.url);
      if (!res.ok || !res.body) throw new Error(`cannot fetch ${a.url}: HTTP ${res.status}`);
      const reader = res.body.getReader();
      const parts: Uint8Array[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        loaded += value.length;
        fetched += value.length;
        report();
      }
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
      if (!worker) await cache?.put(a.url, new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } })).catch(() => undefined);
      return bytes;
    }),
  );
}

export class DeviceApp {
  private constructor(
    readonly manifest: DeviceManifest,
    private readonly ort: typeof Ort,
    private readonly backbone: Ort.InferenceSession,
    private readonly faces: Ort.InferenceSession,
    /** YOLOX-nano, served only with a preset that asks it. */
    private readonly objects: Ort.InferenceSession | null,
    private readonly head: Ort.InferenceSession | null,
    /** Threads onnxruntime-web runs with (more than 1 only when the page is cross-origin isolated). */
    readonly threads: number,
  ) {}

  static async load(manifest: DeviceManifest, onProgress: (p: LoadProgress) => void = () => {}): Promise<DeviceApp> {
    if (!manifest.available) throw new Error(manifest.reason ?? 'device mode is not available');
    if (manifest.plan.objects && !manifest.models.objects)
      throw new Error(`the '${manifest.quality}' preset needs YOLOX-nano, which this server does not serve`);
    const models = deviceModels(manifest);
    const [wasm, ...bytes] = await fetchAll(manifest, [manifest.ort.wasm, ...models], onProgress);
    const bytesOf = (a: DeviceAsset | undefined) => (a ? bytes[models.indexOf(a)]! : null);
    const { ort, threads } = await startOrtWeb(manifest.ort, wasm!);
    const opts = ORT_WEB_SESSION;
    const session = async (a: DeviceAsset | undefined) => {
      const b = bytesOf(a);
      return b ? ort.InferenceSession.create(b, opts) : null;
    };
    const bb = (await session(manifest.models.backbone))!;
    const fd = (await session(manifest.models.faces))!;
    const od = await session(manifest.models.objects);
    const hd = await session(manifest.models.head);
    return new DeviceApp(manifest, ort, bb, fd, od, hd, threads);
  }

  /** The whole app on one photo, in this tab. */
  async classify(file: Blob): Promise<DeviceResult> {
    const t0 = performance.now();
    const image = await this.decode(file);
    const t1 = performance.now();
    // the server's plan, through the same pipeline the server runs
    const { timings, ...answer } = await runDogPipeline(this.host, image, this.manifest.plan);
    const t4 = performance.now();
    return { ...answer, timings: { decodeMs: round(t1 - t0, 1), ...timings, totalMs: round(t4 - t0, 1) } };
  }

  /**
   * The server's decode, in the browser: the same upload checks, EXIF orientation, alpha on white,
   * and the longer side brought to ≤ maxSide with the server's kernel (lanczos3).
   */
  async decode(file: Blob): Promise<RgbImage> {
    return decodeInBrowser(file, this.manifest.limits);
  }

  /** The models as the shared pipeline calls them, on this host. */
  private get host(): DogPipelineHost {
    const m = this.manifest;
    const p = m.backbone.preprocessing;
    return (this.hostCache ??= {
      backbone: {
        fit: async (im) => resizeLike(modelCrop(im, p), p.width, p.height, p.resize, 'linear'),
        run: (views) => this.serial(() => this.runBackbone(views)),
      },
      detectFaces: (image) => this.serial(() => this.detectFaces(image)),
      detectObjects: (image) => this.serial(() => this.detectObjects(image)),
      crop: async (image, r) => cropPixels(image, r),
      breeds: {
        classes: m.classes,
        predict: (views) =>
          this.serial(() =>
            this.breeds(
              views.map((v) => {
                if (!v.output) throw new Error('device mode runs heads on the backbone: a view came without its backbone outputs');
                return v.output;
              }),
            ),
          ),
      },
    });
  }
  private hostCache?: DogPipelineHost;

  /**
   * The pipeline starts the backbone and the face search together (Node overlaps them on worker
   * threads). onnxruntime-web's wasm runs one call at a time and a session must not be entered
   * twice, so here the model calls queue behind each other, in the order they were made.
   */
  private serial<T>(call: () => Promise<T>): Promise<T> {
    const result = this.queue.then(call);
    this.queue = result.catch(() => undefined);
    return result;
  }
  private queue: Promise<unknown> = Promise.resolve();

  private async runBackbone(views: RgbImage[]): Promise<BackboneOutput[]> {
    const out: BackboneOutput[] = [];
    // One view per run: 'keep-aspect' views differ in size, and the server runs batches of 1 too.
    for (const v of views) {
      // the served backbone graph normalises its own input (backbone-graph.ts), as on the server
      const { data, dims } = packPixels([v]);
      const res = await this.backbone.run({ [BACKBONE_TENSORS.pixels]: new this.ort.Tensor('uint8', data, dims) });
      out.push({
        probabilities: (await res[BACKBONE_TENSORS.probabilities]!.getData()) as Float32Array,
        features: (await res[BACKBONE_TENSORS.features]!.getData()) as Float32Array,
      });
    }
    return out;
  }

  /** onnxruntime-web's tensors, for the detectors' shared feeds (detectors/letterbox.ts). */
  private get tensors(): TensorMaker<Ort.Tensor> {
    return {
      uint8: (data, dims) => new this.ort.Tensor('uint8', data, dims),
      int64: (data, dims) => new this.ort.Tensor('int64', data, dims),
    };
  }

  private async detectFaces(image: RgbImage) {
    // the served YuNet letterboxes in its own graph, as on the server (yunet-graph.ts)
    const x = await yunetFeeds(image, resampleExactly);
    const res = await this.faces.run(letterboxTensors(x, this.tensors));
    const outputs: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(res)) outputs[k] = (await v.getData()) as Float32Array;
    return decodeYunet(outputs, x.scale, image, this.manifest.yunet);
  }

  private async detectObjects(image: RgbImage): Promise<CocoBox[]> {
    if (!this.objects) throw new Error(`quality '${this.manifest.quality}' has no object detector here`);
    // the served YOLOX-nano letterboxes in its own graph, as on the server (coco-graph.ts)
    const x = await yoloxFeeds(image, resampleExactly);
    const res = await this.objects.run(letterboxTensors(x, this.tensors));
    const out = (await res[this.objects.outputNames[0]!]!.getData()) as Float32Array;
    return decodeYolox(out, { scale: x.scale, width: image.width, height: image.height }, this.manifest.yolox ?? YOLOX_DEFAULTS);
  }

  private async breeds(outputs: BackboneOutput[]): Promise<Float32Array[]> {
    const h = this.manifest.head;
    if (h.kind === 'imagenet-subset') return outputs.map((o) => restrictProbabilities(o.probabilities, h.indices));
    const rows = outputs.map((o) => headInput({ input: h.input }, o));
    const dim = rows[0]!.length;
    const data = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => data.set(r, i * dim));
    const res = await this.head!.run({ input: new this.ort.Tensor('float32', data, [rows.length, dim]) });
    const probs = (await res[BACKBONE_TENSORS.probabilities]!.getData()) as Float32Array;
    const n = this.manifest.classes.length;
    return rows.map((_, i) => probs.slice(i * n, (i + 1) * n));
  }
}
