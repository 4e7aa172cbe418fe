import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DogApp } from '../app/dog-app.js';
import { ImageClassificationPipeline } from '../app/image-classification.js';
import { decodeInput, resolveLimits, type DecodeLimits } from '../data/image.js';
import { ImgclassError, type ImgclassErrorCode } from '../util/errors.js';
import { BoundedQueue, QueueFullError } from './queue.js';
import { DEFAULT_BACKBONE } from '../models/registry.js';
import { registerTrainRoutes, type TrainRoutesOptions } from './train-routes.js';
import { ISOLATION_HEADERS } from '../app/device-manifest.js';
import { harden, serverTimeouts, type SecurityOptions } from './hardening.js';
import type { DeviceAssets, TrainDeviceAssets } from './device-assets.js';
import { ORT_WEB_DIST, ORT_WEB_FILES, ORT_WEB_PREFIX } from './ort-web-files.js';
import { requireCjs } from '../util/require-cjs.js';

const Fastify = (requireCjs('fastify') as typeof import('fastify')).default;
const multipart = (requireCjs('@fastify/multipart') as typeof import('@fastify/multipart')).default;
const fastifyStatic = (requireCjs('@fastify/static') as typeof import('@fastify/static')).default;

export interface ServerOptions {
  app: DogApp;
  /** Directory of the static page. */
  webRoot: string;
  /**
   * The one set of decode limits of this server (default: the app's own, else the defaults):
   * the request body limit, the multipart file limit, the decoder's byte, pixel and side limits,
   * and what /api/models reports all come from it.
   */
  limits?: Partial<DecodeLimits>;
  /** Shorthands for limits.maxBytes and limits.maxPixels. */
  maxBytes?: number;
  maxPixels?: number;
  /**
   * Inference jobs run at once (default 2: one request's decoding and face search overlap
   * another's backbone pass; measured by bench:serve) and allowed to wait.
   */
  concurrency?: number;
  maxWaiting?: number;
  logger?: boolean;
  /** Security headers, rate limit, token and timeouts (hardening.ts); safe defaults when left out. */
  security?: SecurityOptions;
  /** The Train view (web/train.html): where its runs live and its limits; unset, the view has no API. */
  train?: Omit<TrainRoutesOptions, 'limits'>;
}

/** HTTP status for each way an upload can be bad: never a 500 for the client's input. */
const STATUS: Partial<Record<ImgclassErrorCode, number>> = {
  EMPTY_INPUT: 400,
  TOO_MANY_BYTES: 413,
  TOO_MANY_PIXELS: 413,
  NOT_AN_IMAGE: 415,
  UNSUPPORTED_FORMAT: 415,
  CORRUPT_IMAGE: 422,
};

