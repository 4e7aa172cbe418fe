/**
 * npm run bench:soak — a soak test of the real server on loopback (127.0.0.1 only): 10 minutes
 * (SOAK_SECONDS to change) of mixed good and hostile uploads at concurrency 8 (SOAK_CONNECTIONS),
 * through autocannon. Reports requests, status codes, latency p50/p99, RSS after warm-up and at the
 * end (with its minimum and maximum, sampled every second), and exits 1 on any 5xx or connection
 * error, or when RSS at the end is more than 10% above RSS after a warm-up under the same load
 * (SOAK_WARMUP_SECONDS, default 60).
 * A benchmark, not a test: it takes minutes and its figures go in notes and the README.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { createDogApp } from '../src/app/dog-app.js';
import { buildServer } from '../src/server/server.js';
import { encode, hugePngHeader, PDF, SVG } from '../support/fixtures.js';
import { sampleClassFolders, sharedDataDir } from '../support/shared.js';
import { rng, shuffled } from '../src/util/random.js';
import { quantile, table } from './stats.js';

const seconds = Number(process.env.SOAK_SECONDS ?? 600);
/** Load before RSS is taken: the wasm heap and allocator pools grow to their working size first. */
const warmupSeconds = Number(process.env.SOAK_WARMUP_SECONDS ?? 60);
const connections = Number(process.env.SOAK_CONNECTIONS ?? 8);
const maxBytes = 4_000_000;
const data = sharedDataDir();

// Good uploads: real photos of dogs, people and other things, in several containers.
const photos = await Promise.all(
  [
    ...sampleClassFolders(path.join(data, 'imagewoof/val'), 1),
    ...sampleClassFolders(path.join(data, 'lfw'), 1).slice(0, 4),
    ...sampleClassFolders(path.join(data, 'negatives'), 1),
  ].map((f) => readFile(f.file)),
);
const good: [string, Buffer][] = [
  ...photos.map((p, i) => [`photo ${i}`, p] as [string, Buffer]),
  ['png', await sharp(photos[0]).png().toBuffer()],
  ['webp', await sharp(photos[1]).webp().toBuffer()],
  ['gif', await sharp(photos[2]).resize(160).gif().toBuffer()],
];
// Hostile uploads: every way an upload can be wrong, each answered with a 4xx.
const random = rng(3);
const flipped = (b: Buffer, n: number) => {
  const c = Buffer.from(b);
  for (let i = 0; i < n; i++) c[Math.floor(random() * Math.min(c.length, 2000))]! ^= 1 << Math.floor(random() * 8);
  return c;
};
const hostile: [string, Buffer][] = [
  ['text', Buffer.from('hello, world')],
  ['json', Buffer.from('{"image": "data:image/png;base64,AAAA"}')],
  ['svg', SVG],
  ['pdf', PDF],
  ['random bytes', Buffer.from(Array.from({ length: 4096 }, () => Math.floor(random() * 256)))],
  ['truncated jpeg', photos[0]!.subarray(0, 600)],
  ['truncated png', (await encode('png', 300, 300)).subarray(0, 200)],
  ['header bit flips', flipped(photos[1]!, 24)],
  ['png 40000×40000 header', hugePngHeader(40000, 40000)],
  ['png zip bomb', zipBomb()],
  ['bmp', Buffer.concat([Buffer.from('BM'), Buffer.alloc(64)])],
];
// interleaved (seeded shuffle), so any stretch of the run sees the same mix
const bodies = shuffled([...good, ...hostile], rng(5));
// Beside the load (fetch, one every second, alternating), so the load generator's own error count
// stays a clean signal: an upload over the byte limit (the server answers 413 and closes without
// reading the rest, which a client still sending may see as a reset), and an empty body (autocannon,
// rotating bodies, did not always send it as one: empty requests timed out client-side while the
// server answers a well-formed empty POST with 400 in milliseconds).
const overLimit = Buffer.alloc(maxBytes + 1000, 7);
const beside: [string, Buffer][] = [
  ['over the byte limit', overLimit],
  ['empty', Buffer.alloc(0)],
];

