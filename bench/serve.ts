/**
 * npm run bench:serve — load test on loopback: the real server, real shared photos, autocannon
 * at concurrency 8 for 30 s (BENCH_SECONDS to change). Reports requests/s, p50/p99 latency,
 * errors and non-2xx (503s are the bounded queue refusing a burst, by design), RSS before and after.
 * Reference in the same run: GET /api/health under the same load (the HTTP stack alone).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { createDogApp } from '../src/app/dog-app.js';
import { DEFAULT_QUALITY, type Quality } from '../src/app/quality.js';
import { DOG_APP_BACKBONE } from '../src/app/tuning.js';
import { DEFAULT_BACKBONE } from '../src/models/registry.js';
import { buildServer } from '../src/server/server.js';
import { sampleClassFolders, sharedDataDir } from '../support/shared.js';
import { bareModelWork, barePassMs, bareWorkMs, viewsPerPhoto } from './bare-pass.js';
import { table } from './stats.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 8);
const data = sharedDataDir();
const photos = await Promise.all(
  [
    ...sampleClassFolders(path.join(data, 'imagewoof/val'), 2),
    ...sampleClassFolders(path.join(data, 'lfw'), 1).slice(0, 10),
    ...sampleClassFolders(path.join(data, 'negatives'), 2),
  ].map((f) => readFile(f.file)),
);

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}
const mb = () => Math.round(process.memoryUsage().rss / 1e6);
const row = (name: string, r: autocannon.Result, extra = '') => [
  name,
  r.requests.average.toFixed(1),
  `${r.latency.p50} ms`,
  `${r.latency.p99} ms`,
  String(r.errors),
  String(r.non2xx),
  String(r['2xx']),
  extra,
];

/** One server on one engine under the load; the event loop's delay measured meanwhile. */
async function load(engine: 'onnx' | 'tfjs', duration: number, quality: Quality = 'standard', backbone?: string) {
  const app = await createDogApp({ engine, quality, ...(backbone ? { backbone } : {}) });
  await app.warmUp(); // what loads on first need, loaded first, as `serve` does once ready
  const server = await buildServer({
    app,
    webRoot: path.resolve(import.meta.dirname, '..', 'web'),
    // it hammers the API from one address on purpose: no per-client rate limit (the default is 300 a minute)
    security: { rateLimit: false },
    maxWaiting: 16,
  });
  const base = await server.listen({ host: '127.0.0.1', port: 0 });
  const rssBefore = mb();
  const health = await run({ url: `${base}/api/health`, connections, duration: Math.min(5, duration) });
  let i = 0;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const predict = await run({
    url: `${base}/api/predict`,
    method: 'POST',
    connections,
    duration,
    headers: { 'content-type': 'application/octet-stream' },
    requests: [{ setupRequest: (req) => ({ ...req, body: photos[i++ % photos.length] }) }],
  });
  loop.disable();
  const rssAfter = mb();
  await server.close();
  app.dispose();
  return { health, predict, rss: `${rssBefore} → ${rssAfter} MB`, loopP99: loop.percentile(99) / 1e6 };
}

const floorPhoto = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file;
const floorBefore = await barePassMs(floorPhoto);
// What the rotation asks of the models per request, bare: its mean over the photos (throughput is a mean, not a median).
const work = await bareWorkMs(floorPhoto);
// The engine rows run MobileNet v1 0.75, the network the floor and the bare work price (and the
// only one the old TF.js path runs); the default row is the app as shipped.
const counter = await createDogApp({ quality: 'standard', backbone: DEFAULT_BACKBONE });
const views = await viewsPerPhoto(counter, photos);
counter.dispose();
const meanWork = views.reduce((a, v) => a + bareModelWork(v, work), 0) / views.length;
const onnx = await load('onnx', seconds, 'standard', DEFAULT_BACKBONE);
const byDefault = await load('onnx', seconds, DEFAULT_QUALITY);
const tfjs = await load('tfjs', Math.min(seconds, 20), 'standard', DEFAULT_BACKBONE);
// The floor moves on a shared machine: measured before and after the load, ratios to the mean.
const floorAfter = await barePassMs(floorPhoto);
const floor = (floorBefore + floorAfter) / 2;
console.log(
  `bench:serve: ${connections} connections, ${seconds} s (TF.js ${Math.min(seconds, 20)} s), ${photos.length} ` +
    `photos rotating; bare ORT MobileNet pass ${floorBefore.toFixed(1)} / ${floorAfter.toFixed(1)} ms before / after, ` +
    `mean ${floor.toFixed(1)} → target ≥ 1/(4 × pass) = ` +
    `${(1000 / (4 * floor)).toFixed(1)} req/s\n`,
);
console.log(
  table(
    ['endpoint', 'req/s', 'p50', 'p99', 'errors', 'non-2xx (503 = queue full)', '2xx', 'RSS, event-loop delay p99 under load'],
    [
      row('reference: GET /api/health', onnx.health),
      row(`**POST /api/predict, ONNX engine, --preset standard, ${DEFAULT_BACKBONE}**`, onnx.predict, `${onnx.rss}, ${onnx.loopP99.toFixed(1)} ms`),
      row(
        `POST /api/predict, the default app (${DOG_APP_BACKBONE}, --preset ${DEFAULT_QUALITY})`,
        byDefault.predict,
        `${byDefault.rss}, ${byDefault.loopP99.toFixed(1)} ms`,
      ),
      row(`POST /api/predict, TF.js wasm (old path, --preset standard, ${DEFAULT_BACKBONE})`, tfjs.predict, `${tfjs.rss}, ${tfjs.loopP99.toFixed(1)} ms`),
    ],
  ),
);
console.log(
  `\nONNX, --preset standard: ${(onnx.predict.requests.average / tfjs.predict.requests.average).toFixed(1)}× the old path's ` +
    `requests/s; one request per ${(1000 / onnx.predict.requests.average / floor).toFixed(1)} bare passes ` +
    `(--preset ${DEFAULT_QUALITY}: one per ${(1000 / byDefault.predict.requests.average / floor).toFixed(1)}).`,
);
console.log(
  `The rotation's model work per request, bare and one pass after another (mean of its photos: ` +
    `${(views.reduce((a, v) => a + v, 0) / views.length).toFixed(2)} backbone views, a pair ${work.backbonePair.toFixed(1)} ms; YuNet ` +
    `${work.yunet.toFixed(1)} ms): ${meanWork.toFixed(1)} ms = ${(meanWork / floor).toFixed(1)} bare passes, before any decoding; ` +
    `served: one request per ${(1000 / onnx.predict.requests.average / meanWork).toFixed(2)}× that work.`,
);