export async function buildServer(o: ServerOptions): Promise<FastifyInstance> {
  const limits = resolveLimits(o.app.options.limits, o.limits, { maxBytes: o.maxBytes, maxPixels: o.maxPixels });
  const { maxBytes } = limits;
  // every upload is decoded here, with this server's limits, before the app sees it
  const decode = (bytes: Uint8Array) => decodeInput(bytes, limits);
  const queue = new BoundedQueue(o.concurrency ?? 2, o.maxWaiting ?? 16);
  const started = Date.now();
  const server = Fastify({ logger: o.logger ?? false, bodyLimit: maxBytes, ...serverTimeouts(o.security) });
  // The app's JSON errors, set before anything is registered: Fastify gives a route the error
  // handler its context had when the route was added (an awaited plugin registration adds the routes
  // before it at once), and the Train view's plugin (train-routes.ts) passes on what it does not
  // handle to the handler its parent had when it was registered. Set later, a token refusal on
  // /api/train/… or an undecodable upload came back in Fastify's default shape (a 500 for the latter).
  server.setNotFoundHandler((req, reply) => sendError(reply, 404, `no route ${req.method} ${req.url}`));
  server.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof QueueFullError) {
      void reply.header('Retry-After', '1');
      return sendError(reply, 503, err.message);
    }
    if (err instanceof ImgclassError) return sendError(reply, STATUS[err.code] ?? 422, err.message);
    if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
      return sendError(reply, 413, `upload is larger than the limit of ${(maxBytes / 1e6).toFixed(1)} MB`);
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return sendError(reply, err.statusCode, err.message);
    req.log.error(err);
    return sendError(reply, 500, 'internal error');
  });
  await harden(server, o.security); // before any route: the rate limit covers the routes declared after it

  // No JSON or text parsing: every non-multipart body is an upload, taken as raw bytes.
  server.removeAllContentTypeParsers();
  await server.register(multipart, { limits: { fileSize: maxBytes, files: 1, fields: 4, parts: 5 } });
  // Any other body is taken raw: the bytes are sniffed, the declared Content-Type is not trusted.
  server.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) => done(null, body));
  // Cross-origin isolation: lets device mode's onnxruntime-web use threads (SharedArrayBuffer).
  // Everything the page loads is same-origin, so nothing it needs is blocked by it.
  // The service worker keeps the same headers on what it serves offline (src/web/sw.ts).
  server.addHook('onSend', async (_req, reply, payload) => {
    void reply.headers(ISOLATION_HEADERS);
    return payload;
  });
  await server.register(fastifyStatic, { root: path.resolve(o.webRoot), index: 'index.html' });

  // Device mode: models and code for the browser, prepared on first request and kept. Its module
  // (the graphs' builders, the bundler) loads then too: a start does not wait for it.
  const assets = () => import('./device-assets.js');
  let device: Promise<DeviceAssets> | undefined;
  const deviceAssets = () => {
    device ??= assets().then((a) => a.buildDeviceAssets(o.app, { maxBytes, maxPixels: limits.maxPixels }));
    device.catch(() => (device = undefined));
    return device;
  };
  // Device-mode training (web/train-device.ts): its own manifest and assets, built on first request.
  let training: Promise<TrainDeviceAssets> | undefined;
  const trainDeviceAssets = () => {
    // the backbone the Train view's server mode (and the CLI's `train`) uses, so both modes train alike
    training ??= assets().then((a) => a.buildTrainDeviceAssets(DEFAULT_BACKBONE, { store: o.app.options.store, limits }));
    training.catch(() => (training = undefined));
    return training;
  };
  server.get('/api/train-device', async (_req, reply) => {
    void reply.header('Cache-Control', 'no-cache');
    return (await trainDeviceAssets()).manifest;
  });
  const IMMUTABLE = 'public, max-age=31536000, immutable';
  // The manifest: `/api/device` for programs; the page reads `/device-manifest.json`, the one the
  // service worker keeps for offline visits (it never stores anything under /api/).
  for (const url of ['/api/device', '/device-manifest.json']) {
    server.get(url, async (_req, reply) => {
      void reply.header('Cache-Control', 'no-cache');
      return (await deviceAssets()).manifest;
    });
  }
  // The service worker that makes the page work offline: from the root, so its scope is the whole
  // app, and revalidated on every visit, so a new deploy's worker is found at once.
  let worker: { version: string; bytes: Promise<Uint8Array> } | undefined;
  server.get('/sw.js', async (_req, reply) => {
    const manifest = await deviceAssets().then(
      (d) => d.manifest,
      () => null,
    );
    const { offlineConfig, bundleServiceWorker } = await assets();
    const config = await offlineConfig(path.resolve(o.webRoot), manifest);
    if (worker?.version !== config.version) worker = { version: config.version, bytes: bundleServiceWorker(config) };
    const bytes = await worker.bytes.catch((e) => {
      worker = undefined;
      throw e;
    });
    return reply
      .header('Cache-Control', 'no-cache')
      .header('Service-Worker-Allowed', '/')
      .type('text/javascript')
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  server.get('/assets/:hash/:name', async (req, reply) => {
    const url = req.url.split('?')[0]!;
    const file = (await deviceAssets()).files.get(url) ?? (await trainDeviceAssets()).files.get(url);
    if (!file) return sendError(reply, 404, `no asset ${req.url}`);
    return reply
      .header('Cache-Control', IMMUTABLE)
      .type(file.type)
      .send(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength));
  });
  // onnxruntime-web's own scripts, from the installed package (never a CDN); the version is in the path.
  server.get(`${ORT_WEB_PREFIX}:file`, async (req, reply) => {
    const name = (req.params as { file: string }).file;
    const type = ORT_WEB_FILES[name];
    if (!type) return sendError(reply, 404, `no onnxruntime-web file ${name}`);
    return reply
      .header('Cache-Control', IMMUTABLE)
      .type(type)
      .send(await readFile(path.join(ORT_WEB_DIST, name)));
  });

  server.get('/api/health', async () => ({ status: 'ok', uptimeS: Math.round((Date.now() - started) / 1000), queue: queue.stats }));
  server.get('/api/models', async () => ({ ...o.app.describe(), limits }));

  /** The upload's bytes: a multipart field named "image", or the raw body. */
  const uploadOf = async (req: FastifyRequest): Promise<Buffer | string> => {
    if (!req.isMultipart()) return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const part = await req.file();
    if (part?.fieldname !== 'image') return 'multipart upload needs a file field named "image"';
    return part.toBuffer(); // throws a 413 error past limits.fileSize
  };

  server.post('/api/predict', async (req, reply) => {
    const bytes = await uploadOf(req);
    if (typeof bytes === 'string') return sendError(reply, 400, bytes);
    const result = await queue.run(async () => o.app.classify(await decode(bytes)));
    const { width: _w, height: _h, ...answer } = result;
    return answer;
  });

  // The loaded classifier on the whole photo, without the dog/face routing (any trained model).
  const plain = ImageClassificationPipeline.fromUnit(o.app.unit, { topK: o.app.options.topK });
  server.post('/api/classify', async (req, reply) => {
    const bytes = await uploadOf(req);
    if (typeof bytes === 'string') return sendError(reply, 400, bytes);
    return queue.run(async () => plain.classify(await decode(bytes)));
  });

  if (o.train) await registerTrainRoutes(server, { ...o.train, limits });

  return server;
}

function sendError(reply: FastifyReply, status: number, message: string) {
  return reply.code(status).type('application/json').send({ error: message });
}
