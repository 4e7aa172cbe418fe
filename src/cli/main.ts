#!/usr/bin/env node
/*
 * The command line parses its arguments before it loads anything heavy: this module and what it
 * imports statically are commander, the options' choices and defaults (modules with nothing heavy
 * to import), and the error type. Each command's action imports its own module with `await
 * import()` when that command runs, so `--help` loads no engine, and `predict` loads neither TF.js
 * nor OpenCV.js, the charts, the browser bundler or the queue (test/startup.test.ts checks it).
 * A new command: declare its options here, and import its module in its action, the same way.
 */
import type { Command as CommandType, Option as OptionType } from 'commander';
import { requireCjs } from '../util/require-cjs.js';
import { FACE_DETECTORS } from '../app/face-detectors.js';
import { DEFAULT_QUALITY, QUALITIES } from '../app/preset-names.js';
import { RESIZE_MODES } from '../data/pixels.js';
import { DEFAULT_BACKBONE } from '../models/default-backbone.js';
import { describeError, ImgclassError, isImgclassError } from '../util/errors.js';
import { applyCliModelDirDefault } from './defaults.js';
import { FEATURE_CACHE_HELP, trainingOptions } from './toolkit-options.js';
import { rejectInapplicableOptions } from './option-rules.js';
import { installInterruptHandler } from '../util/interrupt.js';
import { registerBatchCommands } from './batch-commands.js';

const { Command, InvalidArgumentError, Option } = requireCjs('commander') as typeof import('commander');

applyCliModelDirDefault();

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};
const nonNegativeInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer ≥ 0');
  return n;
};

const program = new Command()
  .name('imgclass')
  .description(
    'Image classification with convolutional networks: the dog-breed app and the toolkit behind it.\n' +
      'Models are read from $IMGCLASS_MODEL_DIR, else the per-user cache, else downloaded.',
  )
  .showHelpAfterError()
  .option('--threads <n>', "onnxruntime threads per model (default: the machine's cores, or $IMGCLASS_THREADS)", positiveInt)
  // Ctrl-C restores the terminal and lets training flush its records; serve has its own shutdown.
  .hook('preAction', (root, action) => {
    const threads = root.opts().threads as number | undefined;
    if (threads) process.env.IMGCLASS_THREADS = String(threads);
    if (action.name() !== 'serve') installInterruptHandler();
  });

/** train, sweep and kfold: one data-set argument and the seed's training options. */
function toolkitCommand(name: string, description: string): CommandType {
  return trainingOptions(program.command(name).description(description).argument('<data-dir>', 'folder-per-class data set'));
}

const collect = (v: string, all: string[]) => [...all, v];
const PATHS_HELP = 'image files or directories (walked recursively, links followed, files chosen by content); - reads paths from standard input';
const FILES_FROM_HELP = 'read more paths from this file (one a line, or NUL-separated as find -print0 writes); - is standard input; repeatable';

const ENSEMBLE_HELP =
  'accurate: leave out the breed ensemble (other backbones that also read a dog the centre view is unsure of; ' +
  'the backbone answers alone, as device mode does; 2 fewer models loaded)';

/** predict's and serve's --preset (app/quality.ts). */
function presetOption(): OptionType {
  return new Option(
    '--preset <quality>',
    'accurate (default): YOLOX-nano person evidence for faces on dog photos, and more views of a dog the ' +
      'centre view is unsure of; fast: the person evidence only; standard: neither (every host runs every preset)',
  )
    .choices(QUALITIES)
    .default(DEFAULT_QUALITY);
}

/** predict and classify need something to read: paths, a --files-from list, or both. */
function needPaths(paths: string[], o: { filesFrom?: string[] }): void {
  if (paths.length === 0 && !o.filesFrom?.length) throw new ImgclassError('BAD_OPTION', 'give image paths, - (paths on standard input) or --files-from FILE');
}

program
  .command('predict')
  .description('Say, for each image, whether it shows a dog (and its breed), a human (and the breed they resemble), both, or neither.')
  .argument('[paths...]', PATHS_HELP)
  .option('--files-from <file>', FILES_FROM_HELP, collect, [])
  .option('--json', 'one JSON object per line per image')
  .option('--top-k <n>', 'breeds to list', positiveInt, 5)
  .option(
    '--model <dir>',
    'a trained breed classifier (model, ensemble or run directory) instead of ImageNet dog classes; repeat to average several',
    collect,
    [],
  )
  .addOption(new Option('--face-detector <name>', 'human face detector').choices(FACE_DETECTORS).default('yunet'))
  .option('--no-flip', 'do not average over the mirror image (faster, slightly less accurate)')
  .addOption(presetOption())
  .option('--no-ensemble', ENSEMBLE_HELP)
  .option('--backbone <name>', "registry name of the backbone (default: the app's; see `imgclass models`)")
  .action(async (paths: string[], o) => {
    needPaths(paths, o);
    const { runPredict } = await import('./predict.js');
    process.exitCode = await runPredict(paths, o);
  });

