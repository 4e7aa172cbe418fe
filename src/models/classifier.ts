import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RgbImage } from '../data/image.js';
import type { ResizeMode } from '../data/transform.js';
import { preprocessBatch, samePreprocessing, type Preprocessing } from '../data/preprocess.js';
import { createSession, feed, type Feed, type OrtSession } from '../runtime/ort.js';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { concatAll, meanVectors, range } from '../util/vectors.js';
import { headInput, restrictProbabilities } from './probabilities.js';
import type { Backbone, BackboneOutput } from './backbone.js';
import { IMAGENET_DOG_RANGE, loadImagenetClasses } from './imagenet.js';
import { readManifest, sameClasses, type ClassInfo, type ModelManifest } from './model-dir.js';
import type { Weights } from './onnx/from-keras.js';
import { registryEntry } from './registry.js';
import type { ModelStore } from './store.js';
import { decodeWeights, readLayersModelFiles } from './tfjs-io.js';

/** One image as a classifier may need it: the pixels, and/or the backbone's outputs for them. */
export interface ClassifierInput {
  image?: RgbImage;
  backbone?: BackboneOutput;
}

/** Maps images to probabilities over `classes` (breeds, vehicles …). */
export interface Classifier {
  readonly name: string;
  readonly classes: ClassInfo[];
  /** The backbone whose outputs this classifier reads, or null if it reads pixels. */
  readonly backbone: string | null;
  /** For a classifier that reads pixels: how images are fitted and normalised for it. */
  readonly preprocessing?: Preprocessing;
  /** Class probabilities, one array per input, in the order of `classes`. */
  predict(inputs: ClassifierInput[]): Promise<Float32Array[]>;
  /** Releases whatever the classifier holds. */
  dispose(): void;
}

// Ranking and head inputs are pure (shared with the browser's device mode); re-exported here.
export { headInput, topK, type ClassProbability } from './probabilities.js';

/**
 * A classifier with no training: the backbone's own ImageNet head restricted to a subset of
 * classes and renormalised (the default breed classifier: ImageNet's 118 dog breeds).
 */
export class ImagenetSubsetClassifier implements Classifier {
  constructor(
    readonly name: string,
    readonly backbone: string,
    /** The ImageNet indices kept, in class order (device mode restricts the same way). */
    readonly indices: number[],
    readonly classes: ClassInfo[],
  ) {}

  /** The default breed classifier: the backbone's ImageNet head restricted to its 118 dog breeds (or to `indices`). */
  static async dogBreeds(backbone: string, store?: ModelStore, indices?: number[]): Promise<ImagenetSubsetClassifier> {
    const all = await loadImagenetClasses(store);
    const idx = indices ?? range(IMAGENET_DOG_RANGE.first, IMAGENET_DOG_RANGE.last);
    return new ImagenetSubsetClassifier(
      `${backbone}/imagenet-dogs`,
      backbone,
      idx,
      idx.map((i) => ({ name: all[i]!.name, wnid: all[i]!.wnid })),
    );
  }

  /** Class probabilities, one array per input, in the order of `classes`. */
  async predict(inputs: ClassifierInput[]): Promise<Float32Array[]> {
    return inputs.map(({ backbone }) => {
      if (!backbone) throw new Error('ImagenetSubsetClassifier needs backbone outputs');
      return restrictProbabilities(backbone.probabilities, this.indices);
    });
  }

  /** Releases whatever the classifier holds. */
  dispose(): void {}
}

/**
 * A trained network from a model directory (manifest + TF.js layers model), run on onnxruntime:
 * the TF.js model `imgclass train` wrote is converted to ONNX in memory when it is loaded (heads
 * convert in milliseconds), so a model is servable by the engine the moment training saves it.
 */
export class TrainedClassifier implements Classifier {
  private constructor(
    readonly name: string,
    readonly manifest: ModelManifest,
    /** The network as TF.js saved it: what exports and verification start from. */
    readonly network: { topology: unknown; weights: Weights },
    private readonly session: OrtSession,
  ) {}

  get classes(): ClassInfo[] {
    return this.manifest.classes;
  }
  get backbone(): string | null {
    return this.manifest.backbone;
  }
  get preprocessing(): Preprocessing {
    return this.manifest.preprocessing;
  }

