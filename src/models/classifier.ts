import * as tfl from '@tensorflow/tfjs-layers';
import type { RgbImage } from '../data/image.js';
import { batchShape, preprocessBatch, samePreprocessing } from '../data/preprocess.js';
import { tf } from '../runtime/tf.js';
import { ImgclassError } from '../util/errors.js';
import type { Backbone, BackboneOutput } from './backbone.js';
import { loadImagenetClasses } from './imagenet.js';
import { loadModelDir, type ClassInfo, type ModelManifest } from './model-dir.js';
import { registryEntry } from './registry.js';
import type { ModelStore } from './store.js';

/** One image as a classifier may need it: the pixels, and/or the backbone's outputs for them. */
export interface ClassifierInput {
  image?: RgbImage;
  backbone?: BackboneOutput;
}

export interface ClassProbability {
  name: string;
  probability: number;
}

/** Maps images to probabilities over `classes` (breeds, vehicles …). */
export interface Classifier {
  readonly name: string;
  readonly classes: ClassInfo[];
  /** The backbone whose outputs this classifier reads, or null if it reads pixels. */
  readonly backbone: string | null;
  predict(inputs: ClassifierInput[]): Promise<Float32Array[]>;
  dispose(): void;
}

/** The k most probable classes, best first. */
export function topK(probabilities: Float32Array, classes: ClassInfo[], k: number): ClassProbability[] {
  return Array.from(probabilities, (p, i) => ({ name: classes[i]!.name, probability: Math.round(p * 1e4) / 1e4 }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, Math.max(0, k));
}

/**
 * A classifier with no training: the backbone's own ImageNet head restricted to a subset of
 * classes and renormalised (the default breed classifier: ImageNet's 118 dog breeds).
 */
export class ImagenetSubsetClassifier implements Classifier {
  constructor(
    readonly name: string,
    readonly backbone: string,
    private readonly indices: number[],
    readonly classes: ClassInfo[],
  ) {}

  static async dogBreeds(backbone: string, store?: ModelStore, indices?: number[]): Promise<ImagenetSubsetClassifier> {
    const all = await loadImagenetClasses(store);
    const idx = indices ?? range(151, 268);
    return new ImagenetSubsetClassifier(`${backbone}/imagenet-dogs`, backbone, idx, idx.map((i) => ({ name: all[i]!.name, wnid: all[i]!.wnid })));
  }

  async predict(inputs: ClassifierInput[]): Promise<Float32Array[]> {
    return inputs.map(({ backbone }) => {
      if (!backbone) throw new Error('ImagenetSubsetClassifier needs backbone outputs');
      const out = new Float32Array(this.indices.length);
      let sum = 0;
      this.indices.forEach((ci, j) => (sum += out[j] = backbone.probabilities[ci]!));
      for (let j = 0; j < out.length; j++) out[j] = sum > 0 ? out[j]! / sum : 1 / out.length;
      return out;
    });
  }

  dispose(): void {}
}

/** A trained network from a model directory (manifest + TF.js layers model). */
export class TrainedClassifier implements Classifier {
  private constructor(
    readonly name: string,
    readonly manifest: ModelManifest,
    private readonly model: tfl.LayersModel,
  ) {}

  get classes(): ClassInfo[] {
    return this.manifest.classes;
  }
  get backbone(): string | null {
    return this.manifest.backbone;
  }

  static async load(dir: string): Promise<TrainedClassifier> {
    const { manifest, model } = await loadModelDir(dir);
    if (manifest.backbone) {
      const entry = registryEntry(manifest.backbone);
      // Refuse rather than silently serve a head with the wrong input statistics.
      if (!entry.backbone || !samePreprocessing(entry.backbone.preprocessing, manifest.preprocessing)) {
        throw new ImgclassError('MODEL_CORRUPT', `${dir} was trained with preprocessing that differs from ${manifest.backbone}'s; refusing to serve it`);
      }
    }
    return new TrainedClassifier(dir, manifest, model);
  }

  /** Check this head fits the backbone that will feed it. */
  assertCompatible(backbone: Backbone | null): void {
    if (this.manifest.input === 'image') return;
    if (!backbone || backbone.name !== this.manifest.backbone) {
      throw new ImgclassError('BAD_OPTION', `model ${this.name} needs backbone ${this.manifest.backbone}, got ${backbone?.name ?? 'none'}`);
    }
  }

  async predict(inputs: ClassifierInput[]): Promise<Float32Array[]> {
    if (inputs.length === 0) return [];
    const x = await this.inputTensor(inputs);
    const y = tf.tidy(() => this.model.predict(x) as tf.Tensor);
    x.dispose();
    const data = (await y.data()) as Float32Array;
    y.dispose();
    const n = this.classes.length;
    return inputs.map((_, i) => data.slice(i * n, (i + 1) * n));
  }

  private async inputTensor(inputs: ClassifierInput[]): Promise<tf.Tensor> {
    const m = this.manifest;
    if (m.input === 'image') {
      const images = inputs.map((i) => i.image ?? fail('this model reads images'));
      return tf.tensor(await preprocessBatch(images, m.preprocessing), batchShape(images.length, m.preprocessing));
    }
    const rows = inputs.map((i) => {
      const b = i.backbone ?? fail('this model reads backbone outputs');
      return m.input === 'features' ? b.features : concat(b.features, b.probabilities);
    });
    return tf.tensor2d(concatAll(rows), [rows.length, rows[0]!.length]);
  }

  dispose(): void {
    this.model.dispose();
  }
}

function fail(msg: string): never {
  throw new Error(msg);
}

export function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function concatAll(rows: Float32Array[]): Float32Array {
  const out = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
  let o = 0;
  for (const r of rows) {
    out.set(r, o);
    o += r.length;
  }
  return out;
}

export function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
