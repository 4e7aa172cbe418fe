import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { zip, type Zippable } from 'fflate';
import { ImageClassificationPipeline } from '../app/image-classification.js';
import { ISOLATION_HEADERS } from '../app/device-manifest.js';
import type { DecodeLimits } from '../data/image.js';
import type { Evaluation } from '../evaluation/metrics.js';
import type { UnknownCalibration } from '../models/unknown.js';
import { ImgclassError } from '../util/errors.js';
import { readHistory, epochLines, PAGE_DEFAULTS, TrainJobs } from './train-jobs.js';
import { FEW_PHOTOS, MIN_PHOTOS, TrainStore, type PageRun } from './train-store.js';

export interface TrainRoutesOptions {
  /** Where page runs live (`serve --runs DIR`, default runs/). */
  runsDir: string;
  /** The server's decode limits: one uploaded photo may be at most `maxBytes`. */
  limits: DecodeLimits;
  maxPhotosPerClass?: number;
  maxClasses?: number;
  /** Trainings allowed to wait behind the running one. */
  maxQueued?: number;
  featureCache?: string;
}

export const DEFAULT_MAX_PHOTOS_PER_CLASS = 1000;
const require = createRequire(import.meta.url);

/**
 * The Train view's API (web/train.html): page runs are run directories under `runsDir`, trained
 * one at a time by the CLI's own pipeline with its defaults (train-jobs.ts). Every id and name in
 * a URL is checked by the store; nothing is read or written outside `runsDir`.
 */
/** Photo uploads a client may make in a minute (a class holds at most 1000 photos). */
export const PHOTO_UPLOAD_RATE_LIMIT = { max: 6000, timeWindow: 60_000 };

export async function registerTrainRoutes(root: FastifyInstance, o: TrainRoutesOptions): Promise<void> {
  await root.register(async (server) => {
    server.setErrorHandler(trainErrors(o.limits.maxBytes));
    await trainRoutes(server, o);
  });
}

/** Statuses for the Train view's errors; anything else goes on to the server's own handler. */
function trainErrors(maxBytes: number) {
  const STATUS: Record<string, number> = { FILE_NOT_FOUND: 404, MODEL_NOT_FOUND: 404, BAD_OPTION: 400, BAD_DATASET: 400, TOO_MANY_BYTES: 413 };
  return (err: Error & { code?: string; statusCode?: number }, _req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ImgclassError && STATUS[err.code])
      return reply.code(STATUS[err.code]!).type('application/json').send({ error: err.message, code: err.code });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413)
      return reply
        .code(413)
        .type('application/json')
        .send({ error: `the photo is larger than the limit of ${(maxBytes / 1e6).toFixed(1)} MB`, code: 'TOO_MANY_BYTES' });
    throw err;
  };
}

