/**
 * npm run bench:device — device mode in headless Chromium (Debian's) against the server path, on
 * the same 20 shared photos, in one page: per-photo round trip as the page sees it (file chosen →
 * answer shown). First visit: the first photo pays for fetching and compiling the models; steady
 * state is the median of the rest. Second visit (same browser profile): bytes fetched and the first
 * photo again. Offline visit (the browser offline, the service worker serving the page): time to
 * the page and to models ready, and the first photo. Bytes are the bodies the server sent, counted
 * on the server (the page's and the service worker's requests alike; cache hits never reach it).
 * `--screenshot FILE` saves the page in device mode after a dog photo (the README's picture).
 * BENCH_BACKBONE=name serves the app on that backbone (default: the dog app's, app/tuning.ts). The
 * server runs without the breed ensemble, which device mode leaves out, so both do the same work.
 */
import path from 'node:path';
import sharp from 'sharp';
import { type Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { meterServer, modelFiles } from '../support/served.js';
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

// the server path does the work device mode does: device mode has no breed ensemble (step 6b)
const app = await createDogApp({ ensemble: false, ...(process.env.BENCH_BACKBONE ? { backbone: process.env.BENCH_BACKBONE } : {}) });
const server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web') });
const served = meterServer(server);
const base = await server.listen({ host: '127.0.0.1', port: 0 });
await (await fetch(`${base}/api/device`)).json(); // export the device assets before timing anything
const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });

/** Bytes the server sent from now on: all, and the models and wasm. */
function meter() {
  const from = served.length;
  return () => {
    const log = served.slice(from);
    const sum = (xs: typeof log) => xs.reduce((n, r) => n + r.bytes, 0);
    // the browser's update check of /sw.js is made outside the page's emulated network (setOffline)
    const page = log.filter((r) => r.url !== '/sw.js');
    return { total: sum(log), models: sum(modelFiles(log)), requests: page.length, pageBytes: sum(page) };
  };
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

/** Waits for the service worker's update check (register() runs one late): its request belongs to this visit. */
const swSettled = (page: Page) =>
  page.evaluate(async () => {
    const reg = await navigator.serviceWorker.getRegistration();
    return reg?.update().then(
      () => true,
      () => false, // offline
    );
  });

async function visit(label: string) {
  const page = await context.newPage();
  const bytes = meter();
  const t0 = performance.now();
  await page.goto(`${base}/?run=device`);
  const loadedMs = performance.now() - t0;
  const ready = page
    .waitForFunction(() => /ready|unavailable/.test(document.getElementById('device-status')!.textContent ?? ''), undefined, { timeout: 120_000 })
    .then(() => performance.now() - t0);
  // The first photo is chosen at once: its time includes fetching/compiling the models.
  const first = await classify(page, photos[0]!);
  const readyMs = await ready;
  const status = await page.textContent('#device-status');
  await swSettled(page);
  return { label, page, bytes, first, status, loadedMs, readyMs };
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
await context.setOffline(true);
const v3 = await visit('offline visit');
const b3 = v3.bytes();
const offlineIsolated = await v3.page.evaluate(() => crossOriginIsolated);
const offlineMs: number[] = [];
for (const f of photos.slice(1, 6)) offlineMs.push(await classify(v3.page, f));
await v3.page.close();
await context.setOffline(false);

const row = (name: string, xs: number[]) => [name, `${median(xs).toFixed(0)} ms`, `${quantile(xs, 0.9).toFixed(0)} ms`];
console.log(
  `bench:device: ${app.backbone.name}, ${photos.length} photos (dogs, people, negatives), headless Chromium, cross-origin isolated: ${threads} (${v1.status})\n`,
);
console.log(
  table(
    ['per photo, file chosen → answer shown', 'median', 'p90'],
    [
      row('device mode, first photo of the first visit (fetch + compile models)', [v1.first]),
      row('device mode, first photo of the second visit (models from the cache)', [v2.first]),
      row(`device mode, steady state (${deviceMs.length} photos)`, deviceMs),
      row('device mode offline, first photo (service worker, models from the cache)', [v3.first]),
      row(`device mode offline, steady state (${offlineMs.length} photos)`, offlineMs),
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
      [`offline visit (${b3.requests} requests from the page reached the server; /sw.js update check left out)`, mbs(b3.pageBytes), mbs(b3.models)],
    ],
  ),
);
console.log();
const ms = (x: number) => `${x.toFixed(0)} ms`;
console.log(
  table(
    ['page load (goto → load event; → device mode ready)', 'page', 'models ready'],
    [
      ['first visit', ms(v1.loadedMs), ms(v1.readyMs)],
      ['second visit', ms(v2.loadedMs), ms(v2.readyMs)],
      [`offline (cross-origin isolated: ${offlineIsolated})`, ms(v3.loadedMs), ms(v3.readyMs)],
    ],
  ),
);
await browser.close();
await server.close();
app.dispose();
