/**
 * npm run bench:train-device — training in the browser (device mode: onnxruntime-web features,
 * TF.js head, in Debian's headless Chromium) against the command line's `imgclass train` on the
 * same photos (the vehicles set, or `--per-class N` photos of each class), with the held-out
 * accuracy of each. Photos go to the tab as files (no upload); each side starts with no features
 * cached (the CLI with an empty --feature-cache).
 *
 * In one tab: run 1 is the whole thing cold (models fetched and compiled, every photo's features
 * computed); runs 2 and 3 train again on this tab's cached features with TF.js on the cpu and the
 * wasm backend, which isolates head training for the backend comparison. The CLI runs as a child
 * process, cold and then again with its feature cache warm. Ratios are to the CLI's cold run, measured in
 * this same run (the machine is shared; absolute times mean little).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDogApp } from '../src/app/dog-app.js';
import { buildServer } from '../src/server/server.js';
import { launchChromium } from '../support/chromium.js';
import { meterServer } from '../support/served.js';
import { sharedDataDir } from '../support/shared.js';
import { classFolderSubset, trainInPage, type PageTrainResult } from '../support/train-device.js';
import { table } from './stats.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const perClass = Number(arg('--per-class') ?? 1000);
const vehicles = path.join(sharedDataDir(), 'vehicles');
const classes = classFolderSubset(vehicles, perClass);
const n = classes.reduce((a, c) => a + c.files.length, 0);

// the same photos as a folder-per-class data set for the CLI
const work = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bench-train-device-'));
const dataDir = path.join(work, 'vehicles');
for (const c of classes) {
  await mkdir(path.join(dataDir, c.name), { recursive: true });
  for (const f of c.files) await symlink(f, path.join(dataDir, c.name, path.basename(f)));
}

async function cliTrain(out: string, cache: string): Promise<{ ms: number; accuracy: number; n: number; epochs: number; stdout: string }> {
  const t0 = performance.now();
  const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'train', dataDir, '--out', out, '--feature-cache', cache], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let text = '';
    let err = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`imgclass train exited ${code}: ${err.slice(-2000)}`))));
  });
  const ms = performance.now() - t0;
  const m = stdout.match(/test: (\d+) held-out photos, accuracy ([\d.]+)%/);
  const e = stdout.match(/trained (\d+) epochs/);
  if (!m || !e) throw new Error(`cannot read the CLI's result:\n${stdout}`);
  return { ms, accuracy: Number(m[2]) / 100, n: Number(m[1]), epochs: Number(e[1]), stdout };
}

// the CLI first, while no browser competes for the two cores
const cache = path.join(work, 'features');
const cliCold = await cliTrain(path.join(work, 'run-cold'), cache);
const cliWarm = await cliTrain(path.join(work, 'run-warm'), cache);

const app = await createDogApp();
const server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web') });
const served = meterServer(server);
const base = await server.listen({ host: '127.0.0.1', port: 0 });
const manifest = (await (await fetch(`${base}/api/train-device`)).json()) as { bundle: string };
const bundleBytes = (await (await fetch(`${base}${manifest.bundle}`)).arrayBuffer()).byteLength;
const browser = await launchChromium();
const page = await browser.newPage();
const uploads: string[] = [];
page.on('request', (r) => {
  if (r.method() !== 'GET' || (r.postDataBuffer()?.length ?? 0) > 0) uploads.push(`${r.method()} ${r.url()}`);
});
await page.goto(`${base}/api/health`);
const from = served.length;
const cold = await trainInPage(page, classes);
const downloaded = served.slice(from).reduce((a, r) => a + r.bytes, 0);
const cpu = await trainInPage(page, classes, { tfBackend: 'cpu' });
const wasm = await trainInPage(page, classes, { tfBackend: 'wasm' });
await browser.close();
await server.close();
app.dispose();

const s = (ms: number) => (ms / 1000).toFixed(1);
const ratio = (ms: number) => (ms / cliCold.ms).toFixed(2);
const acc = (r: PageTrainResult) => `${(r.report.test.accuracy * 100).toFixed(1)}% of ${r.report.test.n}`;
const t = cold.report.timings;
console.log(`\n${n} photos (${classes.map((c) => `${c.name} ${c.files.length}`).join(', ')}); ${os.cpus().length} cores, ${new Date().toISOString()}`);
console.log(
  table(
    ['run', 'wall s', 'ratio to CLI cold', 'epochs (best)', 'held-out accuracy'],
    [
      ['CLI `imgclass train`, empty feature cache', s(cliCold.ms), '1.00', `${cliCold.epochs}`, `${(cliCold.accuracy * 100).toFixed(1)}% of ${cliCold.n}`],
      [
        'CLI `imgclass train`, features cached',
        s(cliWarm.ms),
        ratio(cliWarm.ms),
        `${cliWarm.epochs}`,
        `${(cliWarm.accuracy * 100).toFixed(1)}% of ${cliWarm.n}`,
      ],
      [
        'browser, cold (models fetched, all features computed)',
        s(t.totalMs),
        ratio(t.totalMs),
        `${cold.report.history.length} (${cold.report.best.epoch})`,
        acc(cold),
      ],
      [
        'browser, features cached in the tab, TF.js cpu',
        s(cpu.report.timings.totalMs),
        ratio(cpu.report.timings.totalMs),
        `${cpu.report.history.length} (${cpu.report.best.epoch})`,
        acc(cpu),
      ],
      [
        'browser, features cached in the tab, TF.js wasm',
        s(wasm.report.timings.totalMs),
        ratio(wasm.report.timings.totalMs),
        `${wasm.report.history.length} (${wasm.report.best.epoch})`,
        acc(wasm),
      ],
    ],
  ),
);
console.log('\nbrowser stages, seconds');
console.log(
  table(
    ['run', 'load models', 'features (computed)', 'head training', 'per epoch', 'report', 'export build', 'export check', 'total'],
    [cold, cpu, wasm].map((r, i) => {
      const x = r.report.timings;
      return [
        ['cold, wasm', 'warm, cpu', 'warm, wasm'][i]!,
        s(x.loadMs),
        `${s(x.featuresMs)} (${x.computedFeatures})`,
        s(x.trainMs),
        (x.trainMs / 1000 / r.report.history.length).toFixed(2),
        s(x.evalMs),
        s(x.exportMs),
        s(x.verifyMs),
        s(x.totalMs),
      ];
    }),
  ),
);
console.log(
  `\nfeatures: ${((t.featuresMs / t.computedFeatures) | 0).toString()} ms a photo (photo + mirror image) on onnxruntime-web with ${cold.report.ortThreads} threads; ` +
    `downloaded ${(downloaded / 1e6).toFixed(1)} MB (bundle ${(bundleBytes / 1e6).toFixed(2)} MB); export check max |Δp| ${cold.report.verification.maxAbsDiff.toExponential(2)}; ` +
    `requests with a body: ${uploads.length}`,
);
