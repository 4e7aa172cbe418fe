import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createDogApp, type DogApp } from '../src/app/dog-app.js';
import { loadDataset } from '../src/data/dataset.js';
import { loadImage } from '../src/data/image.js';
import { resizeFor } from '../src/data/preprocess.js';
import { EXPORT_INPUT, EXPORT_OUTPUT, type ExportInfo } from '../src/models/export.js';
import { ort } from '../src/runtime/ort-binding.js';
import { createSession } from '../src/runtime/ort.js';
import { buildServer } from '../src/server/server.js';
import { launchChromium } from '../support/chromium.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// The Train view in Debian's Chromium against the real server: four vehicle classes filled through
// the page, trained by the CLI's pipeline, the held-out report read, the ONNX downloaded and checked
// against `imgclass classify` on the held-out photos.
const vehicles = path.join(sharedDataDir(), 'vehicles');
const CLASSES = ['Bus', 'Car', 'Truck', 'motorcycle'];
const outDir = path.resolve(import.meta.dirname, 'out');
const cli = path.resolve(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
let runsDir: string;
let app: DogApp;
let server: FastifyInstance;
let base: string;
let browser: Browser;

before(async () => {
  runsDir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-train-page-'));
  app = await createDogApp({ quality: 'standard' });
  server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web'), train: { runsDir } });
  base = await server.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchChromium();
  await mkdir(outDir, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.close();
  app?.dispose();
  await rm(runsDir, { recursive: true, force: true });
});

const classFiles = (c: string) =>
  readdirSync(path.join(vehicles, c))
    .sort()
    .map((f) => path.join(vehicles, c, f));

async function newRun(page: Page, query = '', at = base): Promise<string> {
  await page.goto(`${at}/train.html${query}`);
  await page.waitForSelector('body[data-ready="yes"]');
  await page.click('#new-run');
  await page.waitForSelector('#editor:not([hidden])');
  return (await page.evaluate(() => new URLSearchParams(location.search).get('run')))!;
}

async function addClass(page: Page, name: string): Promise<void> {
  const before = await page.locator('.class-card').count();
  await page.fill('#class-name', name);
  await page.click('#add-class button');
  await page.waitForFunction((n) => document.querySelectorAll('.class-card').length === n, before + 1);
}

async function fill(page: Page, folder: string, files: string[]): Promise<void> {
  await page.locator(`.class-card[data-folder="${folder}"] input.pick`).setInputFiles(files);
  await page.waitForFunction(() => document.body.dataset.uploading === 'no', undefined, { timeout: 120_000 });
}

interface ClassifyLine {
  file: string;
  label: string;
  top: { name: string; probability: number }[];
  unknown?: { unknown: boolean };
}

/** `imgclass classify --json --model RUN` on the photos: what the server's Try it answers. */
async function classifyCli(runDir: string, files: string[]): Promise<ClassifyLine[]> {
  const cliLines = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', cli, 'classify', '--json', '--model', runDir, ...files], { maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const answers = cliLines
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ClassifyLine);
  assert.equal(answers.length, files.length);
  return answers;
}

/** The downloaded ONNX file and `imgclass classify --model RUN` on the same photos: same top-1 (asserted); returns the largest |Δp|. */
async function onnxMatchesClassify(onnxFile: string, info: ExportInfo, runDir: string, held: string[]): Promise<number> {
  const answers = await classifyCli(runDir, held);
  const session = await createSession(new Uint8Array(await readFile(onnxFile)));
  let worst = 0;
  for (const a of answers) {
    const fitted = await resizeFor(await loadImage(a.file), info.preprocessing);
    const out = await session.run({ [EXPORT_INPUT]: new ort.Tensor('float32', Float32Array.from(fitted.data), [1, fitted.height, fitted.width, 3]) });
    const p = out[EXPORT_OUTPUT]!.data as Float32Array;
    const top1 = info.classes[p.indexOf(Math.max(...p))]!.name;
    assert.equal(top1, a.top[0]!.name, `${a.file}: same top-1`);
    for (const t of a.top) worst = Math.max(worst, Math.abs(p[info.classes.findIndex((c) => c.name === t.name)]! - t.probability));
  }
  void session.release();
  return worst;
}

const countOf = (page: Page, folder: string) => page.locator(`.class-card[data-folder="${folder}"] .class-count`).textContent();

test('fill four classes through the page, train, read the held-out report, download the ONNX: its answers match imgclass classify', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const external: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) external.push(r.url());
  });
  const id = await newRun(page);
  for (const c of CLASSES) await addClass(page, c);
  for (const c of CLASSES) await fill(page, c, classFiles(c));
  // byte-identical copies inside a class (the vehicles set has three) are kept once, and listed
  const unique = (c: string) => new Set(classFiles(c).map((f) => createHash('sha256').update(readFileSync(f)).digest('hex'))).size;
  for (const c of CLASSES) assert.equal(await countOf(page, c), `${unique(c)} photos`);
  const copies = CLASSES.reduce((n, c) => n + classFiles(c).length - unique(c), 0);
  if (copies) assert.match((await page.textContent('#dupes-title'))!, new RegExp(`^${copies} byte-identical cop`));
  const split = (await page.textContent('#split'))!;
  const runDir = path.join(runsDir, id);
  // the page's held-out count is the CLI's own seeded split of these photos
  const ds = await loadDataset(path.join(runDir, 'data'), { seed: 42 });
  assert.match(split, new RegExp(`held-out test part will be ${ds.splits.test.length} photos`));
  assert.equal(await page.isDisabled('#train'), false);

  await page.click('#train');
  await page.waitForSelector('#report:not([hidden])', { timeout: 600_000 });
  const heldout = (await page.textContent('#heldout'))!;
  assert.match(heldout, new RegExp(`^Held out: ${ds.splits.test.length} photos the model never trained on`));
  const accuracy = (await page.textContent('#accuracy'))!;
  const acc = Number(/Accuracy ([\d.]+)%/.exec(accuracy)![1]);
  const evalJson = JSON.parse(await readFile(path.join(runDir, 'eval-test', 'eval.json'), 'utf8')) as { accuracy: number; n: number };
  assert.equal(acc.toFixed(1), (evalJson.accuracy * 100).toFixed(1), 'the page shows the run directory’s own held-out figure');
  assert.equal(evalJson.n, ds.splits.test.length);
  assert.ok(acc > 60, `a real model: ${acc}% on 4 balanced classes`);
  assert.match((await page.textContent('#epochs'))!, /^Epoch +1\/20 +loss \d\.\d{4} +acc \d\.\d{4} +val_loss/m);
  assert.equal(await page.locator('#per-class tbody tr').count(), 4);
  for (const img of ['#confusion', '#top-losses'])
    await page.waitForFunction((sel) => (document.querySelector(sel) as HTMLImageElement).naturalWidth > 100, img, { timeout: 30_000 });
  await page.screenshot({ path: path.join(outDir, 'train-page.png'), fullPage: true });

  // Try it on the server with a held-out photo
  await page.setInputFiles('#try', ds.splits.test[0]!.file);
  await page.waitForFunction(() => /%/.test(document.getElementById('try-result')!.textContent ?? ''), undefined, { timeout: 60_000 });

  // Download the verified ONNX
  const downloading = page.waitForEvent('download', { timeout: 300_000 });
  await page.click('#export');
  const download = await downloading;
  const onnxFile = path.join(outDir, `${id}.onnx`);
  await download.saveAs(onnxFile);
  assert.match((await page.textContent('#export-status'))!, /Verified: on \d+ photos/);
  const info = JSON.parse(await readFile(path.join(runDir, 'export', `${id}.json`), 'utf8')) as ExportInfo & { verification: { maxAbsDiff: number } };
  assert.ok(info.verification.maxAbsDiff < 1e-4);

  // the downloaded file on the held-out photos against `imgclass classify --model RUN`
  const worst = await onnxMatchesClassify(
    onnxFile,
    info,
    runDir,
    ds.splits.test.map((f) => f.file),
  );
  assert.ok(worst <= 1e-4, `|Δp| ${worst} ≤ 1e-4 on ${ds.splits.test.length} held-out photos`);

  // the run directory as a zip
  const zip = await page.evaluate(async (u) => (await fetch(u)).headers.get('content-type'), `/api/train/runs/${id}/run.zip`);
  assert.equal(zip, 'application/zip');
  assert.deepEqual(external, []);
  await page.close();
});

