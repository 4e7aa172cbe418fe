import { loadDataset, type SplitName } from '../data/dataset.js';
import { extractFeatures, featureSpaceKey } from '../features/bottleneck.js';
import { loadBackbone } from '../models/backbone.js';
import { progress } from '../util/progress.js';
import { reportSkipped } from './path-args.js';
import type { ResizeMode } from '../data/transform.js';

export interface FeaturesCliOptions {
  backbone: string;
  featureCache?: string;
  resize?: ResizeMode;
  json?: boolean;
}

/** `imgclass features DATA_DIR`: fill the feature cache for every split, report counts and rate. */
export async function runFeatures(dataDir: string, o: FeaturesCliOptions): Promise<number> {
  const ds = await loadDataset(dataDir);
  reportSkipped(ds.skipped);
  const backbone = await loadBackbone(o.backbone, { resize: o.resize });
  const report: Record<string, unknown> = { backbone: backbone.name, featureSpace: featureSpaceKey(backbone), classes: ds.classes.length };
  let failed = 0;
  for (const split of ['train', 'valid', 'test'] as SplitName[]) {
    const files = ds.splits[split].map((f) => f.file);
    if (files.length === 0) continue;
    const bar = progress(`features ${split}`, files.length);
    let last = 0;
    const t0 = performance.now();
    const r = await extractFeatures(files, backbone, {
      cacheDir: o.featureCache,
      onProgress: (d) => {
        bar.tick(d - last);
        last = d;
      },
    });
    bar.stop();
    const s = (performance.now() - t0) / 1000;
    failed += r.failures.length;
    report[split] = {
      images: files.length,
      fromCache: r.cached,
      computed: files.length - r.cached - r.failures.length,
      failures: r.failures,
      seconds: +s.toFixed(1),
      imagesPerSecond: +(files.length / s).toFixed(1),
    };
    if (!o.json)
      process.stdout.write(
        `${split}: ${files.length} images (${r.cached} cached, ${r.failures.length} unreadable) in ${s.toFixed(1)} s, ${(files.length / s).toFixed(1)} img/s\n`,
      );
  }
  backbone.dispose();
  if (o.json) process.stdout.write(JSON.stringify(report) + '\n');
  return failed > 0 ? 1 : 0;
}
