/**
 * npm run bench:serve — load test on loopback: the real server, real shared photos, autocannon
 * at concurrency 8 for 30 s (BENCH_SECONDS to change). Reports requests/s, p50/p99 latency,
 * errors and non-2xx (503s are the bounded queue refusing a burst, by design), RSS before and after.
 * Reference in the same run: GET /api/health under the same load (the HTTP stack alone).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import autocannon from 'autocannon';
import { createDogApp } from '../src/app/dog-app.js';
import { buildServer } from '../src/server/server.js';
import { sampleClassFolders, sharedDataDir } from '../test/shared.js';
import { table } from './stats.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 30);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 8);
const data = sharedDataDir();
const photos = await Promise.all([
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 2),
  ...sampleClassFolders(path.join(data, 'lfw'), 1).slice(0, 10),
  ...sampleClassFolders(path.join(data, 'negatives'), 2),
].map((f) => readFile(f.file)));

const app = await createDogApp();
const server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web'), maxWaiting: 16 });
const base = await server.listen({ host: '127.0.0.1', port: 0 });
const mb = () => Math.round(process.memoryUsage().rss / 1e6);
const rssBefore = mb();

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

const health = await run({ url: `${base}/api/health`, connections, duration: Math.min(5, seconds) });
let i = 0;
const predict = await run({
  url: `${base}/api/predict`,
  method: 'POST',
  connections,
  duration: seconds,
  headers: { 'content-type': 'application/octet-stream' },
  requests: [{ setupRequest: (req) => ({ ...req, body: photos[i++ % photos.length] }) }],
});
const rssAfter = mb();
await server.close();
app.dispose();

const row = (name: string, r: autocannon.Result) => [name, r.requests.average.toFixed(1), `${r.latency.p50} ms`, `${r.latency.p99} ms`, String(r.errors), String(r.non2xx), String(r['2xx'])];
console.log(`bench:serve: ${connections} connections, ${seconds} s, ${photos.length} photos rotating; RSS ${rssBefore} MB before, ${rssAfter} MB after\n`);
console.log(table(['endpoint', 'req/s', 'p50', 'p99', 'errors', 'non-2xx (503 = queue full)', '2xx'], [row('reference: GET /api/health', health), row('POST /api/predict (raw JPEG)', predict)]));
