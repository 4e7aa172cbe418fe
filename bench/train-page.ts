/**
 * npm run bench:train-page — the Train view against the command line on the same photos.
 *
 * Page: Debian's Chromium fills four classes from shared/data/vehicles through /train.html; the
 * clock runs from the moment the last class's photos are dropped to the held-out report on screen
 * (the last upload, Train, features, training, the held-out scoring). CLI: `imgclass train` on the
 * photos the page stored (the same files, so the same seeded split), from spawn to exit. Each
 * round gives both a cold feature cache of their own. Device mode (BENCH_DEVICE=0 leaves it out): the
 * same drop and clock with the page in device mode, features and training in Chromium. Medians over BENCH_ROUNDS rounds (default 2),
 * alternating, reported as the page's time over the CLI's (the machine is shared: ratios, not seconds).
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDogApp } from '../src/app/dog-app.js';
import { buildServer } from '../src/server/server.js';
import { launchChromium } from '../support/chromium.js';
import { sharedDataDir } from '../support/shared.js';
import { median, table } from './stats.js';

const vehicles = path.join(sharedDataDir(), 'vehicles');
const CLASSES = ['Bus', 'Car', 'Truck', 'motorcycle'];
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const app = await createDogApp({ quality: 'standard' });
const browser = await launchChromium();
const accuracy = async (evalDir: string) => JSON.parse(await readFile(path.join(evalDir, 'eval.json'), 'utf8')) as { accuracy: number; n: number };

async function pageRound(where: 'server' | 'device' = 'server'): Promise<{ seconds: number; accuracy: number; n: number; dataDir: string; runsDir: string }> {
  const runsDir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bench-page-'));
  const featureCache = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bench-cache-'));
  const server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web'), train: { runsDir, featureCache } });
  const base = await server.listen({ host: '127.0.0.1', port: 0 });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(`${base}/train.html${where === 'device' ? '?where=device' : ''}`);
  await page.waitForSelector('body[data-ready="yes"]');
  if (where === 'server') await page.click('#new-run');
  await page.waitForSelector('#editor:not([hidden])');
  const id = (await page.evaluate(() => new URLSearchParams(location.search).get('run'))) ?? 'device';
  for (const [i, c] of CLASSES.entries()) {
    await page.fill('#class-name', c);
    await page.click('#add-class button');
    await page.waitForFunction((n) => document.querySelectorAll('.class-card').length === n, i + 1);
  }
  let t0 = 0;
  for (const [i, c] of CLASSES.entries()) {
    const files = readdirSync(path.join(vehicles, c)).map((f) => path.join(vehicles, c, f));
    if (i === CLASSES.length - 1) t0 = performance.now();
    await page.locator(`.class-card[data-folder="${c}"] input.pick`).setInputFiles(files);
    await page.waitForFunction(() => document.body.dataset.uploading === 'no', undefined, { timeout: 300_000 });
  }
  await page.click('#train');
  await page.waitForSelector('#report:not([hidden])', { timeout: 1_200_000 });
  const seconds = (performance.now() - t0) / 1000;
  const shown = /Accuracy ([\d.]+)% .* on (\d+) held-out/.exec((await page.textContent('#accuracy'))!)!;
  await page.close();
  await server.close();
  await rm(featureCache, { recursive: true, force: true });
  const a = where === 'device' ? { accuracy: Number(shown[1]) / 100, n: Number(shown[2]) } : await accuracy(path.join(runsDir, id, 'eval-test'));
  return { seconds, ...a, dataDir: path.join(runsDir, id, 'data'), runsDir };
}

async function cliRound(dataDir: string): Promise<{ seconds: number; accuracy: number; n: number }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bench-cli-'));
  const featureCache = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bench-cache-'));
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', cli, 'train', dataDir, '--out', path.join(out, 'run'), '--feature-cache', featureCache],
      { maxBuffer: 1 << 24 },
      (err, _o, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const a = await accuracy(path.join(out, 'run', 'eval-test'));
  await rm(out, { recursive: true, force: true });
  await rm(featureCache, { recursive: true, force: true });
  return { seconds, ...a };
}

const page: Awaited<ReturnType<typeof pageRound>>[] = [];
const device: Awaited<ReturnType<typeof pageRound>>[] = [];
const line: Awaited<ReturnType<typeof cliRound>>[] = [];
for (let r = 0; r < rounds; r++) {
  const p = await pageRound();
  page.push(p);
  line.push(await cliRound(p.dataDir));
  await rm(p.runsDir, { recursive: true, force: true });
  // device mode: the browser's own features and training (no feature cache of the server's)
  if (process.env.BENCH_DEVICE !== '0') device.push(await pageRound('device'));
  process.stderr.write(
    `round ${r + 1}: page ${p.seconds.toFixed(1)} s, CLI ${line.at(-1)!.seconds.toFixed(1)} s${device.length ? `, device ${device.at(-1)!.seconds.toFixed(1)} s` : ''}\n`,
  );
}
await browser.close();
app.dispose();
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const pm = median(page.map((p) => p.seconds));
const cm = median(line.map((c) => c.seconds));
process.stdout.write(
  table(
    ['vehicles, 4 classes, cold feature cache', 'time (median)', 'ratio to CLI', 'held-out accuracy per round'],
    [
      ['CLI: imgclass train (spawn → exit)', `${cm.toFixed(1)} s`, '1.00', line.map((c) => `${pct(c.accuracy)} of ${c.n}`).join(', ')],
      ['page, server mode: last drop → report', `${pm.toFixed(1)} s`, (pm / cm).toFixed(2), page.map((p) => `${pct(p.accuracy)} of ${p.n}`).join(', ')],
      ...(device.length
        ? [
            [
              'page, device mode (Chromium, nothing uploaded): last drop → report',
              `${median(device.map((d) => d.seconds)).toFixed(1)} s`,
              (median(device.map((d) => d.seconds)) / cm).toFixed(2),
              device.map((d) => `${pct(d.accuracy)} of ${d.n}`).join(', '),
            ],
          ]
        : []),
    ],
  ) + `\n${rounds} rounds; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}); ${new Date().toISOString().slice(0, 10)}\n`,
);
