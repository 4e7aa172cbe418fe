import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createDogApp, type DogApp } from '../src/app/dog-app.js';
import { buildServer } from '../src/server/server.js';
import { launchChromium } from '../support/chromium.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// A real browser (Debian's chromium, installed by .ci/run) against the real server on loopback.
const data = sharedDataDir();
const outDir = path.resolve(import.meta.dirname, 'out');
let app: DogApp;
let server: FastifyInstance;
let base: string;
let browser: Browser;

before(async () => {
  app = await createDogApp();
  server = await buildServer({ app, webRoot: path.resolve(import.meta.dirname, '..', 'web') });
  base = await server.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchChromium();
  await mkdir(outDir, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.close();
  app?.dispose();
});

test('upload a dog photo and see its breed, face-free; the page asks nothing from outside', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 820 } });
  const external: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) external.push(r.url());
  });
  await page.goto(base);
  await page.waitForFunction(() => document.getElementById('models')!.textContent!.includes('mobilenet'));
  const dog = sampleClassFolders(path.join(data, 'imagewoof/val'), 1).find((d) => d.label === 'n02088364')!.file; // beagle
  await page.setInputFiles('#file', dog);
  await page.waitForFunction(() => /Dog detected/.test(document.getElementById('message')!.textContent ?? ''), undefined, { timeout: 30_000 });
  const message = await page.textContent('#message');
  assert.match(message!, /looks like an? [\w' -]+ \(\d+\.\d%\)/);
  assert.equal(await page.locator('#breeds li').count(), 5);
  assert.match((await page.textContent('#timing'))!, /Answered in \d+ ms/);
  // then a person, to show the face box
  const face = sampleClassFolders(path.join(data, 'lfw'), 1)[40]!.file;
  await page.setInputFiles('#file', face);
  await page.waitForFunction(() => /Human detected/.test(document.getElementById('message')!.textContent ?? ''), undefined, { timeout: 30_000 });
  await page.setInputFiles('#file', dog);
  await page.waitForFunction(() => document.querySelectorAll('#history li').length === 3);
  await page.screenshot({ path: path.join(outDir, 'app-dog.png'), fullPage: true });
  assert.deepEqual(external, []);
  await page.close();
});

test('upload a text file and see the error; the page still works at phone width', async () => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(base);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-e2e-'));
  const txt = path.join(dir, 'notes.txt');
  await writeFile(txt, 'not a picture at all');
  await page.setInputFiles('#file', txt);
  await page.waitForSelector('#message.error', { timeout: 30_000 });
  assert.match((await page.textContent('#message'))!, /not an image/);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, 'no horizontal scrolling at 390 px');
  await page.screenshot({ path: path.join(outDir, 'app-error-phone.png'), fullPage: true });
  await page.close();
});
