import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EpochMetrics } from '../training/epoch-metrics.js';
import { DEFAULT_BACKBONE } from '../models/registry.js';
import { DEFAULT_PATIENCE, TRAIN_DEFAULTS } from '../training/hyperparameters.js';
import type { TrainingOptions } from '../training/pipeline.js';
import { epochLine } from '../training/epoch-metrics.js';
import { ImgclassError } from '../util/errors.js';
import { DATA_DIR, type TrainStore } from './train-store.js';
import type { TrainedSummary, WorkerJob, WorkerMessage } from './train-worker.js';

/**
 * The page's training queue: one job (a training, or an export) runs at a time, each in its own
 * process (train-worker.ts); the others wait, in order, and everyone sees the queue. The state of
 * each run's job is kept here and pushed to whoever listens (the page's server-sent events).
 */
export type Phase = 'queued' | 'features' | 'training' | 'evaluating' | 'done' | 'stopped' | 'failed';

export interface LiveState {
  phase: Phase;
  /** 1-based place in the queue while queued (1 = next). */
  position?: number;
  features?: { done: number; total: number };
  epochs: number;
  history: EpochMetrics[];
  /** Keras-style lines, one per finished epoch. */
  lines: string[];
  summary?: TrainedSummary;
  error?: string;
  startedAt?: number;
  finishedAt?: number;
  stopRequested?: boolean;
  export?: { phase: 'queued' | 'running' | 'done' | 'failed'; error?: string };
}

interface Job {
  runId: string;
  kind: 'train' | 'export';
  resume?: boolean;
  child?: ChildProcess;
}

/**
 * What the Train button trains with: `imgclass train`'s defaults (training/hyperparameters.ts, the
 * one declaration the CLI's options read too), every option the command line would leave unset.
 */
export const PAGE_DEFAULTS = {
  arch: TRAIN_DEFAULTS.arch,
  backbone: DEFAULT_BACKBONE,
  input: TRAIN_DEFAULTS.input,
  optimizer: TRAIN_DEFAULTS.optimizer,
  epochs: TRAIN_DEFAULTS.epochs,
  batchSize: TRAIN_DEFAULTS.batchSize,
  patience: DEFAULT_PATIENCE,
  classWeight: 'none',
  augment: true,
  seed: TRAIN_DEFAULTS.seed,
} satisfies Partial<TrainingOptions>;

/** What a (re)started training writes into the run directory; removed before a fresh start. */
const TRAINING_OUTPUTS = [
  'config.json',
  'data.json',
  'model',
  'last',
  'metrics.jsonl',
  'metrics.csv',
  'state.json',
  'curves.png',
  'curves.svg',
  'eval-test',
  'export',
];

/** The worker beside this module: .ts when run from source (tsx), .js in dist/. */
function workerEntry(): string {
  const base = fileURLToPath(new URL('./train-worker', import.meta.url));
  for (const ext of ['.js', '.ts']) if (existsSync(base + ext)) return base + ext;
  throw new Error(`train-worker not found beside ${base}`);
}

export class TrainJobs {
  private readonly queue: Job[] = [];
  private running: Job | null = null;
  private readonly live = new Map<string, LiveState>();
  private readonly listeners = new Set<(runId: string) => void>();
  private closed = false;

  constructor(
    private readonly store: TrainStore,
    private readonly o: { featureCache?: string; maxQueued: number },
  ) {}

  state(runId: string): LiveState | null {
    const s = this.live.get(runId);
    if (!s) return null;
    const i = this.queue.findIndex((j) => j.runId === runId && j.kind === 'train');
    return { ...s, position: i >= 0 ? i + 1 : undefined };
  }

  /** The visible queue: what runs now and what waits, in order. */
  overview() {
    return {
      running: this.running ? { runId: this.running.runId, kind: this.running.kind } : null,
      waiting: this.queue.map((j, i) => ({ runId: j.runId, kind: j.kind, position: i + 1 })),
    };
  }

  isBusy(runId: string): boolean {
    return this.running?.runId === runId || this.queue.some((j) => j.runId === runId);
  }

