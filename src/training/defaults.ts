import { DEFAULT_BACKBONE } from '../models/registry.js';
import type { OptimizerName } from './architectures.js';
import { DEFAULT_PATIENCE, type Architecture } from './pipeline.js';

/**
 * The training options a run gets when nobody says otherwise: `imgclass train`'s defaults and
 * what the web page's Train button uses, declared once so the two can never drift apart.
 */
export const TRAINING_DEFAULTS = {
  arch: 'head' as Architecture,
  backbone: DEFAULT_BACKBONE,
  input: 'features' as const,
  optimizer: 'rmsprop' as OptimizerName,
  epochs: 20,
  batchSize: 20,
  patience: DEFAULT_PATIENCE,
  classWeight: 'none' as const,
  augment: true,
  seed: 42,
};
