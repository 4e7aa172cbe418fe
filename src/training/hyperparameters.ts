import { DEFAULT_HELD_OUT, DEFAULT_SPLIT_SEED } from '../data/split-defaults.js';
import { DEFAULT_LEARNING_RATES, DEFAULT_PATIENCE, type OptimizerName } from './choices.js';

export { DEFAULT_PATIENCE };

/**
 * The training defaults, host-neutral: the command line's `train` (its option defaults), the
 * pipeline (resolved values recorded in config.json) and the browser's device-mode training all
 * read them here, so a photo set trained from the page and from the terminal is trained alike.
 */

/** `imgclass train`'s defaults for what the options leave unset. */
export const TRAIN_DEFAULTS = {
  arch: 'head',
  input: 'features',
  optimizer: 'rmsprop' as OptimizerName,
  epochs: 20,
  batchSize: 20,
  seed: DEFAULT_SPLIT_SEED,
  /** --valid-from-train's fraction when a data set has no validation part. */
  validFraction: DEFAULT_HELD_OUT.valid,
} as const;

/** The values a run actually trains with (defaults resolved), as config.json and the manifest record them. */
export function resolvedHyperparameters(o: {
  arch: string;
  optimizer: OptimizerName;
  learningRate?: number;
  hidden?: number;
  dropout?: number;
  patience?: number;
  classWeight?: 'none' | 'balanced';
}) {
  const feature = o.arch === 'head' || o.arch === 'linear' || o.arch === 'imagenet-linear';
  return {
    learningRate: o.learningRate ?? DEFAULT_LEARNING_RATES[o.optimizer],
    hidden: o.arch === 'head' ? (o.hidden ?? 256) : feature ? 0 : null,
    // the seed CNNs have their own fixed dropout (scratch none, otsu 0.3)
    dropout: o.arch === 'head' ? (o.dropout ?? 0.4) : feature ? (o.dropout ?? 0.2) : o.arch === 'otsu' ? 0.3 : 0,
    patience: o.patience ?? DEFAULT_PATIENCE,
    classWeight: o.classWeight ?? 'none',
  };
}