test('bad input through the page: a text file, a truncated JPEG, an empty class, one class only; clear messages and the page keeps working', async () => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await newRun(page);
  await addClass(page, 'Bus');
  assert.match((await page.textContent('#blockers'))!, /at least two classes/);
  assert.equal(await page.isDisabled('#train'), true);
  await addClass(page, 'Car');
  assert.match((await page.textContent('#blockers'))!, /class Bus has no photos; class Car has no photos/);
  // a class called "test" would be read as the data set's test split: refused with a reason
  await page.fill('#class-name', 'test');
  await page.click('#add-class button');
  await page.waitForFunction(() => /cannot be a class name/.test(document.getElementById('class-error')!.textContent ?? ''));

  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bad-'));
  const txt = path.join(dir, 'notes.txt');
  await writeFile(txt, 'not a picture at all');
  const good = classFiles('Bus')[0]!;
  const truncated = path.join(dir, 'cut.jpg');
  const bytes = await readFile(good);
  await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await fill(page, 'Bus', [txt, truncated, ...classFiles('Bus').slice(0, 5)]);
  assert.equal(await countOf(page, 'Bus'), '5 photos');
  const rejected = (await page.textContent('#rejected'))!;
  assert.match(rejected, /notes\.txt: not an image/);
  assert.match(rejected, /cut\.jpg: .*(truncat|premature|corrupt|cannot)/i);
  assert.match((await page.textContent('#rejected-title'))!, /^2 files not used/);
  assert.match((await page.textContent('#blockers'))!, /class Car has no photos/);
  assert.doesNotMatch((await page.textContent('#blockers'))!, /class Bus/);
  // few photos: allowed, but warned about
  await fill(page, 'Car', classFiles('Car').slice(0, 5));
  assert.equal(await page.textContent('#blockers'), '');
  assert.match((await page.textContent('#warnings'))!, /class Bus has only 5 photos/);
  assert.equal(await page.isDisabled('#train'), false);
  // the same photos dropped again are counted once
  await fill(page, 'Car', classFiles('Car').slice(0, 2));
  assert.equal(await countOf(page, 'Car'), '5 photos');
  assert.match((await page.textContent('#split'))!, /2 photos are byte-identical copies of one already in the same class/);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, 'no horizontal scrolling at 390 px');
  await page.screenshot({ path: path.join(outDir, 'train-page-errors.png'), fullPage: true });
  await rm(dir, { recursive: true, force: true });
  await page.close();
});

