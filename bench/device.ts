/**
 * npm run bench:device — device mode in headless Chromium (Debian's) against the server path, on
 * the same 20 shared photos, in one page: per-photo round trip as the page sees it (file chosen →
 * answer shown). First visit: the first photo pays for fetching and compiling the models; steady
 * state is the median of the rest. Second visit (same browser profile): bytes fetched and the first
 * photo again. Bytes are what crossed the network (CDP encodedDataLength), cache hits count 0.
 * `--screenshot FILE` saves the page in device mode after a dog photo (the README's picture).
 */
import path from 'node:path';
import sharp from 'sharp';
import { type BrowserContext, type Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { createDogApp } from '../src/app/dog-app.js';
import { buildServer } from '../src/server/server.js';
import { sampleClassFolders, sharedDataDir } from '../support/shared.js';
import { median, quantile, table } from './stats.js';

const shotArg = process.argv.indexOf('--screenshot');
const screenshot = shotArg > 0 ? process.argv[shotArg + 1] : undefined;
const data = sharedDataDir();
const photos = [
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 1),
  ...sampleClassFolders(path.join(data, 'lfw'), 1).filter((_, i) => i % 115 === 0),
  ...sampleClassFolders(path.join(data, 'negatives'), 1),
]
  .map((p) => p.file)
  .slice(0, 20);

const app = await createDogApp();
const server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web') });
const base = await server.listen({ host: '127.0.0.1', port: 0 });
await (await fetch(`${base}/api/device`)).json(); // export the device assets before timing anything
const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });

/** Bytes received over the network by this page (cache and Cache API hits are 0). */
async function meter(page: Page, ctx: BrowserContext) {
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  const byUrl = new Map<string, string>();
  let total = 0;
  let models = 0;
  cdp.on('Network.requestWillBeSent', (e) => byUrl.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    total += e.encodedDataLength;
    const url = byUrl.get(e.requestId) ?? '';
    if (/\/assets\/.*\.(onnx|wasm)$/.test(url)) models += e.encodedDataLength;
  });
  return () => ({ total, models });
}

async function classify(page: Page, file: string): Promise<number> {
  await page.evaluate(() => ((window as unknown as { __imgclassLast: unknown }).__imgclassLast = null));
  const t0 = performance.now();
  await page.setInputFiles('#file', file);
  await page.waitForFunction(() => (window as unknown as { __imgclassLast: unknown }).__imgclassLast, undefined, { timeout: 120_000 });
  const last = await page.evaluate(() => (window as unknown as { __imgclassLast: { error?: string } }).__imgclassLast);
  if (last.error) throw new Error(`${file}: ${last.error}`);
  return performance.now() - t0;
}

async function visit(label: string) {
  const page = await context.newPage();
  const bytes = await meter(page, context);
  await page.goto(`${base}/?run=device`);
  // The first photo is chosen at once: its time includes fetching/compiling the models.
  const first = await classify(page, photos[0]!);
  const status = await page.textContent('#device-status');
  return { label, page, bytes, first, status };
}

const mbs = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
const v1 = await visit('first visit');
const deviceMs: number[] = [];
for (const f of photos.slice(1)) deviceMs.push(await classify(v1.page, f));
if (screenshot) {
  await classify(v1.page, photos[2]!);
  const png = await v1.page.screenshot({ fullPage: false });
  await sharp(png).resize({ width: 800 }).png({ palette: true, quality: 80, compressionLevel: 9 }).toFile(screenshot);
}
const b1 = v1.bytes();
await v1.page.click('#run-server');
const serverFirst = await classify(v1.page, photos[0]!);
const serverMs: number[] = [];
for (const f of photos.slice(1)) serverMs.push(await classify(v1.page, f));
await v1.page.click('#run-device'); // leave device mode remembered for the second visit
await v1.page.close();
const v2 = await visit('second visit');
const b2 = v2.bytes();
const threads = await v2.page.evaluate(() => crossOriginIsolated);
await v2.page.close();

const row = (name: string, xs: number[]) => [name, `${median(xs).toFixed(0)} ms`, `${quantile(xs, 0.9).toFixed(0)} ms`];
console.log(`bench:device: ${photos.length} photos (dogs, people, negatives), headless Chromium, cross-origin isolated: ${threads} (${v1.status})\n`);
console.log(
  table(
    ['per photo, file chosen → answer shown', 'median', 'p90'],
    [
      row('device mode, first photo of the first visit (fetch + compile models)', [v1.first]),
      row('device mode, first photo of the second visit (models from the cache)', [v2.first]),
      row(`device mode, steady state (${deviceMs.length} photos)`, deviceMs),
      row('server path (POST /api/predict), first photo', [serverFirst]),
      row(`server path, steady state (${serverMs.length} photos)`, serverMs),
    ],
  ),
);
console.log();
console.log(
  table(
    ['bytes over the network', 'all', 'models + wasm'],
    [
      ['first visit (page, code, models, wasm; device mode)', mbs(b1.total), mbs(b1.models)],
      ['second visit', mbs(b2.total), mbs(b2.models)],
    ],
  ),
);
await browser.close();
await server.close();
app.dispose();
