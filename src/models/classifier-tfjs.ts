import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../runtime/tf.js';
import { concatAll, meanVectors } from '../util/vectors.js';
import { preprocessBatch, type Preprocessing } from '../data/preprocess.js';
import { loadBackbone } from './backbone.js';
import { headInput, loadTrainedModel, type Classifier, type ClassifierInput } from './classifier.js';
import { ImageClassifier } from './image-classifier.js';
import { loadModelDir, type ClassInfo, type ModelManifest } from './model-dir.js';

/**
 * The trained model as TF.js runs it (training's engine): the reference every ONNX conversion and
 * export is verified against. Loaded on demand; the product's inference never starts TF.js.
 */
class TfjsHead implements Classifier {
  private constructor(
    readonly name: string,
    private readonly manifest: ModelManifest,
    private readonly model: tfl.LayersModel,
  ) {}

  static async load(dir: string): Promise<TfjsHead> {
    const { manifest, model } = await loadModelDir(dir);
    return new TfjsHead(dir, manifest, model);
  }

  get classes(): ClassInfo[] {
    return this.manifest.classes;
  }
  get backbone(): string | null {
    return this.manifest.backbone;
  }
  get preprocessing(): Preprocessing {
    return this.manifest.preprocessing;
  }

  async predict(inputs: ClassifierInput[]): Promise<Float32Array[]> {
    if (inputs.length === 0) return [];
    let x: tf.Tensor;
    if (this.manifest.input === 'image') {
      const { data, shape } = await preprocessBatch(
        inputs.map((i) => i.image!),
        this.manifest.preprocessing,
      );
      x = tf.tensor(data, shape);
    } else {
      const rows = inputs.map((i) => headInput(this.manifest, i.backbone!));
      x = tf.tensor2d(concatAll(rows), [rows.length, rows[0]!.length]);
    }
    const y = tf.tidy(() => this.model.predict(x) as tf.Tensor);
    x.dispose();
    const data = (await y.data()) as Float32Array;
    y.dispose();
    const n = this.classes.length;
    return inputs.map((_, i) => data.slice(i * n, (i + 1) * n));
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Several TF.js heads, probabilities averaged (as EnsembleClassifier does on ONNX). */
class TfjsEnsemble implements Classifier {
  constructor(readonly members: TfjsHead[]) {}
  readonly name = 'tfjs ensemble';
  get classes(): ClassInfo[] {
    return this.members[0]!.classes;
  }
  get backbone(): string | null {
    return this.members[0]!.backbone;
  }
  get preprocessing(): Preprocessing {
    return this.members[0]!.preprocessing;
  }
  async predict(inputs: ClassifierInput[]): Promise<Float32Array[]> {
    const per = await Promise.all(this.members.map((m) => m.predict(inputs)));
    return inputs.map((_, i) => meanVectors(per.map((p) => p[i]!)));
  }
  dispose(): void {
    for (const m of this.members) m.dispose();
  }
}

/** The same unit as `ImageClassifier.load({ model })`, but backbone and heads on TF.js. */
export async function loadTfjsReference(modelDirs: string[], flip: boolean): Promise<ImageClassifier> {
  const onnx = await loadTrainedModel(modelDirs);
  const members = await Promise.all(onnx.singleModels().map((m) => TfjsHead.load(m.name)));
  const backboneName = onnx.backbone;
  const resize = onnx.backboneOptions().resize;
  onnx.dispose();
  const backbone = backboneName ? await loadBackbone(backboneName, { engine: 'tfjs', resize }) : null;
  return new ImageClassifier(backbone, members.length === 1 ? members[0]! : new TfjsEnsemble(members), flip);
}
