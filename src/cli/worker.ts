import { createDogApp, type FaceDetectorName } from '../app/dog-app.js';
import { ImageClassificationPipeline } from '../app/image-classification.js';
import { connectCommandRedis } from '../batch/connection.js';
import { startBatchWorker, type InferenceTask } from '../batch/worker.js';
import type { BatchTask } from '../batch/names.js';
import { ImgclassError } from '../util/errors.js';
import { classifyAnswer, classifyFailure, classifyPipelineOptions } from './classify.js';
import { predictAnswer, predictAppOptions, predictFailure, type PredictLine } from './predict.js';

export interface WorkerCliOptions {
  redis: string;
  redisCa?: string;
  namespace: string;
  task: BatchTask;
  concurrency: number;
  model: string[];
  topK: number;
  faceDetector: FaceDetectorName;
  flip?: boolean;
  lockMs: number;
  fetchTimeout: number;
  root?: string[];
  allowUrlHost?: string[];
  allowPrivateUrls?: boolean;
}

/** The models of one task, loaded once, answering with exactly predict's or classify's lines. */
export async function loadInference(
  o: Omit<WorkerCliOptions, 'redis' | 'redisCa' | 'namespace' | 'concurrency' | 'lockMs' | 'fetchTimeout'>,
): Promise<{ inference: InferenceTask<unknown>; dispose(): void }> {
  if (o.task === 'predict') {
    const app = await createDogApp(predictAppOptions(o));
    // a long-running worker loads now what would load on first need (the breed ensemble), as serve does
    app.warmUp().catch((e: unknown) => process.stderr.write(`imgclass worker: ${(e as Error).message ?? String(e)}\n`));
    const inference: InferenceTask<PredictLine> = {
      answer: (file, source) => predictAnswer(app, file, source),
      failure: predictFailure,
      isError: (l) => l.kind === 'error',
    };
    return { inference: inference as InferenceTask<unknown>, dispose: () => app.dispose() };
  }
  if (!o.model.length)
    throw new ImgclassError('BAD_OPTION', 'worker --task classify needs --model DIR (the trained model that batch submit --task classify expects)');
  const pipeline = await ImageClassificationPipeline.create(classifyPipelineOptions(o));
  pipeline.warmUp().catch((e: unknown) => process.stderr.write(`imgclass worker: ${(e as Error).message ?? String(e)}\n`));
  const inference: InferenceTask<Record<string, unknown>> = {
    answer: (file, source) => classifyAnswer(pipeline, file, source),
    failure: classifyFailure,
    isError: (l) => 'error' in l,
  };
  return { inference: inference as InferenceTask<unknown>, dispose: () => pipeline.dispose() };
}

/**
 * `imgclass worker`: load the models once, then take jobs from the shared queue until SIGTERM or
 * SIGINT, which stop taking jobs, finish the ones in hand and exit 0. A second signal exits at once
 * (the jobs in hand go back to the queue through BullMQ's stalled-job check, as after SIGKILL).
 */
export async function runWorker(o: WorkerCliOptions): Promise<number> {
  // Fail in a second on a wrong URL or a Redis that is down, not after loading the models.
  const probe = await connectCommandRedis(o.redis, { ca: o.redisCa });
  await probe.quit();
  const { inference, dispose } = await loadInference(o);
  const worker = await startBatchWorker({
    redisUrl: o.redis,
    redisTls: { ca: o.redisCa },
    namespace: o.namespace,
    task: o.task,
    inference,
    concurrency: o.concurrency,
    lockMs: o.lockMs,
    fetchTimeoutMs: o.fetchTimeout * 1000,
    roots: o.root ?? [],
    urlPolicy: { allowHosts: o.allowUrlHost ?? [], allowPrivate: o.allowPrivateUrls === true },
  });
  const log = (m: string) => process.stderr.write(`${m}\n`);
  let lastCount = 0;
  const started = Date.now();
  const heartbeat = setInterval(() => {
    const n = worker.processed();
    if (n !== lastCount) log(`imgclass worker: ${n} jobs done (${(n / ((Date.now() - started) / 1000)).toFixed(2)}/s since start)`);
    lastCount = n;
  }, 60_000);
  heartbeat.unref();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log(`imgclass worker: ${signal} again: exiting now; jobs in hand return to the queue`);
        process.exit(130);
      }
      stopping = true;
      log(`imgclass worker: ${signal}: finishing the jobs in hand, then exiting`);
      worker.close().then(resolve, (e) => {
        log(`imgclass worker: ${String(e)}`);
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  clearInterval(heartbeat);
  dispose();
  log(`imgclass worker: stopped after ${worker.processed()} jobs`);
  return 0;
}
