import * as tfl from '@tensorflow/tfjs-layers';
import type { RgbImage } from '../data/image.js';
import { preprocessBatch } from '../data/preprocess.js';
import { initTf, tf } from '../runtime/tf.js';
import { ImgclassError } from '../util/errors.js';
import type { Backbone, BackboneOutput } from './backbone-types.js';
import type { BackboneSpec } from './registry.js';
import { fileLoader } from './tfjs-io.js';

/**
 * A backbone on TF.js (wasm): the engine training used before ONNX Runtime took over inference.
 * Kept as the reference that every ONNX conversion is verified against, and for benchmarks.
 */
export class TfjsBackbone implements Backbone {
  private constructor(
    readonly name: string,
    readonly spec: BackboneSpec,
    private readonly model: tfl.LayersModel,
    private readonly batchSize: number,
    private readonly full: tfl.LayersModel,
  ) {}

  async imagenetHead(): Promise<{ kernel: Float32Array; bias: Float32Array } | undefined> {
    if (!this.spec.imagenetHead) return undefined;
    const [k, b] = this.full.getLayer(this.spec.imagenetHead).getWeights();
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

/** A Keras topology whose input layer accepts any height and width. */
function withFreeInputSize(topology: unknown): tf.io.ModelJSON['modelTopology'] {
  const t = structuredClone(topology) as { model_config?: { config: KerasConfig }; config?: KerasConfig };
  const layers = (t.model_config?.config ?? t.config)?.layers ?? [];
  const input = layers.find((l) => l.class_name === 'InputLayer');
  const shape = input?.config.batch_input_shape;
  if (!input || shape?.length !== 4) throw new ImgclassError('MODEL_CORRUPT', 'keep-aspect needs a model with one NHWC input layer');
  input.config.batch_input_shape = [shape[0] ?? null, null, null, shape[3] ?? null];
  return t as tf.io.ModelJSON['modelTopology'];
}
interface KerasConfig {
  layers: { class_name: string; config: { batch_input_shape?: (number | null)[] } }[];
}