  /** Loads a trained model directory (as `imgclass train` writes it), converting its network to ONNX in memory. */
  static async load(dir: string, o: { threads?: number } = {}): Promise<TrainedClassifier> {
    const manifest = await readManifest(dir);
    if (manifest.backbone) {
      const entry = registryEntry(manifest.backbone);
      // Refuse rather than silently serve a head with the wrong input statistics. The resize mode
      // may differ from the registry's default when the backbone accepts it; the backbone is then
      // loaded with the manifest's mode (see `backboneOptions`).
      const accepts = entry.backbone?.resizeModes.includes(manifest.preprocessing.resize) ?? false;
      if (
        !entry.backbone ||
        !accepts ||
        !samePreprocessing({ ...entry.backbone.preprocessing, resize: manifest.preprocessing.resize }, manifest.preprocessing)
      ) {
        throw new ImgclassError('MODEL_CORRUPT', `${dir} was trained with preprocessing that differs from ${manifest.backbone}'s; refusing to serve it`);
      }
    }
    const files = await readLayersModelFiles(dir);
    const network = { topology: files.modelTopology, weights: decodeWeights(files) };
    // the Keras converter (and protobuf) load only when a trained model is loaded
    const [{ GraphBuilder }, { kerasOutputLayers, kerasToOnnx }] = await Promise.all([import('./onnx/graph.js'), import('./onnx/from-keras.js')]);
    let converted: ReturnType<typeof kerasToOnnx>;
    try {
      const [out] = kerasOutputLayers(network.topology);
      converted = kerasToOnnx(new GraphBuilder(), network.topology, network.weights, { input: 'input', outputs: { [out!]: 'probabilities' } });
    } catch (e) {
      if (e instanceof ImgclassError) throw new ImgclassError('MODEL_CORRUPT', `cannot load the network in ${dir}: ${e.message}`, { cause: e });
      throw new ImgclassError('MODEL_CORRUPT', `cannot load the network in ${dir}: ${(e as Error).message}`, { cause: e });
    }
    const outUnits = converted.shapes.probabilities!.at(-1);
    if (outUnits !== manifest.classes.length)
      throw new ImgclassError('MODEL_CORRUPT', `${dir}: the network has ${outUnits} outputs but the manifest lists ${manifest.classes.length} classes`);
    // A head on 768 features is a few thousand multiply-adds: one thread beats waking a pool.
    const session = await createSession(converted.bytes, manifest.input === 'image' ? { threads: o.threads } : { threads: 1, inline: true });
    return new TrainedClassifier(dir, manifest, network, session);
  }

  /**
   * Whether mirror-image averaging suits this model: a head on backbone features always (mirrored
   * photos give natural features), a CNN on pixels only if it was trained on mirrored images too.
   */
  get mirrorInvariant(): boolean {
    return this.manifest.input !== 'image' || this.manifest.training?.augment !== false;
  }

  /** The single models this is made of (itself). */
  singleModels(): TrainedClassifier[] {
    return [this];
  }

  /** How to load the backbone that feeds this head: the preprocessing it was trained on. */
  backboneOptions(): { resize: ResizeMode } {
    return { resize: this.manifest.preprocessing.resize };
  }

  /** Check this head fits the backbone that will feed it. */
  assertCompatible(backbone: Backbone | null): void {
    if (this.manifest.input === 'image') return;
    if (!backbone || backbone.name !== this.manifest.backbone) {
      throw new ImgclassError('BAD_OPTION', `model ${this.name} needs backbone ${this.manifest.backbone}, got ${backbone?.name ?? 'none'}`);
    }
    if (!samePreprocessing(backbone.spec.preprocessing, this.manifest.preprocessing)) {
      throw new ImgclassError(
        'BAD_OPTION',
        `model ${this.name} was trained on ${this.manifest.preprocessing.resize} views; the backbone gives ${backbone.spec.preprocessing.resize}`,
      );
    }
  }

  /** Class probabilities, one array per input, in the order of `classes`. */
  async predict(inputs: ClassifierInput[]): Promise<Float32Array[]> {
    if (inputs.length === 0) return [];
    const res = await this.session.run({ input: await this.inputTensor(inputs) });
    const data = res.probabilities!.data as Float32Array;
    const n = this.classes.length;
    return inputs.map((_, i) => data.slice(i * n, (i + 1) * n));
  }

  private async inputTensor(inputs: ClassifierInput[]): Promise<Feed> {
    const m = this.manifest;
    if (m.input === 'image') {
      const images = inputs.map((i) => i.image ?? fail('this model reads images'));
      const { data, shape } = await preprocessBatch(images, m.preprocessing);
      return feed('float32', data, shape);
    }
    const rows = inputs.map((i) => headInput(m, i.backbone ?? fail('this model reads backbone outputs')));
    return feed('float32', concatAll(rows), [rows.length, rows[0]!.length]);
  }

  /** Releases whatever the classifier holds. */
  dispose(): void {
    void this.session.release();
  }
}

