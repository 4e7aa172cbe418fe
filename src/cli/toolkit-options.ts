import type { Command } from 'commander';
import { requireCjs } from '../util/require-cjs.js';

const { Option } = requireCjs('commander') as typeof import('commander');
import { DEFAULT_BACKBONE } from '../models/default-backbone.js';
import { ARCHITECTURES, DEFAULT_PATIENCE, OPTIMIZERS } from '../training/choices.js';
import { TRAIN_DEFAULTS } from '../training/hyperparameters.js';

/*
 * The training commands' options, apart from the code that runs them (toolkit.ts): main.ts
 * declares every command up front and must not load TF.js to do it.
 */

const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
};

/** Options shared by train, sweep and kfold (the seed's hyperparameters). */
export function trainingOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--arch <arch>', 'model').choices(ARCHITECTURES).default(TRAIN_DEFAULTS.arch))
    .option('--backbone <name>', 'backbone for feature models', DEFAULT_BACKBONE)
    .addOption(new Option('--input <kind>', 'what a feature model reads').choices(['features', 'features+probabilities']).default(TRAIN_DEFAULTS.input))
    .addOption(new Option('--optimizer <name>').choices(OPTIMIZERS).default(TRAIN_DEFAULTS.optimizer))
    .option('--lr <rate>', "learning rate (default: the optimiser's Keras default)", num)
    .option('--epochs <n>', 'epochs', num, TRAIN_DEFAULTS.epochs)
    .option('--batch-size <n>', 'batch size', num, TRAIN_DEFAULTS.batchSize)
    .option(
      '--patience <n>',
      `early stopping: stop after this many epochs without a better validation loss; the best epoch's weights are what model/ holds (0 = train every epoch)`,
      num,
      DEFAULT_PATIENCE,
    )
    .addOption(
      new Option('--class-weight <mode>', 'weigh each class in the loss by n / (classes × its count), for imbalanced data')
        .choices(['none', 'balanced'])
        .default('none'),
    )
    .option('--hidden <n>', 'head: hidden units (0 = linear)', num)
    .option('--dropout <p>', 'dropout rate', num)
    .option('--size <px>', 'pixel models: input side', num)
    .addOption(
      new Option(
        '--resize <mode>',
        'how photos are fitted to the input: centre crop, squash, or keep-aspect (whole photo, shorter side to the input size; feature models on MobileNet)',
      ).choices(['center-crop', 'squash', 'keep-aspect']),
    )
    .option('--valid-from-train <fraction>', "carve a stratified validation set from train; the data set's own valid folder becomes the test set", num)
    .option('--no-augment', 'no augmentation (mirror features, or flips/shifts/zoom/brightness on pixels)')
    .option('--seed <n>', 'seed for splits and augmentation', num, TRAIN_DEFAULTS.seed)
    .option('--feature-cache <dir>', FEATURE_CACHE_HELP)
    .option(
      '--unknown-photos <dir>',
      'a folder of photos of none of the classes, to calibrate the "unknown" answer with (held-out photos of the classes are always used); repeat for several',
      (v: string, all: string[] = []) => [...all, v],
    );
}

export const FEATURE_CACHE_HELP = 'bottleneck feature cache directory (default $IMGCLASS_FEATURE_CACHE, else ~/.cache/imgclass/features)';
