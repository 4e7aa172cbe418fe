import { stat } from 'node:fs/promises';
import path from 'node:path';
import { barSpec, renderChart, sizeScatterSpec, smallMultiplesHistogramSpec } from '../util/charts.js';
import { writeFileAtomic } from '../util/atomic.js';
import { loadDataset, type SplitName } from './dataset.js';
import { findDuplicates } from './duplicates.js';
import { sniffFormat } from './image.js';
import type { SkippedFile } from './walk.js';
import { IMBALANCE_WARN_RATIO } from './class-info.js';
import { readFile } from 'node:fs/promises';
import { loadSharp } from '../runtime/sharp.js';

/** What `explore` measures about a data set: counts per class and split, sizes, formats, class balance and exact duplicates. */
export interface Exploration {
  root: string;
  splitSource: string;
  classes: number;
  images: number;
  perClass: Record<string, Record<SplitName, number>>;
  perSplit: Record<SplitName, { images: number; min: number; mean: number; max: number }>;
  fileBytes: { min: number; median: number; mean: number; max: number; over400k: number };
  imageSize: { minWidth: number; maxWidth: number; minHeight: number; maxHeight: number; medianWidth: number; medianHeight: number };
  formats: Record<string, number>;
  unreadable: { file: string; reason: string }[];
  /** Class balance over all photos: the largest class's count over the smallest's (1 = balanced). */
  imbalance: { ratio: number; largest: string; smallest: string; counts: Record<string, number> };
  /** Byte-identical photos (paths relative to the root), and those whose copies sit in different splits. */
  duplicates: { groups: { files: string[]; splits: SplitName[]; classes: string[] }[]; acrossSplits: number; acrossClasses: number; redundant: number };
  /** Entries of the class folders that are not images at all (not counted above). */
  skipped: SkippedFile[];
  charts?: string[];
}

export { IMBALANCE_WARN_RATIO } from './class-info.js';

/**
 * The seed's data exploration: images per class and split (min / mean / max), file-size and
 * image-size distributions, unreadable files; with pictures (class distribution, file sizes,
 * image sizes). Reads every file once (sizes from the image header, content hashes for duplicates).
 */
export async function explore(root: string, outDir?: string): Promise<Exploration> {
  const ds = await loadDataset(root);
  const perClass: Exploration['perClass'] = {};
  for (const c of ds.classes) perClass[c.name] = { train: 0, valid: 0, test: 0 };
  const sizes: number[] = [];
  const widths: number[] = [];
  const heights: number[] = [];
  const formats: Record<string, number> = {};
  const unreadable: Exploration['unreadable'] = [];
  const sizeRows: { value: number; group: string }[] = [];
  const dimRows: { width: number; height: number; group: string }[] = [];
  for (const split of ['train', 'valid', 'test'] as const) {
    for (const f of ds.splits[split]) {
      perClass[ds.classes[f.label]!.name]![split]++;
      const bytes = (await stat(f.file)).size;
      sizes.push(bytes);
      sizeRows.push({ value: bytes / 1024, group: split });
      try {
        const head = await readFile(f.file).then((b) => b.subarray(0, 4096));
        const fmt = sniffFormat(head);
        if (typeof fmt !== 'string') throw new Error(fmt.rejected);
        const m = await (await loadSharp())(f.file).metadata();
        if (!m.width || !m.height) throw new Error('no size in header');
        widths.push(m.width);
        heights.push(m.height);
        dimRows.push({ width: m.width, height: m.height, group: split });
        formats[fmt] = (formats[fmt] ?? 0) + 1;
      } catch (e) {
        unreadable.push({ file: f.file, reason: (e as Error).message });
      }
    }
  }
  const stats = (xs: number[]) => ({
    images: xs.reduce((a, b) => a + b, 0),
    min: Math.min(...xs),
    mean: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length),
    max: Math.max(...xs),
  });
  const perSplit = Object.fromEntries(
    (['train', 'valid', 'test'] as const).map((s) => [s, stats(Object.values(perClass).map((c) => c[s]))]),
  ) as Exploration['perSplit'];
  const counts = Object.fromEntries(Object.entries(perClass).map(([c, s]) => [c, s.train + s.valid + s.test]));
  const ordered = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const imbalance = {
    ratio: ordered.at(-1)![1] > 0 ? ordered[0]![1] / ordered.at(-1)![1] : Infinity,
    largest: ordered[0]![0],
    smallest: ordered.at(-1)![0],
    counts,
  };
  const dup = await findDuplicates(ds.splits);
  const rel = (f: string) => path.relative(root, f);
  const duplicates = {
    groups: dup.groups.map((g) => ({
      files: g.files.map((f) => rel(f.file)),
      splits: g.files.map((f) => f.split),
      classes: g.files.map((f) => ds.classes[f.label]!.name),
    })),
    acrossSplits: dup.acrossSplits.length,
    acrossClasses: dup.acrossLabels.length,
    redundant: dup.redundant,
  };
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const med = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)] ?? 0;
  const result: Exploration = {
    root,
    splitSource: ds.splitSource,
    classes: ds.classes.length,
    images: sizes.length,
    perClass,
    perSplit,
    fileBytes: {
      min: Math.min(...sizes),
      median: med(sizes),
      mean: sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length),
      max: Math.max(...sizes),
      over400k: sizes.filter((s) => s > 400_000).length,
    },
    imageSize: {
      minWidth: Math.min(...widths),
      maxWidth: Math.max(...widths),
      minHeight: Math.min(...heights),
      maxHeight: Math.max(...heights),
      medianWidth: med(widths),
      medianHeight: med(heights),
    },
    formats,
    unreadable,
    imbalance,
    duplicates,
    skipped: ds.skipped,
  };
  if (outDir) {
    const name = path.basename(path.resolve(root));
    const charts = [
      await renderChart(
        barSpec(
          Object.entries(perClass).flatMap(([c, s]) =>
            (['train', 'valid', 'test'] as const).filter((k) => s[k] > 0).map((k) => ({ label: c, value: s[k], group: k })),
          ),
          `${name}: images per class`,
          'images',
        ),
        path.join(outDir, 'classes'),
      ),
      await renderChart(
        smallMultiplesHistogramSpec(sizeRows, `${name}: file sizes per split`, 'KiB', ['train', 'valid', 'test']),
        path.join(outDir, 'file-sizes'),
      ),
      await renderChart(sizeScatterSpec(dimRows, `${name}: width × height of each photo`), path.join(outDir, 'image-sizes')),
    ];
    result.charts = charts.map((c) => c.png);
    await writeFileAtomic(path.join(outDir, 'explore.json'), JSON.stringify(result, null, 2));
  }
  return result;
}

