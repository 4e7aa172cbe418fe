#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { describeError, isImgclassError } from '../util/errors.js';
import { applyCliModelDirDefault } from './defaults.js';
import { runPredict } from './predict.js';
import { runServe } from './serve.js';

applyCliModelDirDefault();

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

const program = new Command()
  .name('imgclass')
  .description('Image classification with convolutional networks: the dog-breed app and the toolkit behind it.\nModels are read from $IMGCLASS_MODEL_DIR, else the per-user cache, else downloaded.')
  .showHelpAfterError();

program
  .command('predict')
  .description('Say, for each image, whether it shows a dog (and its breed), a human (and the breed they resemble), both, or neither.')
  .argument('<paths...>', 'image files or directories (walked recursively)')
  .option('--json', 'one JSON object per line per image')
  .option('--top-k <n>', 'breeds to list', positiveInt, 5)
  .option('--model <dir>', 'a trained classifier directory (imgclass train output) instead of ImageNet dog classes')
  .addOption(new Option('--face-detector <name>', 'human face detector').choices(['yunet', 'haar']).default('yunet'))
  .option('--no-flip', 'do not average over the mirror image (faster, slightly less accurate)')
  .action(async (paths: string[], o) => {
    process.exitCode = await runPredict(paths, o);
  });

program
  .command('serve')
  .description('Start the dog-breed web app and its JSON API.')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port', (v) => Number(v), 3000)
  .option('--model <dir>', 'a trained classifier directory instead of ImageNet dog classes')
  .addOption(new Option('--face-detector <name>', 'human face detector').choices(['yunet', 'haar']).default('yunet'))
  .option('--max-mb <n>', 'largest upload in MB', (v) => Number(v), 20)
  .option('--queue <n>', 'requests allowed to wait for inference before 503', positiveInt, 16)
  .action(async (o) => {
    await runServe(o);
  });

program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`imgclass: ${describeError(e)}\n`);
  if (!isImgclassError(e) && process.env.IMGCLASS_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(isImgclassError(e) ? 2 : 1);
});