  /** Called with a run id whenever that run's state (or the queue) changes. */
  subscribe(fn: (runId: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(runId: string): void {
    for (const fn of [...this.listeners]) fn(runId);
  }

  private admit(job: Job): void {
    if (this.closed) throw new ImgclassError('BAD_OPTION', 'the server is shutting down');
    if (this.queue.length >= this.o.maxQueued)
      throw new ImgclassError('BAD_OPTION', `the training queue is full (${this.queue.length} waiting); try again when one has finished`);
    this.queue.push(job);
    this.pump();
  }

  /** Queue a training of the run (resume: continue its last committed epoch). */
  async train(runId: string, o: { resume?: boolean; epochs?: number; patience?: number } = {}): Promise<void> {
    if (this.isBusy(runId)) throw new ImgclassError('BAD_OPTION', `run ${runId} is already queued or training`);
    const run = await this.store.read(runId);
    if (!o.resume) {
      const summary = this.store.summary(run);
      if (summary.blockers.length) throw new ImgclassError('BAD_DATASET', `cannot train yet: ${summary.blockers.join('; ')}`);
      // a fresh start: nothing of an earlier failed attempt may be mistaken for this run's
      for (const f of TRAINING_OUTPUTS) await rm(path.join(this.store.runDir(runId), f), { recursive: true, force: true });
    }
    const options = Object.fromEntries(Object.entries({ epochs: o.epochs, patience: o.patience }).filter(([, v]) => v !== undefined)) as Record<string, number>;
    await this.store.update(runId, (r) => {
      r.status = 'queued';
      delete r.error;
      if (!o.resume) r.options = Object.keys(options).length ? options : undefined;
    });
    const epochs = o.resume ? await savedEpochs(this.store.runDir(runId)) : (o.epochs ?? TRAIN_DEFAULTS.epochs);
    this.live.set(runId, { phase: 'queued', epochs, history: [], lines: [] });
    try {
      this.admit({ runId, kind: 'train', resume: o.resume });
    } catch (e) {
      await this.store.update(runId, (r) => (r.status = o.resume ? 'interrupted' : 'filling'));
      this.live.delete(runId);
      throw e;
    }
    this.changed(runId);
  }

  /** Queue the verified ONNX export of a trained run (the `export` command's file and JSON). */
  exportRun(runId: string): void {
    if (this.running?.runId === runId && this.running.kind === 'export') return;
    if (this.queue.some((j) => j.runId === runId && j.kind === 'export')) return;
    const s = this.live.get(runId) ?? { phase: 'done' as Phase, epochs: 0, history: [], lines: [] };
    s.export = { phase: 'queued' };
    this.live.set(runId, s);
    this.admit({ runId, kind: 'export' });
    this.changed(runId);
  }

  /** Stop: a queued job leaves the queue; a running training stops after its batch, keeping its best epoch. */
  async stop(runId: string): Promise<void> {
    const i = this.queue.findIndex((j) => j.runId === runId && j.kind === 'train');
    if (i >= 0) {
      this.queue.splice(i, 1);
      const resumable = await this.store.exists(runId, 'last/checkpoint.json');
      await this.store.update(runId, (r) => (r.status = resumable ? 'interrupted' : 'filling'));
      this.live.delete(runId);
      this.changed(runId);
      return;
    }
    if (this.running?.runId === runId && this.running.kind === 'train' && this.running.child) {
      const s = this.live.get(runId)!;
      s.stopRequested = true;
      this.running.child.kill('SIGINT');
      this.changed(runId);
      return;
    }
    throw new ImgclassError('BAD_OPTION', `run ${runId} is not training`);
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.running = job;
    for (const j of this.queue) this.changed(j.runId);
    void this.execute(job)
      .catch(() => {})
      .finally(() => {
        this.running = null;
        this.changed(job.runId);
        this.pump();
      });
  }

  private async execute(job: Job): Promise<void> {
    const runDir = this.store.runDir(job.runId);
    const s = this.live.get(job.runId)!;
    let workerJob: WorkerJob;
    if (job.kind === 'export') {
      s.export = { phase: 'running' };
      workerJob = { kind: 'export', runDir, out: path.join(runDir, 'export', `${job.runId}.onnx`) };
    } else {
      await this.store.update(job.runId, (r) => (r.status = 'training'));
      const run = await this.store.read(job.runId);
      const saved = job.resume ? (JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')) as Partial<TrainingOptions>) : {};
      const options: TrainingOptions = {
        ...PAGE_DEFAULTS,
        ...saved,
        ...(job.resume ? {} : run.options),
        dataDir: path.join(runDir, DATA_DIR),
        runDir,
        featureCache: this.o.featureCache,
        quiet: true,
      };
      s.phase = 'features';
      s.startedAt = Date.now();
      workerJob = { kind: 'train', options, resume: Boolean(job.resume) };
    }
    this.changed(job.runId);
    const messages: WorkerMessage[] = [];
    let poll: NodeJS.Timeout | undefined;
    const code = await new Promise<number | null>((resolve) => {
      const child = fork(workerEntry(), [], {
        // tsx (or any loader) carries over; the test runner's own flags do not
        execArgv: process.execArgv.filter((a) => !a.startsWith('--test')),
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      job.child = child;
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      child.on('message', (m: WorkerMessage) => {
        messages.push(m);
        if (m.type === 'features') s.features = { done: m.done, total: m.total };
        else if (m.type === 'training') s.phase = 'training';
        else if (m.type === 'trained') {
          s.summary = m.summary;
          s.phase = 'evaluating';
        } else if (m.type === 'failed') s.error = m.message;
        this.changed(job.runId);
      });
      child.once('error', (e) => {
        s.error = e.message;
        resolve(null);
      });
      child.once('exit', (c) => {
        if (c !== 0 && !s.error && c !== 130) s.error = stderr.trim().split('\n').slice(-3).join(' ') || `training process exited with ${c}`;
        resolve(c);
      });
      child.send(workerJob);
      if (job.kind === 'train') poll = setInterval(() => void this.readEpochs(job.runId, runDir), 400);
    });
    clearInterval(poll);
    job.child = undefined;
    if (job.kind === 'export') {
      s.export = messages.some((m) => m.type === 'exported') ? { phase: 'done' } : { phase: 'failed', error: s.error ?? 'export failed' };
      if (s.export.phase === 'done') s.error = undefined;
      this.changed(job.runId);
      return;
    }
    await this.readEpochs(job.runId, runDir);
    const evaluated = messages.some((m) => m.type === 'evaluated');
    s.finishedAt = Date.now();
    if (evaluated) s.phase = s.summary?.interrupted ? 'stopped' : 'done';
    else if (code === 130) {
      s.phase = 'stopped';
      s.error = 'stopped before the first epoch finished: nothing was kept';
    } else s.phase = 'failed';
    const status = evaluated ? (s.summary?.interrupted ? 'stopped' : 'trained') : code === 130 ? 'filling' : this.closed ? 'interrupted' : 'failed';
    await this.store.update(job.runId, (r) => {
      r.status = status;
      if (status === 'failed') r.error = s.error;
    });
    this.changed(job.runId);
  }

  /** The finished epochs, from the run's metrics.jsonl (rewritten by the trainer after each one). */
  private async readEpochs(runId: string, runDir: string): Promise<void> {
    const s = this.live.get(runId);
    if (!s) return;
    const history = await readHistory(runDir);
    if (history.length === s.history.length) return;
    s.history = history;
    s.lines = epochLines(history, s.epochs);
    if (s.phase === 'features') s.phase = 'training';
    this.changed(runId);
  }

  /** On shutdown: a running training is killed, as a killed server would; its run stays resumable. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.running?.child?.kill('SIGKILL');
  }
}

export async function readHistory(runDir: string): Promise<EpochMetrics[]> {
  const text = await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8').catch(() => '');
  const out: EpochMetrics[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as EpochMetrics);
    } catch {
      break; // a line being rewritten: the next read has it
    }
  }
  return out;
}

/** Keras' per-epoch lines (training/train.ts), "* best" where the validation loss improved. */
export function epochLines(history: EpochMetrics[], epochs: number): string[] {
  let best = Infinity;
  return history.map((m) => {
    const improved = m.valLoss < best;
    if (improved) best = m.valLoss;
    return epochLine(m, Math.max(epochs, m.epoch), improved);
  });
}

async function savedEpochs(runDir: string): Promise<number> {
  const config = JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8').catch(() => '{}')) as { epochs?: number };
  return config.epochs ?? TRAIN_DEFAULTS.epochs;
}
