import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { DeviceClassification, TrainDeviceEvent, TrainDeviceOptions, TrainDeviceReport } from '../src/web/train-device.js';

/**
 * Device-mode training driven in Chromium, for the test and the benchmark: the photos are handed
 * to the page as File objects through file inputs (as a user's drop or file chooser does; nothing
 * goes over the network), the bundle is loaded from the server's manifest, and `trainOnDevice`
 * runs in the tab. What comes back: the report, the events, the ONNX export (base64), the run's
 * file list, the held-out photos fitted to the backbone's input (for checking the export), and
 * Try it's answers on a few of them.
 */
export interface PageTrainResult {
  report: TrainDeviceReport;
  events: TrainDeviceEvent[];
  onnxBase64: string;
  exportJson: Record<string, unknown>;
  run: Record<string, string>;
  /** Held-out photos as the model's input (fitted pixels, base64 of uint8 RGB), by report file name. */
  fitted: Record<string, { width: number; height: number; base64: string }>;
  /** Try it (`classifyOnDevice`) on the first held-out photos, by report file name. */
  tried: Record<string, DeviceClassification>;
  wallMs: number;
}

/** Every `step`-th photo of each class folder (sorted), at most `perClass`: a fixed, spread-out subset. */
export function classFolderSubset(dir: string, perClass: number): { name: string; files: string[] }[] {
  return readdirSync(dir)
    .sort()
    .map((name) => {
      const all = readdirSync(path.join(dir, name)).sort();
      const step = Math.max(1, Math.floor(all.length / perClass));
      const files = all.filter((_, i) => i % step === 0).slice(0, perClass);
      return { name, files: files.map((f) => path.join(dir, name, f)) };
    });
}

export async function trainInPage(
  page: Page,
  classes: { name: string; files: string[] }[],
  options: Omit<TrainDeviceOptions, 'manifest'> = {},
  /** Press Stop (abort the signal) once this many epochs have finished. */
  stopAfterEpochs?: number,
): Promise<PageTrainResult> {
  // one file input per class, filled the way a user's file chooser fills it
  await page.evaluate((n) => {
    document.querySelectorAll('input[id^="class-"]').forEach((old) => old.remove());
    for (let i = 0; i < n; i++) {
      const input = document.createElement('input');
      input.type = 'file';
      input.multiple = true;
      input.id = `class-${i}`;
      document.body.append(input);
    }
  }, classes.length);
  for (const [i, c] of classes.entries()) await page.setInputFiles(`#class-${i}`, c.files);
  // A script, not a function: the test runner's transform would add helpers the page does not have.
  const args = JSON.stringify({ names: classes.map((c) => c.name), options, stopAfterEpochs: stopAfterEpochs ?? null });
  return page.evaluate(`(${IN_PAGE})(${args})`) as Promise<PageTrainResult>;
}

/** What runs in the tab (plain JavaScript). */
const IN_PAGE = `async ({ names, options, stopAfterEpochs }) => {
  function b64(u) {
    let s = '';
    for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
    return btoa(s);
  }
  const manifest = await (await fetch('/api/train-device')).json();
  const mod = await import(manifest.bundle);
  const input = { classes: names.map((name, i) => ({ name, files: Array.from(document.getElementById('class-' + i).files) })) };
  const events = [];
  const t0 = performance.now();
  const stop = new AbortController();
  const onEvent = (e) => {
    events.push(e);
    if (stopAfterEpochs !== null && events.filter((x) => x.type === 'epoch').length >= stopAfterEpochs) stop.abort();
  };
  const r = await mod.trainOnDevice(input, { ...options, manifest }, onEvent, stop.signal);
  const wallMs = performance.now() - t0;
  const byName = new Map(input.classes.flatMap((c) => c.files.map((f) => [c.name + '/' + f.name, f])));
  const fitted = {};
  for (const p of r.report.predictions) {
    const im = await mod.fitForBackbone(manifest, byName.get(p.file));
    fitted[p.file] = { width: im.width, height: im.height, base64: b64(im.data) };
  }
  const tried = {};
  for (const p of r.report.predictions.slice(0, 4)) tried[p.file] = await mod.classifyOnDevice(r, { manifest, tfBackend: options.tfBackend }, byName.get(p.file));
  const run = Object.fromEntries(Object.entries(r.run).map(([k, v]) => [k, b64(v)]));
  return { report: r.report, events, onnxBase64: b64(r.onnx), exportJson: r.exportJson, run, fitted, tried, wallMs };
}`;