program
  .command('classify')
  .description('Classify images with any trained model (e.g. the vehicles classifier): its top classes per image, no dog or face routing.')
  .argument('[paths...]', PATHS_HELP)
  .option('--files-from <file>', FILES_FROM_HELP, collect, [])
  .requiredOption(
    '--model <dir>',
    'a trained model, ensemble or run directory (runs/x: its ensemble if it has one, else its model); repeat to average several',
    collect,
    [],
  )
  .option('--json', 'one JSON object per line per image')
  .option('--top-k <n>', 'classes to list', positiveInt, 5)
  .option('--no-flip', 'do not average over the mirror image')
  .action(async (paths: string[], o) => {
    needPaths(paths, o);
    const { runClassify } = await import('./classify.js');
    process.exitCode = await runClassify(paths, o);
  });

program
  .command('export')
  .description(
    'Write one self-contained ONNX file (normalisation, backbone, flip averaging, head, ensemble averaging ' +
      'inside), verified against the trained model on TF.js.',
  )
  .argument('<models...>', 'a trained model directory, an ensemble directory (or several, averaged), or a backbone name such as mobilenet_v1_0.75_224')
  .requiredOption('--out <file.onnx>', 'where to write the ONNX file (a .json with what it is and its verification goes beside it)')
  .option('--verify <dir>', 'photos to verify the export on (default: the data the model was trained on, if present)')
  .option('--verify-count <n>', 'photos to verify on', positiveInt, 50)
  .option('--no-flip', 'leave mirror-image averaging out of the graph')
  .action(async (models: string[], o) => {
    const { runExport } = await import('./export.js');
    process.exitCode = await runExport(models, o);
  });

program
  .command('serve')
  .description('Start the dog-breed web app and its JSON API.')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port', (v) => Number(v), 3000)
  .option('--model <dir>', 'a trained classifier directory instead of ImageNet dog classes; an ensemble directory, or repeat to average several', collect, [])
  .addOption(new Option('--face-detector <name>', 'human face detector').choices(FACE_DETECTORS).default('yunet'))
  .addOption(presetOption())
  .option('--no-ensemble', ENSEMBLE_HELP)
  .option('--max-mb <n>', 'largest upload in MB', (v) => Number(v), 20)
  .option('--queue <n>', 'requests allowed to wait for inference before 503', positiveInt, 16)
  .option('--token <token>', 'require Authorization: Bearer TOKEN on /api/ (default $IMGCLASS_TOKEN; the page: open /#token=TOKEN)')
  .option('--rate-limit <n>', 'API requests per client and minute before 429 (0: no limit)', nonNegativeInt, 300)
  .option('--request-timeout <s>', 'seconds a client has to send a whole request', positiveInt, 120)
  .option('--backbone <name>', "registry name of the backbone (default: the app's)")
  .option('--runs <dir>', 'where the Train view (/train.html) keeps its runs: ordinary run directories the CLI reads', 'runs')
  .action(async (o) => {
    const { runServe } = await import('./serve.js');
    await runServe(o);
  });

program
  .command('features')
  .description('Compute and cache bottleneck features (backbone outputs) for every split of a data set.')
  .argument('<data-dir>', 'folder-per-class data set (with train/valid/test or split here)')
  .option('--backbone <name>', 'registry name of the backbone', DEFAULT_BACKBONE)
  .option('--cache <dir>', 'feature cache directory (default ~/.cache/imgclass/features)')
  .addOption(new Option('--resize <mode>', 'how photos are fitted to the backbone (default: its registry entry)').choices(RESIZE_MODES))
  .option('--json', 'print one JSON report')
  .action(async (dir: string, o) => {
    if (o.cache) {
      process.stderr.write('imgclass: features --cache is deprecated; use --feature-cache (the same option as train, sweep, kfold and eval)\n');
      o.featureCache ??= o.cache;
    }
    const { runFeatures } = await import('./features.js');
    process.exitCode = await runFeatures(dir, o);
  });

toolkitCommand(
  'train',
  'Train a classifier (transfer head on bottleneck features, or a CNN from scratch) with validation each epoch and the best-validation-loss checkpoint kept.',
)
  .option('--out <dir>', 'run directory (default runs/<data>-<arch>-<time>)')
  .option('--resume <run-dir>', 'continue a killed run from its last finished epoch (with --epochs: train up to that many)')
  .action(async (dir: string, o, cmd: CommandType) => {
    rejectInapplicableOptions('train', cmd);
    // which options the user typed (not defaults): with --resume only those are compared with the run's
    const given = new Set(cmd.options.map((opt) => opt.attributeName()).filter((k) => cmd.getOptionValueSource(k) === 'cli'));
    const { runTrainCli } = await import('./toolkit.js');
    process.exitCode = await runTrainCli(dir, { ...o, given });
  });

