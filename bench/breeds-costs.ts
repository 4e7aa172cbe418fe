/**
 * What each breed option costs per photo (the components on the benched backbone), against one bare
 * ORT MobileNet v1 0.75 pass measured in the
 * same run (before and after: the machine is shared and noisy, only ratios carry over). Each
 * component is timed on the same photos, interleaved photo by photo, so load changes hit all
 * alike; then the app itself is timed end to end with each preset.
 */
import path from 'node:path';
import { createDogApp, type DogAppOptions } from '../src/app/dog-app.js';
import { viewImages } from '../src/app/views.js';
import { loadImage } from '../src/data/image.js';
import { cropRegion, flipHorizontal } from '../src/data/transform.js';
import { YoloxDetector } from '../src/detectors/coco.js';
import { YunetFaceDetector } from '../src/detectors/face/yunet.js';
import { loadBackbone } from '../src/models/backbone.js';
import { registryEntry } from '../src/models/registry.js';
import { sampleClassFolders } from '../support/shared.js';
import { barePassMs, threadsNote } from './bare-pass.js';
import { bestDogBox } from './breeds-signals.js';
import { median, quantile } from './stats.js';

export interface Costs {
  /** Median ms of one bare pass (mean of before and after). */
  bare: number;
  decode: number;
  /** A 224² view and its mirror image through the backbone (the app's worker session). */
  pair: number;
  /** A cropped view (crop + pair). */
  cropPair: number;
  /** The whole photo at keep-aspect and its mirror, on the free-size graph (absent: the backbone has none). */
  wholePair?: number;
  yolox: number;
  yunet: number;
  apps: { name: string; p50: number; p90: number; p50Dogs: number }[];
  note: string;
}

export async function measureCosts(
  data: string,
  dogFiles: string[],
  apps: { name: string; options: DogAppOptions }[],
  backbone: string,
  count = 40,
): Promise<Costs> {
  const files = dogFiles.filter((_, i) => i % Math.max(1, Math.floor(dogFiles.length / count)) === 0).slice(0, count);
  const before = await barePassMs(files[0]!);
  const fixed = await loadBackbone(backbone, { batchSize: 2 });
  const free = registryEntry(backbone).backbone!.resizeModes.includes('keep-aspect') ? await loadBackbone(backbone, { resize: 'keep-aspect' }) : undefined;
  const yolox = await YoloxDetector.create();
  const yunet = await YunetFaceDetector.create();
  const t: Record<'decode' | 'pair' | 'cropPair' | 'wholePair' | 'yolox' | 'yunet', number[]> = {
    decode: [],
    pair: [],
    cropPair: [],
    wholePair: [],
    yolox: [],
    yunet: [],
  };
  const time = async <T>(k: keyof typeof t, f: () => Promise<T>, keep: boolean): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    if (keep) t[k].push(performance.now() - t0);
    return r;
  };
  for (const [i, file] of [...files.slice(0, 5), ...files].entries()) {
    const keep = i >= 5; // the first five warm up
    const img = await time('decode', () => loadImage(file), keep);
    await time('pair', () => fixed.run([img, flipHorizontal(img)]), keep);
    const boxes = await time('yolox', () => yolox.detect(img), keep);
    await time(
      'cropPair',
      async () => {
        const [v] = await viewImages(img, [{ kind: 'dog', margin: 0.1 }], bestDogBox(boxes), cropRegion);
        return fixed.run([v!, flipHorizontal(v!)]);
      },
      keep,
    );
    if (free) await time('wholePair', async () => [await free.run([img]), await free.run([flipHorizontal(img)])], keep);
    await time('yunet', () => yunet.detect(img), keep);
  }
  for (const m of [fixed, free, yolox, yunet]) m?.dispose();

  // The app end to end (decode → answer), per preset, on the same dog photos plus people and negatives.
  const mixed = [
    ...files,
    ...sampleClassFolders(path.join(data, 'lfw'), 1)
      .filter((_, i) => i % 29 === 0)
      .slice(0, 20)
      .map((f) => f.file),
    ...sampleClassFolders(path.join(data, 'negatives'), 4).map((f) => f.file),
  ];
  // Interleaved photo by photo, so a burst of load on the shared machine hits every preset alike.
  const loaded = await Promise.all(apps.map((a) => createDogApp(a.options)));
  for (const f of mixed.slice(0, 5)) for (const app of loaded) await app.classify(f);
  const totals: number[][] = apps.map(() => []);
  for (const f of mixed) for (const [i, app] of loaded.entries()) totals[i]!.push((await app.classify(f)).timings.totalMs);
  for (const app of loaded) app.dispose();
  const appResults: Costs['apps'] = apps.map((a, i) => ({
    name: a.name,
    p50: median(totals[i]!),
    p90: quantile(totals[i]!, 0.9),
    p50Dogs: median(totals[i]!.slice(0, files.length)),
  }));
  const after = await barePassMs(files[0]!);
  const m = (k: keyof typeof t) => median(t[k]);
  return {
    bare: (before + after) / 2,
    decode: m('decode'),
    pair: m('pair'),
    cropPair: m('cropPair'),
    ...(free ? { wholePair: m('wholePair') } : {}),
    yolox: m('yolox'),
    yunet: m('yunet'),
    apps: appResults,
    note:
      `bare pass ${before.toFixed(1)} ms before, ${after.toFixed(1)} ms after; ${files.length} dog photos, app on ` +
      `${mixed.length} (dogs, LFW, negatives); ${threadsNote()}`,
  };
}
