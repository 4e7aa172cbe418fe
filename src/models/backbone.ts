import path from 'node:path';
import type { RgbImage } from '../data/image.js';
import { packPixels } from '../data/pixels.js';
import { resizeFor } from '../data/preprocess.js';
import type { ResizeMode } from '../data/transform.js';
import { ImgclassError } from '../util/errors.js';
import { BACKBONE_FEATURES, BACKBONE_PIXELS, BACKBONE_PROBABILITIES, backboneGraph, imagenetHeadFromLayers, type BackboneGraph } from './backbone-graph.js';
import { DEFAULT_BACKBONE, registryEntry, type BackboneSpec, type RegistryEntry } from './registry.js';
import { createSession, feed, type OrtOutputs, type OrtSession } from '../runtime/ort.js';
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
  /** ORT intra-op threads (default: the machine's cores, or $IMGCLASS_THREADS). */
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
  private constructor(
    readonly name: string,
    readonly spec: BackboneSpec,
    private readonly session: OrtSession,
    private readonly batchSize: number,
    private readonly layersDir: string | undefined,
  ) {}

  static async create(
    name: string,
    spec: BackboneSpec,
    graph: BackboneGraph,
    o: { batchSize: number; threads?: number; layersDir?: string },
  ): Promise<OnnxBackbone> {
    const session = await createSession(graph.model, { threads: o.threads, cache: backboneSessionCache(graph) });
    // Graphs exported with a fixed batch of 1 (VGG-16, EfficientNet-Lite4 in the zoo) take one image at a time.
    return new OnnxBackbone(name, spec, session, graph.fixedBatch ?? o.batchSize, o.layersDir);
  }

  async imagenetHead(): Promise<{ kernel: Float32Array; bias: Float32Array } | undefined> {
    if (!this.layersDir || !this.spec.imagenetHead) return undefined;
    return imagenetHeadFromLayers(this.layersDir, this.spec.imagenetHead);
  }

  async run(images: RgbImage[]): Promise<BackboneOutput[]> {
    const p = this.spec.preprocessing;
    const batchSize = p.resize === 'keep-aspect' ? 1 : this.batchSize;
    // Every chunk is sent as soon as it is fitted, without waiting for the one before: the
    // worker queues them and goes from one pass to the next with no gap, while this thread packs
    // the next chunk. The pixels go as they are; the graph normalises them (backbone-graph.ts).
    const passes: Promise<BackboneOutput[]>[] = [];
    try {
      for (let i = 0; i < images.length; i += batchSize) {
        const chunk = await Promise.all(images.slice(i, i + batchSize).map((im) => resizeFor(im, p)));
        const { data, dims } = packPixels(chunk);
        passes.push(this.session.run({ [BACKBONE_PIXELS]: feed('uint8', data, dims) }).then((res) => splitBatch(res, chunk.length)));
      }
    } catch (e) {
      // passes already sent may still fail; this error is the one to report, theirs must not go unhandled
      for (const pass of passes) pass.catch(() => undefined);
      throw e;
    }
    return (await Promise.all(passes)).flat();
  }

  dispose(): void {
    void this.session.release();
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