/** A PNG with an honest 4000×4000 header whose IDAT inflates to 48 MB of zeros. */
function zipBomb(): Buffer {
  const h = hugePngHeader(4000, 4000);
  const ihdrEnd = 8 + 25;
  const idat = deflateSync(Buffer.alloc(48_000_000));
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    let c = ~0;
    for (const x of tb) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(~c >>> 0);
    return Buffer.concat([len, tb, crc]);
  };
  return Buffer.concat([h.subarray(0, ihdrEnd), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

const app = await createDogApp();
await app.warmUp(); // what loads on first need, loaded first, as `serve` does once ready
const server = await buildServer({
  app,
  webRoot: path.resolve(import.meta.dirname, '..', 'web'),
  // it hammers the API from one address on purpose: no per-client rate limit (the default is 300 a minute)
  security: { rateLimit: false },
  limits: { maxBytes },
  maxWaiting: 16,
});
const base = await server.listen({ host: '127.0.0.1', port: 0 });
const mb = () => Math.round(process.memoryUsage().rss / 1e6);

const rssIdle = mb();
const load = (duration: number) => {
  let i = 0;
  return new Promise<autocannon.Result>((resolve, reject) =>
    autocannon(
      {
        url: `${base}/api/predict`,
        method: 'POST',
        connections,
        duration,
        timeout: 60,
        headers: { 'content-type': 'application/octet-stream' },
        requests: [{ setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length]![1] }) }],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
};
const warm = await load(warmupSeconds);
const rssStart = mb();
const samples: number[] = [];
const sampler = setInterval(() => samples.push(mb()), 1000);
const over: Record<string, number> = {};
let k = 0;
const overLoop = setInterval(() => {
  const [name, body] = beside[k++ % beside.length]!;
  fetch(`${base}/api/predict`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'application/octet-stream' } })
    .then(async (r) => {
      const key = `${name} → ${r.status}`;
      over[key] = (over[key] ?? 0) + 1;
      return r.arrayBuffer();
    })
    .catch(() => (over[`${name} → reset`] = (over[`${name} → reset`] ?? 0) + 1));
}, 1000);
const result = await load(seconds);
clearInterval(overLoop);
clearInterval(sampler);
const rssEnd = mb();
const health = await (await fetch(`${base}/api/health`)).json();
await server.close();
app.dispose();

const codes = Object.entries((result as autocannon.Result & { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}).map(
  ([code, s]) => `${code}: ${s.count}`,
);
const fivexx =
  result['5xx'] +
  warm['5xx'] +
  Object.entries(over)
    .filter(([key]) => / 5\d\d$/.test(key))
    .reduce((a, [, n]) => a + n, 0);
const growth = (rssEnd - rssStart) / rssStart;
console.log(
  `bench:soak: ${seconds} s on ${base}, ${connections} connections, ${good.length} good and ${hostile.length} ` +
    `hostile bodies rotating (${bodies.map((b) => b[0]).join(', ')})\n`,
);
console.log(
  table(
    ['requests', 'req/s', 'status codes', 'p50', 'p99', 'max', '5xx', 'errors / timeouts', 'RSS after warm-up', 'RSS end', 'RSS min–max'],
    [
      [
        result.requests.total,
        result.requests.average.toFixed(1),
        codes.join(', '),
        `${result.latency.p50} ms`,
        `${result.latency.p99} ms`,
        `${result.latency.max} ms`,
        fivexx,
        `${result.errors} / ${result.timeouts}`,
        `${rssStart} MB`,
        `${rssEnd} MB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%)`,
        `${Math.min(...samples)}–${Math.max(...samples)} MB (p50 ${quantile(samples, 0.5)} MB)`,
      ],
    ],
  ),
);
console.log(`\nwarm-up: ${warmupSeconds} s, ${warm.requests.total} requests, ${warm['5xx']} 5xx; RSS ${rssIdle} MB idle → ${rssStart} MB after warm-up`);
console.log(
  `beside the load (over the byte limit: ${(overLimit.length / 1e6).toFixed(1)} MB): ${Object.entries(over)
    .map(([key, v]) => `${key}: ${v}`)
    .join(', ')}`,
);
console.log(`server still healthy after the soak: ${health.status}`);
const ok = fivexx === 0 && result.errors === 0 && result.timeouts === 0 && growth <= 0.1;
if (!ok) console.log(`FAILED: ${fivexx} 5xx, ${result.errors} errors (${result.timeouts} timeouts), RSS ${(growth * 100).toFixed(1)}% (limit +10%)`);
process.exit(ok ? 0 : 1);