async function trainRoutes(server: FastifyInstance, o: TrainRoutesOptions): Promise<void> {
  const store = new TrainStore(path.resolve(o.runsDir), {
    maxPhotosPerClass: o.maxPhotosPerClass ?? DEFAULT_MAX_PHOTOS_PER_CLASS,
    maxClasses: o.maxClasses ?? 50,
    maxBytes: o.limits.maxBytes,
  });
  const jobs = new TrainJobs(store, { featureCache: o.featureCache, maxQueued: o.maxQueued ?? 8 });
  // a server stopped while runs were queued or training: those runs say so, and can be resumed
  for (const run of await store.list())
    if (run.status === 'queued' || run.status === 'training') {
      await store.update(run.id, (r) => (r.status = 'interrupted'));
      await store.clean(run.id);
    }
  server.addHook('onClose', async () => jobs.close());

  const body = (req: FastifyRequest): Record<string, unknown> => {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    if (!raw.trim()) return {};
    try {
      const v = JSON.parse(raw) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // answered below
    }
    throw new ImgclassError('BAD_OPTION', 'the request body must be a JSON object');
  };
  const idOf = (req: FastifyRequest) => (req.params as { id: string }).id;

  // fflate's browser build, for device mode's zip of a run made in the browser (same library as the server's zip)
  server.get('/vendor/fflate.js', async (_req, reply) =>
    reply
      .header('Cache-Control', 'public, max-age=3600')
      .type('text/javascript')
      .send(await readFile(path.join(path.dirname(require.resolve('fflate/package.json')), 'esm', 'browser.js'))),
  );

  server.get('/api/train/config', async () => ({
    defaults: PAGE_DEFAULTS,
    limits: { maxPhotosPerClass: store.limits.maxPhotosPerClass, maxClasses: store.limits.maxClasses, maxBytes: store.limits.maxBytes },
    fewPhotos: FEW_PHOTOS,
    minPhotos: MIN_PHOTOS,
    runsDir: store.root,
  }));

  server.get('/api/train/runs', async () => {
    const runs = await store.list();
    return Promise.all(
      runs.map(async (r) => {
        const s = store.summary(r);
        const report = await readReport(store.runDir(r.id));
        return {
          id: r.id,
          createdAt: r.createdAt,
          status: r.status,
          classes: s.classes.map((c) => c.name),
          photos: s.photos,
          accuracy: report?.accuracy ?? null,
        };
      }),
    );
  });

  server.post('/api/train/runs', async (_req, reply) => {
    const run = await store.create();
    return reply.code(201).send(await runView(store, jobs, run));
  });

  server.get('/api/train/runs/:id', async (req) => runView(store, jobs, await store.read(idOf(req))));

  server.post('/api/train/runs/:id/classes', async (req) => runView(store, jobs, await store.addClass(idOf(req), body(req).name)));

  server.delete('/api/train/runs/:id/classes/:folder', async (req) => {
    const { id, folder } = req.params as { id: string; folder: string };
    return runView(store, jobs, await store.removeClass(id, folder));
  });

  // One photo per request, its bytes as the body; its name in ?name= (only used, sanitised, for the stored file).
  // A folder dropped on the page is hundreds of these in a minute: they get their own, larger rate
  // limit (the photos per class are bounded anyway), not the API's per-minute one.
  server.post('/api/train/runs/:id/classes/:folder/photos', { config: { rateLimit: PHOTO_UPLOAD_RATE_LIMIT } }, async (req) => {
    const { id, folder } = req.params as { id: string; folder: string };
    const name = String((req.query as { name?: unknown }).name ?? 'photo');
    const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const r = await store.addPhoto(id, folder, name, bytes, o.limits);
    const run = await store.read(id);
    return { ...r, summary: store.summary(run) };
  });

  server.post('/api/train/runs/:id/train', async (req, reply) => {
    const b = body(req);
    const int = (k: string) => {
      const v = b[k];
      if (v === undefined) return undefined;
      if (!Number.isInteger(v) || (v as number) < (k === 'patience' ? 0 : 1) || (v as number) > 1000)
        throw new ImgclassError('BAD_OPTION', `${k} must be a whole number from ${k === 'patience' ? 0 : 1} to 1000`);
      return v as number;
    };
    await jobs.train(idOf(req), { epochs: int('epochs'), patience: int('patience') });
    return reply.code(202).send(await runView(store, jobs, await store.read(idOf(req))));
  });

  server.post('/api/train/runs/:id/resume', async (req, reply) => {
    const id = idOf(req);
    const run = await store.read(id);
    if (run.status !== 'interrupted') throw new ImgclassError('BAD_OPTION', `run ${id} is ${run.status}, not interrupted`);
    await jobs.train(id, { resume: true });
    return reply.code(202).send(await runView(store, jobs, await store.read(id)));
  });

  server.post('/api/train/runs/:id/stop', async (req) => {
    await jobs.stop(idOf(req));
    return runView(store, jobs, await store.read(idOf(req)));
  });

  server.get('/api/train/queue', async () => jobs.overview());

  // Live progress as server-sent events: the run's whole state at once, then again on each change.
  server.get('/api/train/runs/:id/events', async (req, reply) => {
    const id = idOf(req);
    await store.read(id); // 404 for a run that does not exist
    reply.hijack();
    reply.raw.writeHead(200, {
      ...ISOLATION_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    let pending = false;
    const push = async () => {
      if (pending) return;
      pending = true;
      // changes come in bursts (a progress tick, an epoch): one message per burst
      await new Promise((r) => setTimeout(r, 50));
      pending = false;
      const view = await runView(store, jobs, await store.read(id)).catch(() => null);
      if (view && !reply.raw.destroyed) reply.raw.write(`event: state\ndata: ${JSON.stringify(view)}\n\n`);
    };
    const unsubscribe = jobs.subscribe((changed) => {
      if (changed === id || jobs.isBusy(changed)) void push();
    });
    const keepAlive = setInterval(() => reply.raw.write(': keep-alive\n\n'), 15_000);
    req.raw.on('close', () => {
      unsubscribe();
      clearInterval(keepAlive);
    });
    void push();
  });

  // Try it: the run's model on a new photo, on the server (one model kept loaded: the last tried).
  let loaded: { runId: string; pipeline: Promise<ImageClassificationPipeline> } | null = null;
  server.post('/api/train/runs/:id/classify', async (req) => {
    const id = idOf(req);
    if (!(await store.exists(id, 'model/manifest.json'))) throw new ImgclassError('MODEL_NOT_FOUND', `run ${id} has no trained model yet`);
    if (loaded?.runId !== id) {
      const previous = loaded;
      loaded = { runId: id, pipeline: ImageClassificationPipeline.create({ modelDir: path.join(store.runDir(id), 'model'), topK: 5, limits: o.limits }) };
      loaded.pipeline.catch(() => (loaded = null));
      void previous?.pipeline.then((p) => p.dispose()).catch(() => {});
    }
    const pipeline = await loaded.pipeline;
    const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const r = await pipeline.classify(bytes);
    return { ...r, label: r.unknown?.unknown ? 'unknown' : r.top[0]!.name };
  });

  // Download: the verified ONNX export (made on first request, in the queue) and its JSON.
  server.post('/api/train/runs/:id/export', async (req, reply) => {
    const id = idOf(req);
    if (!(await store.exists(id, 'model/manifest.json'))) throw new ImgclassError('MODEL_NOT_FOUND', `run ${id} has no trained model yet`);
    if (!(await store.exists(id, `export/${id}.onnx`))) jobs.exportRun(id);
    return reply.code(202).send(await runView(store, jobs, await store.read(id)));
  });
  for (const ext of ['onnx', 'json'] as const) {
    server.get(`/api/train/runs/:id/export.${ext}`, async (req, reply) => {
      const id = idOf(req);
      const file = path.join(store.runDir(id), 'export', `${id}.${ext}`);
      if (!(await store.exists(id, `export/${id}.${ext}`)))
        throw new ImgclassError('FILE_NOT_FOUND', `run ${id} has not been exported yet: POST …/export first`);
      return reply
        .header('Content-Disposition', `attachment; filename="${id}.${ext}"`)
        .type(ext === 'onnx' ? 'application/octet-stream' : 'application/json')
        .send(createReadStream(file));
    });
  }

  // The whole run directory as a zip (photos, model, records, report): the CLI takes it from there.
  server.get('/api/train/runs/:id/run.zip', async (req, reply) => {
    const id = idOf(req);
    if (jobs.isBusy(id)) throw new ImgclassError('BAD_OPTION', `run ${id} is training: download it when it has finished`);
    const dir = store.runDir(id);
    const files: Zippable = {};
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const rel = path.relative(dir, path.join(entry.parentPath, entry.name));
      if (rel.startsWith('.incoming') || rel.includes('.tmp-')) continue;
      const bytes = await readFile(path.join(dir, rel));
      // photos and weights do not shrink: store them, deflate the text
      files[`${id}/${rel.split(path.sep).join('/')}`] = [bytes, { level: /\.(json|jsonl|csv|svg|txt)$/i.test(rel) ? 6 : 0 }];
    }
    const zipped = await new Promise<Uint8Array>((resolve, reject) => zip(files, (e, d) => (e ? reject(e) : resolve(d))));
    return reply
      .header('Content-Disposition', `attachment; filename="${id}.zip"`)
      .type('application/zip')
      .send(Buffer.from(zipped.buffer, zipped.byteOffset, zipped.byteLength));
  });

  // The report's pictures, as `train` and `eval` render them; only these names are served.
  const PICTURES: Record<string, string> = {
    'curves.png': 'curves.png',
    'confusion.png': 'eval-test/confusion.png',
    'top-losses.png': 'eval-test/top-losses.png',
  };
  server.get('/api/train/runs/:id/pictures/:name', async (req, reply) => {
    const { id, name } = req.params as { id: string; name: string };
    const rel = PICTURES[name];
    if (!rel || !(await store.exists(id, rel))) throw new ImgclassError('FILE_NOT_FOUND', `no picture ${name} in run ${id}`);
    return reply
      .header('Cache-Control', 'no-cache')
      .type('image/png')
      .send(await readFile(path.join(store.runDir(id), rel)));
  });
}

/** Everything the page shows of a run, in one object (the GET answer and each server-sent event). */
async function runView(store: TrainStore, jobs: TrainJobs, run: PageRun) {
  const dir = store.runDir(run.id);
  const live = jobs.state(run.id);
  const report = await readReport(dir);
  const history = live?.history.length ? live.history : await readHistory(dir);
  const exported = await stat(path.join(dir, 'export', `${run.id}.json`))
    .then(async () => JSON.parse(await readFile(path.join(dir, 'export', `${run.id}.json`), 'utf8')) as { verification: unknown; bytes: number })
    .catch(() => null);
  const resumable = run.status === 'interrupted';
  const epochs =
    live?.epochs ??
    (await readFile(path.join(dir, 'config.json'), 'utf8')
      .then((t) => (JSON.parse(t) as { epochs: number }).epochs)
      .catch(() => PAGE_DEFAULTS.epochs));
  return {
    run: { id: run.id, createdAt: run.createdAt, status: run.status, error: run.error, classes: run.classes, options: run.options },
    summary: store.summary(run),
    live,
    history,
    lines: live?.lines.length ? live.lines : epochLines(history, epochs),
    epochs,
    report,
    export: exported ? { ready: true, verification: exported.verification, bytes: exported.bytes } : { ready: false, ...live?.export },
    resumable,
    queue: jobs.overview(),
    cli: {
      resume: `imgclass train ${path.join(dir, 'data')} --resume ${dir}`,
      eval: `imgclass eval ${dir} ${path.join(dir, 'data')}`,
      classify: `imgclass classify --model ${dir} PHOTO…`,
      export: `imgclass export ${path.join(dir, 'model')} --out ${run.id}.onnx`,
      serve: `imgclass serve --model ${dir}`,
    },
  };
}

interface EvalFile extends Evaluation {
  scored: { description: string; n: number };
  topLosses: { file: string; actual: string; predicted: string; probabilityOfActual: number }[];
  leaks: unknown[];
  unknown?: { falseUnknownRate: number; n: number };
}

/** The held-out report of a trained run (eval-test/eval.json) with the advice the page gives. */
async function readReport(runDir: string) {
  const e = await readFile(path.join(runDir, 'eval-test', 'eval.json'), 'utf8')
    .then((t) => JSON.parse(t) as EvalFile)
    .catch(() => null);
  if (!e) return null;
  const manifest = await readFile(path.join(runDir, 'model', 'manifest.json'), 'utf8')
    .then((t) => JSON.parse(t) as { unknown?: UnknownCalibration; metrics?: Record<string, number>; training?: Record<string, unknown> })
    .catch(() => null);
  const counts = await readFile(path.join(runDir, 'data.json'), 'utf8')
    .then((t) => (JSON.parse(t) as { counts: { train: number; valid: number; test: number } }).counts)
    .catch(() => null);
  return {
    n: e.n,
    description: e.scored.description,
    counts,
    accuracy: e.accuracy,
    macro: e.macro,
    perClass: e.perClass,
    confusion: e.confusion,
    classes: e.classes,
    logLoss: e.logLoss,
    topLosses: e.topLosses.map((t) => ({ ...t, file: path.relative(runDir, t.file) })),
    leaks: e.leaks.length,
    unknown: manifest?.unknown
      ? {
          threshold: manifest.unknown.threshold,
          measured: manifest.unknown.measured,
          onThesePhotos: e.unknown ?? null,
          imagenetClasses: manifest.unknown.imagenetIndices.length,
        }
      : null,
    kept: manifest?.metrics ?? null,
    training: manifest?.training ?? null,
    advice: advice(e),
  };
}

/** What to do next when the model is weak: the classes it confuses most, and small classes. */
export function advice(e: Pick<Evaluation, 'accuracy' | 'perClass' | 'confusion' | 'classes'>): string[] {
  const out: string[] = [];
  const pairs: { a: string; b: string; n: number }[] = [];
  e.confusion.forEach((row, i) =>
    row.forEach((n, j) => {
      if (i !== j && n > 0) pairs.push({ a: e.classes[i]!, b: e.classes[j]!, n });
    }),
  );
  pairs.sort((x, y) => y.n - x.n);
  const weak = Object.entries(e.perClass).filter(([, m]) => m.recall < 0.8 && m.support > 0);
  if (e.accuracy >= 0.95 && weak.length === 0) return out;
  for (const p of pairs.slice(0, 3))
    out.push(
      `${p.n} held-out photo${p.n === 1 ? '' : 's'} of ${p.a} ${p.n === 1 ? 'was' : 'were'} taken for ${p.b}: add more photos of ${p.a} and ${p.b}, especially ones that tell them apart.`,
    );
  for (const [c, m] of weak)
    if (m.support < FEW_PHOTOS)
      out.push(`${c} has only ${m.support} held-out photos, so its figures are rough: more photos of ${c} make both the model and the figure better.`);
  if (out.length === 0) out.push('Add more photos of every class, taken in the conditions where the model will be used.');
  return out;
}
