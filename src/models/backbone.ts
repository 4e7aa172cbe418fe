import path from 'node:path';
import { ort } from '../runtime/onnx.js';
import type { RgbImage } from '../data/image.js';
import { preprocessBatch } from '../data/preprocess.js';
import type { ResizeMode } from '../data/transform.js';
import { ImgclassError } from '../util/errors.js';
import { initTf, tf } from '../runtime/tf.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileLoader } from './tfjs-io.js';
import { registryEntry, type BackboneSpec } from './registry.js';
import { getDefaultStore, type ModelStore } from './store.js';

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
  imagenetHead?(): { kernel: Float32Array; bias: Float32Array };
  dispose(): void;
}

export interface BackboneOptions {
  store?: ModelStore;
  /**
   * Images per forward pass. On the single-threaded wasm backend batching does not pay:
   * bench:predict measured 10.4 img/s at batch 1, 9.8 at 8, 7.7 at 32.
   */
  batchSize?: number;
  /**
   * How photos are fitted to the input, overriding the registry's default: a trained head was fitted
   * on features taken one way and must be fed features taken the same way (its manifest says which).
   */
  resize?: ResizeMode;
}

export async function loadBackbone(name = 'mobilenet_v1_0.75_224', opts: BackboneOptions = {}): Promise<Backbone> {
  const entry = registryEntry(name);
  if (!entry.backbone) throw new Error(`${name} is not a backbone`);
  const spec = backboneSpecWith(name, entry.backbone, opts.resize);
  const file = await (opts.store ?? getDefaultStore()).resolve(entry);
  if (entry.format === 'tfjs-layers') return TfjsBackbone.load(name, spec, path.dirname(file), opts.batchSize ?? 1);
  if (entry.format === 'onnx') return OnnxBackbone.load(name, spec, file, opts.batchSize ?? 8);
  throw new Error(`${name}: unsupported backbone format ${entry.format}`);
}

/** The backbone's spec with another resize mode, if the backbone accepts it. */
export function backboneSpecWith(name: string, spec: BackboneSpec, resize: ResizeMode | undefined): BackboneSpec {
  if (!resize || resize === spec.preprocessing.resize) return spec;
  if (!spec.resizeModes.includes(resize)) throw new ImgclassError('BAD_OPTION', `${name} accepts resize ${spec.resizeModes.join(' | ')}, not ${resize}`);
  return { ...spec, preprocessing: { ...spec.preprocessing, resize } };
}

class TfjsBackbone implements Backbone {
  private constructor(
    readonly name: string,
    readonly spec: BackboneSpec,
    private readonly model: tfl.LayersModel,
    private readonly batchSize: number,
    private readonly full: tfl.LayersModel,
  ) {}

  imagenetHead(): { kernel: Float32Array; bias: Float32Array } {
    const [k, b] = this.full.getLayer('conv_preds').getWeights();
    return { kernel: k!.dataSync() as Float32Array, bias: b!.dataSync() as Float32Array };
  }

  static async load(name: string, spec: BackboneSpec, dir: string, batchSize: number): Promise<TfjsBackbone> {
    await initTf();
    const artifacts = await fileLoader(dir).load!();
    // Fully convolutional up to a global pool: with 'keep-aspect' the input's height and width
    // vary per photo, so declare them unknown (the weights do not depend on them).
    if (spec.preprocessing.resize === 'keep-aspect') artifacts.modelTopology = withFreeInputSize(artifacts.modelTopology);
    const full = await tfl.loadLayersModel({ load: async () => artifacts });
    // One model, two outputs: probabilities and pooled features come from the same pass.
    const probs = full.getLayer(spec.probabilitiesOutput).output as tfl.SymbolicTensor;
    const feats = full.getLayer(spec.featuresOutput).output as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: full.inputs, outputs: [probs, feats] });
    return new TfjsBackbone(name, spec, model, batchSize, full);
  }

  async run(images: RgbImage[]): Promise<BackboneOutput[]> {
    const out: BackboneOutput[] = [];
    const p = this.spec.preprocessing;
    const batchSize = p.resize === 'keep-aspect' ? 1 : this.batchSize;
    for (let i = 0; i < images.length; i += batchSize) {
      const chunk = images.slice(i, i + batchSize);
      const input = await preprocessBatch(chunk, p);
      const [probT, featT] = tf.tidy(() => {
        const x = tf.tensor(input.data, input.shape);
        const [a, b] = this.model.predict(x) as tf.Tensor[];
        return [tf.reshape(a!, [chunk.length, -1]), tf.reshape(b!, [chunk.length, -1])];
      });
      const [probs, feats] = await Promise.all([probT!.data() as Promise<Float32Array>, featT!.data() as Promise<Float32Array>]);
      tf.dispose([probT!, featT!]);
      const nc = probs.length / chunk.length;
      const nf = feats.length / chunk.length;
      for (let j = 0; j < chunk.length; j++) out.push({ probabilities: probs.slice(j * nc, (j + 1) * nc), features: feats.slice(j * nf, (j + 1) * nf) });
    }
    return out;
  }

  dispose(): void {
    this.full.dispose();
  }
}

class OnnxBackbone implements Backbone {
  private constructor(
    readonly name: string,
    readonly spec: BackboneSpec,
    private readonly session: ort.InferenceSession,
    private readonly batchSize: number,
  ) {}

  static async load(name: string, spec: BackboneSpec, file: string, batchSize: number): Promise<OnnxBackbone> {
    return new OnnxBackbone(name, spec, await ort.InferenceSession.create(file), batchSize);
  }

  async run(images: RgbImage[]): Promise<BackboneOutput[]> {
    const out: BackboneOutput[] = [];
    const p = this.spec.preprocessing;
    const input = this.session.inputNames[0]!;
    for (let i = 0; i < images.length; i += this.batchSize) {
      const chunk = images.slice(i, i + this.batchSize);
      const { data, shape } = await preprocessBatch(chunk, p);
      const x = new ort.Tensor('float32', data, shape);
      const res = await this.session.run({ [input]: x });
      const probs = res[this.spec.probabilitiesOutput]!.data as Float32Array;
      const feats = res[this.spec.featuresOutput]!.data as Float32Array;
      const nc = probs.length / chunk.length;
      const nf = feats.length / chunk.length;
      for (let j = 0; j < chunk.length; j++) {
        const pr = probs.slice(j * nc, (j + 1) * nc);
        out.push({ probabilities: this.spec.probabilitiesAreSoftmax ? pr : softmax(pr), features: feats.slice(j * nf, (j + 1) * nf) });
      }
    }
    return out;
  }

  dispose(): void {
    void this.session.release();
  }
}

/** A Keras topology whose input layer accepts any height and width. */
function withFreeInputSize(topology: unknown): tf.io.ModelJSON['modelTopology'] {
  const t = structuredClone(topology) as { model_config?: { config: KerasConfig }; config?: KerasConfig };
  const layers = (t.model_config?.config ?? t.config)?.layers ?? [];
  const input = layers.find((l) => l.class_name === 'InputLayer');
  const shape = input?.config.batch_input_shape;
  if (!shape || shape.length !== 4) throw new ImgclassError('MODEL_CORRUPT', 'keep-aspect needs a model with one NHWC input layer');
  input.config.batch_input_shape = [shape[0] ?? null, null, null, shape[3] ?? null];
  return t as tf.io.ModelJSON['modelTopology'];
}
interface KerasConfig {
  layers: { class_name: string; config: { batch_input_shape?: (number | null)[] } }[];
}

export function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}