/** What `imgclass kfold` writes next to its fold models: an ensemble of model directories. */
export const ENSEMBLE_FILE = 'ensemble.json';
export const ENSEMBLE_FORMAT = 'imgclass-ensemble';

/**
 * Several trained models that read the same backbone outputs, their probabilities averaged
 * (the seed's "further steps"; e.g. the k fold models of `imgclass kfold`).
 */
export class EnsembleClassifier implements Classifier {
  constructor(
    readonly name: string,
    readonly members: TrainedClassifier[],
  ) {
    const [first, ...rest] = members;
    if (!first) throw new ImgclassError('BAD_OPTION', `${name}: an ensemble needs at least one model`);
    for (const m of rest) {
      if (!sameClasses(m.classes, first.classes))
        throw new ImgclassError('BAD_OPTION', `${m.name} and ${first.name} have different classes; an ensemble needs the same classes in the same order`);
      if (m.backbone !== first.backbone)
        throw new ImgclassError(
          'BAD_OPTION',
          `${m.name} reads ${m.backbone ?? 'pixels'} and ${first.name} reads ${first.backbone ?? 'pixels'}; an ensemble's models share one backbone`,
        );
      if (m.backbone && !samePreprocessing(m.manifest.preprocessing, first.manifest.preprocessing))
        throw new ImgclassError('BAD_OPTION', `${m.name} and ${first.name} were trained on differently preprocessed photos`);
    }
  }

  get classes(): ClassInfo[] {
    return this.members[0]!.classes;
  }
  get backbone(): string | null {
    return this.members[0]!.backbone;
  }
  get preprocessing(): Preprocessing {
    return this.members[0]!.preprocessing;
  }
  backboneOptions(): { resize: ResizeMode } {
    return this.members[0]!.backboneOptions();
  }
  get mirrorInvariant(): boolean {
    return this.members.every((m) => m.mirrorInvariant);
  }

  /** The single models this is made of. */
  singleModels(): TrainedClassifier[] {
    return this.members;
  }
  assertCompatible(backbone: Backbone | null): void {
    for (const m of this.members) m.assertCompatible(backbone);
  }

  /** Class probabilities, one array per input, in the order of `classes`. */
  async predict(inputs: ClassifierInput[]): Promise<Float32Array[]> {
    const per = await Promise.all(this.members.map((m) => m.predict(inputs)));
    return inputs.map((_, i) => meanVectors(per.map((p) => p[i]!)));
  }

  /** Releases whatever the classifier holds. */
  dispose(): void {
    for (const m of this.members) m.dispose();
  }
}

export type TrainedModel = TrainedClassifier | EnsembleClassifier;

/**
 * Load what `--model` names: one model directory, a directory holding `ensemble.json`, or several
 * of either (then one ensemble of all their models).
 */
export async function loadTrainedModel(dirs: string | string[], o: { threads?: number } = {}): Promise<TrainedModel> {
  const list = typeof dirs === 'string' ? [dirs] : dirs;
  const members: TrainedClassifier[] = [];
  for (const dir of list) members.push(...(await ensembleMembers(dir, o)));
  return members.length === 1 ? members[0]! : new EnsembleClassifier(list.join(' + '), members);
}

async function ensembleMembers(dir: string, o: { threads?: number }): Promise<TrainedClassifier[]> {
  const file = path.join(dir, ENSEMBLE_FILE);
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(e)));
  if (text === null) return [await TrainedClassifier.load(dir, o)];
  let spec: { format?: string; members?: unknown };
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new ImgclassError('MODEL_CORRUPT', `${file} is not valid JSON`, { cause: e });
  }
  if (spec.format !== ENSEMBLE_FORMAT || !Array.isArray(spec.members) || spec.members.length === 0 || !spec.members.every((m) => typeof m === 'string')) {
    throw new ImgclassError('MODEL_CORRUPT', `${file}: expected {"format": "${ENSEMBLE_FORMAT}", "members": [model directories]}`);
  }
  const out: TrainedClassifier[] = [];
  for (const m of spec.members as string[]) out.push(await TrainedClassifier.load(path.resolve(dir, m), o));
  return out;
}

/** Write an ensemble file (member paths relative to `dir`, so the run directory can move). */
export async function saveEnsemble(dir: string, memberDirs: string[]): Promise<void> {
  const members = memberDirs.map((m) => path.relative(dir, m));
  await writeFileAtomic(path.join(dir, ENSEMBLE_FILE), JSON.stringify({ format: ENSEMBLE_FORMAT, members }, null, 2) + '\n');
}

function fail(msg: string): never {
  throw new Error(msg);
}