program
  .command('eval')
  .description(
    'Accuracy, top-k, per-class precision/recall/F1, confusion matrix and worst mistakes. Several models = an ' +
      "ensemble (probabilities averaged). A model may be imagenet:<backbone> (the backbone's own ImageNet head).",
  )
  .argument('<model-dirs-and-data-dir...>', 'MODEL_DIR... DATA_DIR')
  .option('--json', 'one JSON object')
  .addOption(
    new Option(
      '--split <name>',
      'which photos: default the held-out ones (the test split, else valid; for a set without split folders the ' +
        'seeded test part train held out); all = every photo, training photos included',
    ).choices(['train', 'valid', 'test', 'all']),
  )
  .option('--feature-cache <dir>', FEATURE_CACHE_HELP)
  .option('--no-flip', 'no test-time mirror averaging')
  .option('--out <dir>', 'write eval.json and confusion.png/svg here')
  .option('--top-losses <n>', 'worst mistakes to list', positiveInt, 10)
  .action(async (args: string[], o) => {
    if (args.length < 2) throw new InvalidArgumentError('eval needs MODEL_DIR... DATA_DIR');
    const { runEvalCli } = await import('./toolkit.js');
    process.exitCode = await runEvalCli(args, o);
  });

toolkitCommand('sweep', "Grid search over optimisers × epochs (the seed's experiment): a results table, JSON and chart.")
  .option('--optimizers <list>', 'comma-separated', 'adam,rmsprop,sgd')
  .option('--epoch-list <list>', 'comma-separated epochs', '20,30,40')
  .option('--lrs <list>', "comma-separated learning rates (default: each optimiser's own)")
  .option('--out <dir>', 'sweep directory')
  .option('--json', 'one JSON array')
  .action(async (dir: string, o, cmd: CommandType) => {
    rejectInapplicableOptions('sweep', cmd);
    const { runSweepCli } = await import('./toolkit.js');
    process.exitCode = await runSweepCli(dir, o);
  });

toolkitCommand('kfold', 'Stratified k-fold cross-validation on train + valid merged: per-fold metrics, mean ± sd, the best model kept.')
  .option('--folds <k>', 'number of folds', positiveInt, 8)
  .option('--out <dir>', 'k-fold directory')
  .option('--json', 'one JSON object')
  .action(async (dir: string, o, cmd: CommandType) => {
    rejectInapplicableOptions('kfold', cmd);
    const { runKFoldCli } = await import('./toolkit.js');
    process.exitCode = await runKFoldCli(dir, o);
  });

program
  .command('explore')
  .description('Images per class and split, file-size and image-size distributions, unreadable files; with charts.')
  .argument('<data-dir>', 'folder-per-class data set')
  .option('--json', 'one JSON object')
  .option('--out <dir>', 'where the charts go (default runs/explore-<name>)')
  .action(async (dir: string, o) => {
    const { runExploreCli } = await import('./toolkit.js');
    process.exitCode = await runExploreCli(dir, o);
  });

program
  .command('import')
  .description('Register a TFLite image classifier (your own, Teachable Machine, Model Maker) as a named backbone every command can use.')
  .argument('<model.tflite>', 'the .tflite file (float or quantised)')
  .option('--name <name>', 'registry name (default: the file name)')
  .option('--labels <file>', 'class names, one a line (checked against the outputs, kept with the model)')
  .option('--class-offset <n>', 'outputs before the first class (1 for TFLite ImageNet files: background)', (v) => Number(v))
  .option('--probabilities <tensor>', 'tensor with the class scores (default: the output)')
  .option('--features <tensor>', "tensor with the pooled features (default: the classifier's input)")
  .option('--mean <x>', 'a float input: (x − mean) / std per pixel (default 127.5)', (v) => Number(v))
  .option('--std <x>', 'a float input: see --mean (default 127.5)', (v) => Number(v))
  .option('--crop <fraction>', 'central crop before the resize (e.g. 0.875)', (v) => Number(v))
  .option('--json', 'print the registry entry as JSON')
  .action(async (file: string, o) => {
    const { runImport } = await import('./import.js');
    process.exitCode = await runImport(file, o);
  });

registerBatchCommands(program);

// Models imported with `imgclass import` join the registry before any command runs (not for --help,
// which loads no model code).
program.hook('preAction', async () => {
  const { registerImportedModels } = await import('./import.js');
  await registerImportedModels();
});
program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`imgclass: ${describeError(e)}\n`);
  if (!isImgclassError(e) && process.env.IMGCLASS_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(isImgclassError(e) ? 2 : 1);
});
