/**
 * The training options' choices and defaults, with nothing to import: the command line offers them
 * in its help without loading TF.js (pipeline.ts and architectures.ts re-export them).
 */
/**
 * - head: seed 1's transfer head on bottleneck features (Dropout → Dense(relu) → Dropout → Dense)
 * - linear: softmax regression on the features
 * - imagenet-linear: linear head initialised from the backbone's ImageNet rows for the classes
 * - scratch: seed 1's CNN from scratch on pixels (x/255)
 * - otsu: seed 2's CNN on Otsu-binarised greyscale
 */
export const ARCHITECTURES = ['head', 'linear', 'imagenet-linear', 'scratch', 'otsu'] as const;
/** A model architecture `train --arch` accepts. */
export type Architecture = (typeof ARCHITECTURES)[number];

/** The optimizers `train --optimizer` accepts. */
export const OPTIMIZERS = ['rmsprop', 'adam', 'sgd'] as const;
/** An optimizer `train` accepts. */
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** Keras' default learning rates: rmsprop 1e-3, adam 1e-3, sgd 1e-2. */
export const DEFAULT_LEARNING_RATES: Record<OptimizerName, number> = { rmsprop: 1e-3, adam: 1e-3, sgd: 1e-2 };

/** Early stopping is on by default: 8 epochs without a better validation loss, the best weights kept (model/). */
export const DEFAULT_PATIENCE = 8;