test('device mode: the same through the page with nothing uploaded; the ONNX and the zipped run agree with imgclass classify; Try it runs here', async (t) => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const requests: { method: string; url: string; body: number }[] = [];
  page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postDataBuffer()?.length ?? 0 }));
  await page.goto(`${base}/train.html?where=device`);
  await page.waitForSelector('body[data-ready="yes"]');
  await page.waitForSelector('#editor:not([hidden])');
  // 30 photos a class keeps the browser's feature pass short on a shared machine
  const picked = Object.fromEntries(
    CLASSES.map((c) => [
      c,
      classFiles(c)
        .filter((_, i) => i % 2 === 0)
        .slice(0, 30),
    ]),
  );
  for (const c of CLASSES) await addClass(page, c);
  for (const c of CLASSES) await fill(page, c, picked[c]!);
  await page.click('#train');
  await page.waitForSelector('#report:not([hidden])', { timeout: 600_000 });
  const heldout = (await page.textContent('#heldout'))!;
  const n = Number(/^Held out: (\d+) photos/.exec(heldout)![1]);
  const acc = Number(/Accuracy ([\d.]+)%/.exec((await page.textContent('#accuracy'))!)![1]);
  assert.ok(acc > 60, `a real model: ${acc}%`);
  assert.match((await page.textContent('#epochs'))!, /^Epoch +1\/20 +loss/m);
  await page.screenshot({ path: path.join(outDir, 'train-page-device.png'), fullPage: true });

  const save = async (selector: string, name: string) => {
    const d = page.waitForEvent('download', { timeout: 120_000 });
    await page.click(selector);
    const file = path.join(outDir, name);
    await (await d).saveAs(file);
    return file;
  };
  const onnxFile = await save('#export', 'device.onnx');
  const jsonFile = await save('#export-json', 'device.json');
  const zipFile = await save('#zip', 'device.zip');
  const info = JSON.parse(await readFile(jsonFile, 'utf8')) as ExportInfo & { verification: { maxAbsDiff: number } };
  assert.ok(info.verification.maxAbsDiff < 1e-4);
  // the zipped run directory, unpacked where `serve --runs` would keep it
  const runs = await mkdtemp(path.join(os.tmpdir(), 'imgclass-device-runs-'));
  for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(await readFile(zipFile))))) {
    await mkdir(path.dirname(path.join(runs, name)), { recursive: true });
    await writeFile(path.join(runs, name), bytes);
  }
  const runDir = path.join(runs, readdirSync(runs)[0]!);
  // the held-out photos: the CLI's seeded split of the same photos (linked, not copied)
  const data = path.join(runs, 'photos');
  for (const c of CLASSES) {
    await mkdir(path.join(data, c), { recursive: true });
    for (const f of picked[c]!) await symlink(f, path.join(data, c, path.basename(f)));
  }
  const ds = await loadDataset(data, { seed: 42 });
  assert.equal(ds.splits.test.length, n, 'the page held out the CLI’s split');
  const worst = await onnxMatchesClassify(
    onnxFile,
    info,
    runDir,
    ds.splits.test.map((f) => f.file),
  );
  assert.ok(worst <= 1e-4, `|Δp| ${worst} ≤ 1e-4 on ${n} held-out photos`);

  // Try it on this device: a held-out photo and a photo of none of the classes (a dog), classified
  // in this tab by the run's model; the CLI on the run directory (what the server's Try it runs)
  // gives the same answers, "unknown" included
  const dog = sampleClassFolders(path.join(sharedDataDir(), 'imagewoof', 'val'), 1)[0]!.file;
  const tries = [ds.splits.test[0]!.file, dog];
  const beforeTry = requests.length;
  const tried: { where: string; answer: ClassifyLine; text: string }[] = [];
  for (const file of tries) {
    await page.evaluate(() => delete (window as { __imgclassTry?: unknown }).__imgclassTry);
    await page.setInputFiles('#try', file);
    await page.waitForFunction(() => (window as { __imgclassTry?: unknown }).__imgclassTry, undefined, { timeout: 120_000 });
    tried.push(
      await page.evaluate(() => ({
        ...(window as unknown as { __imgclassTry: { where: string; answer: ClassifyLine } }).__imgclassTry,
        text: document.getElementById('try-result')!.textContent!,
      })),
    );
  }
  const reference = await classifyCli(runDir, tries);
  let tryWorst = 0;
  for (const [i, t] of tried.entries()) {
    const want = reference[i]!;
    assert.equal(t.where, 'device');
    assert.equal(t.answer.top[0]!.name, want.top[0]!.name, `${tries[i]}: same top-1 as imgclass classify`);
    assert.equal(t.answer.label, want.label, `${tries[i]}: same label (unknown or a class)`);
    assert.equal(Boolean(t.answer.unknown?.unknown), Boolean(want.unknown?.unknown));
    for (const c of want.top) tryWorst = Math.max(tryWorst, Math.abs(t.answer.top.find((x) => x.name === c.name)!.probability - c.probability));
    // the page shows it as it shows the server's answer
    const shown = `${want.label === 'unknown' ? 'unknown: none of the classes; closest ' : ''}${t.answer.top.map((c) => `${c.name} ${(c.probability * 100).toFixed(1)}%`).join(' · ')}`;
    assert.equal(t.text, shown);
  }
  assert.ok(tryWorst <= 1e-3, `Try it on this device against imgclass classify: |Δp| ${tryWorst} ≤ 1e-3`);
  t.diagnostic(`Try it on this device: ${tried.map((x) => x.answer.label).join(', ')}; largest |Δp| against imgclass classify ${tryWorst}`);
  assert.ok(requests.length >= beforeTry);
  assert.deepEqual(
    requests.slice(beforeTry).filter((r) => r.method !== 'GET' || r.body > 0 || r.url.includes('/api/')),
    [],
    'Try it on this device sends nothing',
  );

  // no photo left the page: nothing but GETs, no request with a body
  assert.deepEqual(
    requests.filter((r) => r.method !== 'GET' || r.body > 0),
    [],
  );
  for (const r of requests) assert.ok(r.url.startsWith(base) || r.url.startsWith('blob:') || r.url.startsWith('data:'), r.url);
  await rm(runs, { recursive: true, force: true });
  await page.close();
});

