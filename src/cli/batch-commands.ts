import { BATCH_TASKS, DEFAULT_NAMESPACE, defaultRedisCa, defaultRedisUrl } from '../batch/names.js';
import { FACE_DETECTORS } from '../app/face-detectors.js';
import type { Command } from 'commander';
import { requireCjs } from '../util/require-cjs.js';

const { InvalidArgumentError, Option } = requireCjs('commander') as typeof import('commander');

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};
const positiveNumber = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0');
  return n;
};
const collect = (v: string, all: string[]) => [...all, v];
const collectList = (v: string, all: string[]) => [
  ...all,
  ...v
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean),
];

/** --redis and --namespace, on every command that talks to the queue. */
function queueOptions(cmd: Command): Command {
  return (
    cmd
      // the default is shown by name, never by value: $IMGCLASS_REDIS_URL may carry a password
      .addOption(
        new Option('--redis <url>', 'Redis URL: redis://[:PASSWORD@]HOST:PORT, or rediss:// for TLS').default(
          defaultRedisUrl(),
          '$IMGCLASS_REDIS_URL, else redis://127.0.0.1:6379',
        ),
      )
      .option('--redis-ca <file>', "PEM file of the CA that signed the rediss:// server's certificate (default $IMGCLASS_REDIS_CA)", defaultRedisCa())
      .option('--namespace <name>', 'separates independent worker pools on one Redis (queues <name>-predict, <name>-classify)', DEFAULT_NAMESPACE)
  );
}

/**
 * `imgclass worker` and `imgclass batch …`: batch jobs spread over many machines with BullMQ on Redis.
 * Declared here with light imports only; each action imports its module (and BullMQ) when it runs.
 */
export function registerBatchCommands(program: Command): void {
  queueOptions(program.command('worker'))
    .description(
      'Take batch jobs from Redis and answer them with the same inference as predict (or classify); run one per ' +
        'core on any number of machines. SIGTERM finishes the jobs in hand and exits.',
    )
    .addOption(new Option('--task <task>', 'which jobs to take').choices(BATCH_TASKS).default('predict'))
    .option('--concurrency <n>', 'jobs held at once (inference runs one at a time; more overlaps URL downloads)', positiveInt, 1)
    .option('--model <dir>', 'a trained model directory (predict: the breed classifier; classify: required); repeat to average several', collect, [])
    .option('--top-k <n>', 'classes to list', positiveInt, 5)
    .addOption(new Option('--face-detector <name>', 'human face detector (predict)').choices(FACE_DETECTORS).default('yunet'))
    .option('--no-flip', 'do not average over the mirror image')
    .option('--lock-ms <ms>', 'a job whose worker stops renewing its claim this long (killed, frozen) is handed to another worker', positiveInt, 30_000)
    .option('--fetch-timeout <s>', 'seconds to download one URL before retrying it later', positiveNumber, 30)
    .option('--root <dir>', 'read job files only under DIR, symlinks resolved (repeat for more; default: the working directory)', collect, [])
    .option(
      '--allow-url-host <host>',
      'fetch URLs of HOST even if it resolves to a private or loopback address (repeat, or comma-separate; default: public addresses only)',
      collectList,
      [],
    )
    .option('--allow-private-urls', 'fetch URLs whatever address they resolve to (only where every job submitter is trusted)')
    .action(async (o) => {
      const { runWorker } = await import('./worker.js');
      process.exitCode = await runWorker(o);
    });

  const batch = program.command('batch').description('Submit, follow, collect and cancel batch jobs that `imgclass worker` processes.');

  queueOptions(batch.command('submit'))
    .description(
      'Queue one job per input: image files, folders (walked like predict), --files-from lists, http(s) URLs. Submitting again adds only new inputs.',
    )
    .argument('[inputs...]', 'image files, directories or http(s) URLs')
    .requiredOption('--name <name>', 'batch name (A–Z a–z 0–9 _ . -)')
    .addOption(
      new Option('--task <task>', "predict: the dog app; classify: plain classification with the workers' --model").choices(BATCH_TASKS).default('predict'),
    )
    .option('--files-from <file>', 'more inputs, one per line ("-": standard input)')
    .option('--ttl-hours <h>', 'the batch and its results are removed this long after its last change (0: kept until `results --remove`)', positiveNumber, 168)
    .option('--attempts <n>', 'tries per input for transient failures (timeouts, 5xx, Redis blips), with exponential backoff', positiveInt, 3)
    .action(async (inputs: string[], o) => {
      const { runBatchSubmit } = await import('./batch.js');
      process.exitCode = await runBatchSubmit(inputs, o);
    });

  queueOptions(batch.command('status'))
    .description('Counts, rate and ETA of a batch, and its queue and workers.')
    .argument('<name>', 'batch name')
    .option('--json', 'one JSON object')
    .option('--watch', 'follow until the batch is finished (a progress bar on a terminal)')
    .action(async (name: string, o) => {
      const { runBatchStatus } = await import('./batch.js');
      process.exitCode = await runBatchStatus(name, o);
    });

  queueOptions(batch.command('results'))
    .description('One line per input in submission order: the JSON of predict --json (classify --json for classify batches), or CSV.')
    .argument('<name>', 'batch name')
    .option('--out <file>', 'write to FILE.jsonl or FILE.csv instead of standard output')
    .option('--wait', 'wait until the batch is finished (a progress bar on a terminal)')
    .option('--partial', 'write the results there are now, leaving out pending inputs')
    .option('--remove', 'then remove the batch and its results from Redis')
    .action(async (name: string, o) => {
      const { runBatchResults } = await import('./batch.js');
      process.exitCode = await runBatchResults(name, o);
    });

  queueOptions(batch.command('cancel'))
    .description('Stop a batch: queued jobs are removed, running ones finish; its results stay readable.')
    .argument('<name>', 'batch name')
    .option('--remove', 'also remove the batch and its results from Redis now')
    .action(async (name: string, o) => {
      const { runBatchCancel } = await import('./batch.js');
      process.exitCode = await runBatchCancel(name, o);
    });
}