export function formatExploration(e: Exploration): string {
  const w = Math.max(10, ...Object.keys(e.perClass).map((c) => c.length));
  const lines = [
    `${e.root}: ${e.classes} classes, ${e.images} images (${e.splitSource === 'folders' ? 'split folders' : 'no split folders: seeded stratified split'})`,
    '',
    `${'class'.padEnd(w)}  train  valid   test`,
  ];
  for (const [c, s] of Object.entries(e.perClass))
    lines.push(`${c.padEnd(w)}  ${String(s.train).padStart(5)}  ${String(s.valid).padStart(5)}  ${String(s.test).padStart(5)}`);
  lines.push('');
  for (const [s, v] of Object.entries(e.perSplit))
    if (v.images) lines.push(`${s}: ${v.images} images, per class min ${v.min}, mean ${v.mean.toFixed(1)}, max ${v.max}`);
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  lines.push(
    `file size: min ${kb(e.fileBytes.min)}, median ${kb(e.fileBytes.median)}, mean ${kb(e.fileBytes.mean)}, max ` +
      `${kb(e.fileBytes.max)}; ${e.fileBytes.over400k} files over 400 kB`,
  );
  lines.push(
    `image size: width ${e.imageSize.minWidth}–${e.imageSize.maxWidth} (median ${e.imageSize.medianWidth}), ` +
      `height ${e.imageSize.minHeight}–${e.imageSize.maxHeight} (median ${e.imageSize.medianHeight})`,
  );
  lines.push(
    `formats: ${Object.entries(e.formats)
      .map(([f, n]) => `${f} ${n}`)
      .join(', ')}; unreadable: ${e.unreadable.length}; not images (not counted): ${e.skipped.length}`,
  );
  for (const u of e.unreadable.slice(0, 20)) lines.push(`  ${u.file}: ${u.reason}`);
  const im = e.imbalance;
  lines.push(
    im.ratio >= IMBALANCE_WARN_RATIO
      ? `class balance: IMBALANCED, ${im.largest} has ${im.ratio.toFixed(1)}× the photos of ${im.smallest} ` +
          `(${im.counts[im.largest]} vs ${im.counts[im.smallest]}); accuracy flatters the large classes: read macro F1, ` +
          `and train with --class-weight balanced`
      : `class balance: ${im.largest} ${im.counts[im.largest]} … ${im.smallest} ${im.counts[im.smallest]} photos ` +
          `(largest/smallest ${im.ratio.toFixed(2)}), balanced enough`,
  );
  const d = e.duplicates;
  if (d.groups.length === 0) lines.push('exact duplicates: none');
  else {
    lines.push(
      `exact duplicates: ${d.groups.length} groups of byte-identical photos (${d.redundant} redundant), ` +
        `${d.acrossSplits} across splits${d.acrossClasses ? `, ${d.acrossClasses} with different labels` : ''}`,
    );
    for (const g of d.groups.slice(0, 20)) {
      const across = new Set(g.splits).size > 1;
      lines.push(
        `  ${g.files.map((f, i) => `${f} (${g.splits[i]})`).join(' = ')}` +
          (across ? '  ← across splits: a scored photo is also a training photo' : '') +
          (new Set(g.classes).size > 1 ? '  ← different labels' : ''),
      );
    }
  }
  if (e.charts) lines.push('', `charts: ${e.charts.join(', ')}`);
  return lines.join('\n') + '\n';
}
