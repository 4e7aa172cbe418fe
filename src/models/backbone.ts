import path from 'node:path';
import type { RgbImage } from '../data/image.js';
import { packPixels } from '../data/pixels.js';
import { resizeFor } from '../data/preprocess.js';
import type { ResizeMode } from '../data/transform.js';
import { ImgclassError } from '../util/errors.js';
import { BACKBONE_FEATURES, BACKBONE_PIXELS, BACKBONE_PROBABILITIES, backboneGraph, imagenetHeadFromLayers, type BackboneGraph } from './backbone-graph.js';
import { DEFAULT_BACKBONE, registryEntry, type BackboneSpec, type RegistryEntry } from './registry.js';
import { createSession, defaultThreads, feed, type Feed, type OrtOutputs, type OrtSession } from '../runtime/ort.js';
import type { GraphCache } from '../runtime/session-cache.js';
import { getDefaultStore, type ModelStore } from './store.js';
import type { Backbone, BackboneOutput, Engine } from './backbone-types.js';

export type { Backbone, BackboneOutput, Engine } from './backbone-types.js';

export interface BackboneOptions {
  store?: ModelStore;
  /**
   * Images per forward pass. ORT gains nothing from batching MobileNet on 2 cores and the TF.js
   * wasm backend loses (10.4 img/s at batch 1, 7.7 at 32), so both default to small batches.
   */
  batchSize?: number;
  /**
   * How photos are fitted to the input, overriding the registry's default: a trained head was fitted
   * on features taken one way and must be fed features taken the same way (its manifest says which).
   */
  resize?: ResizeMode;
  /** Default 'onnx'. 'tfjs' runs the TF.js layers model itself (tfjs-layers entries only). */
  engine?: Engine;
  /**
   * Cores the passes use (default: the machine's cores, or $IMGCLASS_THREADS): one session of that
   * many threads, or after `warmUp` that many single-threaded sessions side by side (OnnxBackbone).
   */
  threads?: number;
}

/** Loads a registry backbone (by name or entry) on ONNX Runtime, or TF.js when `engine: 'tfjs'`; its graph takes fitted uint8 RGB pixels and normalises them itself. */
export async function loadBackbone(name: string | RegistryEntry = DEFAULT_BACKBONE, opts: BackboneOptions = {}): Promise<Backbone> {
  const entry = typeof name === 'string' ? registryEntry(name) : name;
  if (!entry.backbone) throw new ImgclassError('BAD_OPTION', `${entry.name} is not a backbone`);
  const spec = backboneSpecWith(entry.name, entry.backbone, opts.resize);
  const store = opts.store ?? getDefaultStore();
  const file = await store.resolve(entry);
  if ((opts.engine ?? 'onnx') === 'tfjs') {
    if (entry.format !== 'tfjs-layers') throw new ImgclassError('BAD_OPTION', `${entry.name} is an ONNX model; the tfjs engine runs TF.js layers models only`);
    // Loaded on demand: the ONNX path never pays for starting TF.js.
    const { TfjsBackbone } = await import('./backbone-tfjs.js');
    return TfjsBackbone.load(entry.name, spec, path.dirname(file), opts.batchSize ?? 1);
  }
  const graph = await backboneGraph(entry, spec, store);
  // Batch 2: a photo and its mirror image in one pass (flip averaging's pair).
  return OnnxBackbone.create(entry.name, spec, graph, {
    batchSize: opts.batchSize ?? 2,
    threads: opts.threads,
    layersDir: entry.format === 'tfjs-layers' ? path.dirname(file) : undefined,
  });
}

/** Where a converted backbone's optimised graph is kept (runtime/session-cache.ts): beside it, keyed by its name, which holds its content key. */
export function backboneSessionCache(graph: BackboneGraph): GraphCache {
  return { dir: path.dirname(graph.model), name: path.basename(graph.model, '.onnx'), key: path.basename(graph.model) };
}

/** The backbone's spec with another resize mode, if the backbone accepts it. */
export function backboneSpecWith(name: string, spec: BackboneSpec, resize: ResizeMode | undefined): BackboneSpec {
  if (!resize || resize === spec.preprocessing.resize) return spec;
  if (!spec.resizeModes.includes(resize)) throw new ImgclassError('BAD_OPTION', `${name} accepts resize ${spec.resizeModes.join(' | ')}, not ${resize}`);
  return { ...spec, preprocessing: { ...spec.preprocessing, resize } };
}

/**
 * A backbone on onnxruntime. Its graph takes the fitted pixels and normalises them itself, and gives
 * `probabilities` (softmax over ImageNet) and `features` (pooled, flat), whether it was converted
 * from TF.js or is a registry ONNX file with its penultimate tensor exposed (see backbone-graph.ts).
 */
class OnnxBackbone implements Backbone {
  /** The sessions passes go to: at first one of `cores` threads; after `warmUp`, `cores` of one thread each. */
  private sessions: OrtSession[];
  /** Passes sent to each session and not yet answered: a chunk goes to the least busy session. */
  private readonly busy = new Map<OrtSession, Set<Promise<unknown>>>();
  private spreading: Promise<void> | undefined;
  private disposed = false;

  private constructor(
    readonly name: string,
    readonly spec: BackboneSpec,
    first: OrtSession,
    private readonly graph: BackboneGraph,
    private readonly cores: number,
    private readonly batchSize: number,
    private readonly layersDir: string | undefined,
  ) {
    this.sessions = [first];
    this.busy.set(first, new Set());
  }

