import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../runtime/tf.js';
import { DEFAULT_LEARNING_RATES, type OptimizerName } from './choices.js';

/**
 * The networks the seeds build, in TF.js Layers (which mirrors Keras layer for layer).
 */

export interface HeadOptions {
  inputDim: number;
  classes: number;
  /** Units of the hidden Dense(relu) layer; 0 gives a linear (softmax regression) head. */
  hidden?: number;
  dropout?: number;
}

/** Seed 1's transfer head: Dropout → Dense(hidden, relu) → Dropout → Dense(classes, softmax). */
export function featureHead(o: HeadOptions): tfl.Sequential {
  const m = tfl.sequential({ name: 'feature_head' });
  const hidden = o.hidden ?? 256;
  const dropout = o.dropout ?? 0.4;
  m.add(tfl.layers.dropout({ rate: dropout, inputShape: [o.inputDim] }));
  if (hidden > 0) {
    m.add(tfl.layers.dense({ units: hidden, activation: 'relu' }));
    m.add(tfl.layers.dropout({ rate: dropout }));
  }
  m.add(tfl.layers.dense({ units: o.classes, activation: 'softmax', name: 'predictions' }));
  return m;
}

/**
 * A linear head whose weights start as the backbone's own ImageNet classifier rows for these
 * classes (MobileNet's conv_preds is a 1×1 conv on the pooled features, i.e. a Dense layer).
 * Before training it *is* the ImageNet head restricted to the classes; training only improves it.
 */
export function imagenetInitHead(kernel: Float32Array, bias: Float32Array, inputDim: number, classIndices: number[], dropout = 0.2): tfl.Sequential {
  const k = new Float32Array(inputDim * classIndices.length);
  for (let i = 0; i < inputDim; i++) classIndices.forEach((c, j) => (k[i * classIndices.length + j] = kernel[i * 1000 + c]!));
  const m = featureHead({ inputDim, classes: classIndices.length, hidden: 0, dropout });
  m.getLayer('predictions').setWeights([tf.tensor2d(k, [inputDim, classIndices.length]), tf.tensor1d(classIndices.map((c) => bias[c]!))]);
  return m;
}

export interface CnnOptions {
  size: number;
  channels: number;
  classes: number;
}

/** Seed 1's CNN from scratch: Conv2D 16/32/64/128 with max pooling, global average pooling, Dense. */
export function seedScratchCnn(o: CnnOptions): tfl.Sequential {
  const m = tfl.sequential({ name: 'seed_scratch_cnn' });
  const filters = [16, 32, 64, 128];
  filters.forEach((f, i) => {
    m.add(
      tfl.layers.conv2d({
        filters: f,
        kernelSize: i === 0 ? 3 : 2,
        padding: 'same',
        activation: 'relu',
        ...(i === 0 ? { inputShape: [o.size, o.size, o.channels] } : {}),
      }),
    );
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  });
  m.add(tfl.layers.globalAveragePooling2d({}));
  m.add(tfl.layers.dense({ units: o.classes, activation: 'softmax' }));
  return m;
}

/** Seed 2's CNN for Otsu-binarised input: Conv2D/MaxPool/BatchNorm blocks, Flatten, Dense, Dropout. */
export function seedOtsuCnn(o: CnnOptions): tfl.Sequential {
  const m = tfl.sequential({ name: 'seed_otsu_cnn' });
  [32, 64, 64, 96].forEach((f, i) => {
    m.add(tfl.layers.conv2d({ filters: f, kernelSize: 3, activation: 'relu', ...(i === 0 ? { inputShape: [o.size, o.size, o.channels] } : {}) }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
    // momentum 0.9, not Keras' 0.99: with ~15 steps an epoch on small sets, 0.99 leaves the moving
    // statistics far from the data's for many epochs and inference collapses to one class.
    m.add(tfl.layers.batchNormalization({ momentum: 0.9 }));
  });
  m.add(tfl.layers.flatten({}));
  m.add(tfl.layers.dense({ units: 128, activation: 'relu' }));
  m.add(tfl.layers.dropout({ rate: 0.3 }));
  m.add(tfl.layers.dense({ units: o.classes, activation: 'softmax' }));
  return m;
}

export { OPTIMIZERS, type OptimizerName } from './choices.js';

export { DEFAULT_LEARNING_RATES } from './choices.js';

/** A TF.js optimizer by name, at `learningRate` or Keras' default for it. */
export function makeOptimizer(name: OptimizerName, learningRate?: number): tf.Optimizer {
  const lr = learningRate ?? DEFAULT_LEARNING_RATES[name];
  switch (name) {
    case 'rmsprop':
      return tf.train.rmsprop(lr);
    case 'adam':
      return tf.train.adam(lr);
    case 'sgd':
      return tf.train.sgd(lr);
  }
}