test('a token server (serve --token): the Train view opened as /train.html#token=… fills, trains with live progress, reports and tries; without the token the API answers 401', async () => {
  const token = 'train-token-7f3e';
  const tokenRuns = await mkdtemp(path.join(os.tmpdir(), 'imgclass-train-token-'));
  const guarded = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web'), train: { runsDir: tokenRuns }, security: { token } });
  const at = await guarded.listen({ host: '127.0.0.1', port: 0 });
  const context = await browser.newContext({ acceptDownloads: true });
  try {
    // without the token the Train view's API refuses, with the app's JSON error, its progress stream too
    const id0 = (
      (await (await fetch(`${at}/api/train/runs`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).json()) as { run: { id: string } }
    ).run.id;
    for (const [method, url] of [
      ['GET', '/api/train/config'],
      ['POST', '/api/train/runs'],
      ['GET', `/api/train/runs/${id0}/events`],
      ['POST', `/api/train/runs/${id0}/classes/Bus/photos?name=a.jpg`],
    ] as const) {
      const res = await fetch(at + url, { method, ...(method === 'POST' ? { body: new Uint8Array(await readFile(classFiles('Bus')[0]!)) } : {}) });
      assert.equal(res.status, 401, url);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="imgclass"');
      assert.deepEqual(Object.keys((await res.json()) as object), ['error'], `${url}: the app's JSON error`);
    }
    const violations: string[] = [];
    context.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
    });
    // the page without the token: refused, and it says why
    const refused = await context.newPage();
    await refused.goto(`${at}/train.html`);
    await refused.waitForSelector('body[data-ready="yes"]');
    await refused.click('#new-run');
    await refused.waitForFunction(() => /Bearer/.test(document.getElementById('run-id')!.textContent ?? ''));
    await refused.close();

    const page = await context.newPage();
    const api: { url: string; auth: string | undefined }[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/'))
        void r
          .allHeaders()
          .then((h) => api.push({ url: r.url(), auth: h.authorization }))
          .catch(() => {});
    });
    const id = await newRun(page, `#token=${token}`, at);
    assert.ok(!page.url().includes(token), `the token left the address bar: ${page.url()}`);
    // a tiny set: two classes of 8 photos
    const picked = { Bus: classFiles('Bus').slice(0, 8), Car: classFiles('Car').slice(0, 8) };
    for (const c of Object.keys(picked)) await addClass(page, c);
    for (const [c, files] of Object.entries(picked)) await fill(page, c, files);
    for (const c of Object.keys(picked)) assert.equal(await countOf(page, c), '8 photos');
    // the phases the page shows, all of them from the progress stream (the page never polls)
    await page.evaluate(() => {
      const seen: string[] = ((window as unknown as { __phases: string[] }).__phases = []);
      const phase = document.getElementById('phase')!;
      new MutationObserver(() => seen.push(phase.dataset.phase ?? '')).observe(phase, { attributes: true, attributeFilter: ['data-phase'] });
    });
    await page.click('#train');
    await page.waitForSelector('#report:not([hidden])', { timeout: 600_000 });
    const phases = await page.evaluate(() => (window as unknown as { __phases: string[] }).__phases);
    assert.ok(phases.includes('features') || phases.includes('training'), `live progress arrived: ${phases.join(' → ')}`);
    assert.match((await page.textContent('#epochs'))!, /^Epoch +1\/20 +loss/m);
    // the run's end: only the stream can tell the page
    await page.waitForFunction(() => /\(trained\)/.test(document.getElementById('run-id')!.textContent ?? ''), undefined, { timeout: 60_000 });
    const evalJson = JSON.parse(await readFile(path.join(tokenRuns, id, 'eval-test', 'eval.json'), 'utf8')) as { n: number };
    assert.match((await page.textContent('#heldout'))!, new RegExp(`^Held out: ${evalJson.n} photos`));
    // the report's pictures, Try it and a download: /api/ requests too, all with the token
    for (const img of ['#confusion', '#top-losses'])
      await page.waitForFunction((sel) => (document.querySelector(sel) as HTMLImageElement).naturalWidth > 100, img, { timeout: 30_000 });
    await page.setInputFiles('#try', classFiles('Bus')[20]!);
    await page.waitForFunction(() => /%/.test(document.getElementById('try-result')!.textContent ?? ''), undefined, { timeout: 60_000 });
    const downloading = page.waitForEvent('download', { timeout: 60_000 });
    await page.click('#zip');
    const zipFile = path.join(outDir, 'token-run.zip');
    await (await downloading).saveAs(zipFile);
    assert.ok(Object.keys(unzipSync(new Uint8Array(await readFile(zipFile)))).includes(`${id}/model/manifest.json`));

    // the footer's link to the training queue: its JSON in a new tab, fetched with the token
    const [queueTab] = await Promise.all([page.waitForEvent('popup'), page.click('footer a[href="/api/train/queue"]')]);
    await queueTab.waitForURL(/^blob:/);
    assert.doesNotMatch(await queueTab.evaluate(() => document.body.innerText), /error/, 'the queue answered, not a 401');
    assert.match(await queueTab.evaluate(() => document.body.innerText), /\{/);
    await queueTab.close();

    const streams = api.filter((r) => r.url.endsWith(`/api/train/runs/${id}/events`));
    assert.ok(streams.length >= 1, 'the progress stream was opened');
    assert.deepEqual(
      api.filter((r) => r.auth !== `Bearer ${token}`),
      [],
      'every /api/ request carried the token',
    );
    assert.ok(!api.some((r) => r.url.includes(token)), 'the token is in no URL');
    assert.deepEqual(violations, []);
  } finally {
    await context.close();
    await guarded.close();
    await rm(tokenRuns, { recursive: true, force: true });
  }
});