  static async create(
    name: string,
    spec: BackboneSpec,
    graph: BackboneGraph,
    o: { batchSize: number; threads?: number; layersDir?: string },
  ): Promise<OnnxBackbone> {
    const cores = o.threads ?? defaultThreads();
    const session = await createSession(graph.model, { threads: cores, cache: backboneSessionCache(graph) });
    return new OnnxBackbone(name, spec, session, graph, cores, o.batchSize, o.layersDir);
  }

  /**
   * Swaps the one session of `cores` threads for `cores` single-threaded sessions, each on its own
   * worker thread. A photo and its mirror image (and the views of a face crop, of the accurate
   * preset, of a second request) then run side by side with no synchronisation between them,
   * where one session splits every operator across its threads and waits at each one's end for the
   * slower thread, woken from sleep, since the app keeps spinning off (runtime/ort.ts). Measured on
   * the 2-core machine, a photo and its mirror image: 5.8 ms on two single-threaded sessions
   * against 7.3 ms on one session of two threads (MobileNet v1 0.75; MobileNet-EdgeTPU 6.4 against
   * 8.7 ms). It costs a second copy of the weights and a second session's start (~70 ms on a cold
   * `predict`), so it is done where many photos follow: `serve` and `worker` once ready (the dog
   * app's `warmUp`), `predict` and `classify` over many files (cli/each-file.ts), and feature
   * extraction over a data set (docs/startup.md, "Fourth round").
   * Passes already sent finish on the session they went to; a failure keeps the one session.
   */
  warmUp(): Promise<void> {
    if (this.cores < 2) return Promise.resolve();
    this.spreading ??= this.spread();
    return this.spreading;
  }

  /** How many sessions passes go to now: 1, or `cores` once `warmUp` has run. */
  get sessionCount(): number {
    return this.sessions.length;
  }

  private async spread(): Promise<void> {
    const cache = backboneSessionCache(this.graph);
    const settled = await Promise.allSettled(Array.from({ length: this.cores }, () => createSession(this.graph.model, { threads: 1, cache })));
    const fresh = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed || this.disposed) {
      for (const s of fresh) void s.release();
      if (failed) throw failed.reason;
      return;
    }
    const old = this.sessions;
    this.sessions = fresh;
    for (const s of fresh) this.busy.set(s, new Set());
    for (const s of old) void this.retire(s);
  }

  /** Releases a session no pass will go to once the passes it has finish. */
  private async retire(s: OrtSession): Promise<void> {
    await Promise.allSettled([...(this.busy.get(s) ?? [])]);
    if (this.busy.delete(s)) void s.release(); // else dispose() released it
  }

  async imagenetHead(): Promise<{ kernel: Float32Array; bias: Float32Array } | undefined> {
    if (!this.layersDir || !this.spec.imagenetHead) return undefined;
    return imagenetHeadFromLayers(this.layersDir, this.spec.imagenetHead);
  }

  async run(images: RgbImage[]): Promise<BackboneOutput[]> {
    const p = this.spec.preprocessing;
    // Graphs exported with a fixed batch of 1 (VGG-16, EfficientNet-Lite4 in the zoo) take one image
    // at a time; otherwise a batch is shared out among the sessions (2 views on 2 sessions: one each).
    const batchSize = p.resize === 'keep-aspect' ? 1 : (this.graph.fixedBatch ?? Math.max(1, Math.ceil(this.batchSize / this.sessions.length)));
    // Every chunk is sent as soon as it is fitted, without waiting for the one before: the
    // sessions queue them and go from one pass to the next with no gap, while this thread packs
    // the next chunk. The pixels go as they are; the graph normalises them (backbone-graph.ts).
    const passes: Promise<BackboneOutput[]>[] = [];
    try {
      for (let i = 0; i < images.length; i += batchSize) {
        const chunk = await Promise.all(images.slice(i, i + batchSize).map((im) => resizeFor(im, p)));
        const { data, dims } = packPixels(chunk);
        passes.push(this.pass({ [BACKBONE_PIXELS]: feed('uint8', data, dims) }).then((res) => splitBatch(res, chunk.length)));
      }
    } catch (e) {
      // passes already sent may still fail; this error is the one to report, theirs must not go unhandled
      for (const pass of passes) pass.catch(() => undefined);
      throw e;
    }
    return (await Promise.all(passes)).flat();
  }

  /** One pass on the session with the fewest passes waiting. */
  private pass(feeds: Record<string, Feed>): Promise<OrtOutputs> {
    const waiting = this.sessions.map((s) => this.busy.get(s)?.size ?? 0);
    const session = this.sessions[waiting.indexOf(Math.min(...waiting))]!;
    const run = session.run(feeds);
    const pending = this.busy.get(session);
    if (!pending) return run; // disposed: the session says so
    pending.add(run);
    const done = () => void pending.delete(run);
    run.then(done, done);
    return run;
  }

  dispose(): void {
    this.disposed = true;
    for (const s of this.busy.keys()) void s.release();
    this.busy.clear();
  }
}

/** One batch's outputs, one BackboneOutput per image (views into the batch's arrays). */
function splitBatch(res: OrtOutputs, n: number): BackboneOutput[] {
  const probs = res[BACKBONE_PROBABILITIES]!.data as Float32Array;
  const feats = res[BACKBONE_FEATURES]!.data as Float32Array;
  const nc = probs.length / n;
  const nf = feats.length / n;
  return Array.from({ length: n }, (_, j) => ({ probabilities: probs.subarray(j * nc, (j + 1) * nc), features: feats.subarray(j * nf, (j + 1) * nf) }));
}
