import type * as vegaLite from 'vega-lite';
import { writeFileAtomic } from './atomic.js';

/**
 * Pictures for results people would rather see than read, rendered headless: Vega-Lite → SVG
 * (vega's own SVG renderer, no canvas), then SVG → PNG with sharp (librsvg). Both files are written.
 * Vega and Vega-Lite (~190 ms to import) load on the first chart, not with the modules that draw one.
 */
export async function renderChart(spec: vegaLite.TopLevelSpec, basePath: string): Promise<{ svg: string; png: string }> {
  const [vega, vegaLite, { default: sharp }] = await Promise.all([import('vega'), import('vega-lite'), import('sharp')]);
  const compiled = vegaLite.compile({ background: 'white', config: { font: 'DejaVu Sans, sans-serif' }, ...spec } as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
  await writeFileAtomic(`${basePath}.svg`, svg);
  await writeFileAtomic(`${basePath}.png`, png);
  return { svg: `${basePath}.svg`, png: `${basePath}.png` };
}

/** One point of a training curve: an epoch's losses and accuracies (training's EpochMetrics fit it). */
export interface CurvePoint {
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
}

/**
 * Training curves: loss and accuracy per epoch, train vs validation, side by side with their own
 * y-axis titles; a solid rule marks the kept epoch (best validation loss: the model written to
 * `model/`), dashed rules the epochs after which the run was resumed.
 */
export function trainingCurvesSpec(history: CurvePoint[], title: string, marks: { bestEpoch?: number; resumes?: number[] } = {}): vegaLite.TopLevelSpec {
  const panel = (metric: 'loss' | 'accuracy', yTitle: string, pick: (h: CurvePoint) => [number, number]) => {
    const values = history.flatMap((h) => {
      const [train, valid] = pick(h);
      return [
        { epoch: h.epoch, split: 'train', value: train },
        { epoch: h.epoch, split: 'validation', value: valid },
      ];
    });
    const rules = [
      ...(marks.bestEpoch ? [{ epoch: marks.bestEpoch, what: `kept: epoch ${marks.bestEpoch}` }] : []),
      ...(marks.resumes ?? []).map((e) => ({ epoch: e, what: `resumed after ${e}` })),
    ];
    return {
      width: 300,
      height: 200,
      layer: [
        {
          data: { values },
          mark: { type: 'line', point: { size: 16 } },
          encoding: {
            x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1 }, scale: { domain: [1, Math.max(2, history.at(-1)?.epoch ?? 1)] } },
            y: { field: 'value', type: 'quantitative', scale: { zero: false }, title: yTitle },
            color: { field: 'split', type: 'nominal', title: null },
          },
        },
        ...(rules.length
          ? [
              {
                data: { values: rules },
                mark: { type: 'rule' },
                encoding: {
                  x: { field: 'epoch', type: 'quantitative' },
                  strokeDash: {
                    field: 'what',
                    type: 'nominal',
                    title: null,
                    scale: { domain: rules.map((r) => r.what), range: rules.map((r) => (r.what.startsWith('kept') ? [1, 0] : [4, 3])) },
                  },
                  color: { value: '#555' },
                },
              },
            ]
          : []),
      ],
      title: { text: metric, fontSize: 12 },
    };
  };
  return {
    title,
    hconcat: [panel('loss', 'cross-entropy loss', (h) => [h.loss, h.valLoss]), panel('accuracy', 'accuracy', (h) => [h.acc, h.valAcc])],
    resolve: { scale: { color: 'shared', strokeDash: 'shared' } },
  } as vegaLite.TopLevelSpec;
}

/** Confusion matrix heat map with counts (rows: true class, columns: predicted). */
export function confusionMatrixSpec(matrix: number[][], classes: string[], title: string): vegaLite.TopLevelSpec {
  const values = matrix.flatMap((row, i) =>
    row.map((count, j) => ({
      actual: classes[i],
      predicted: classes[j],
      count,
      share:
        count /
        Math.max(
          1,
          row.reduce((a, b) => a + b, 0),
        ),
    })),
  );
  const side = Math.max(240, Math.min(900, classes.length * 36));
  return {
    title,
    data: { values },
    width: side,
    height: side,
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: classes, axis: { labelAngle: -45 } },
      y: { field: 'actual', type: 'nominal', sort: classes },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'share', type: 'quantitative', scale: { scheme: 'blues', domain: [0, 1] }, title: 'row share' } } },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: { text: { field: 'count', type: 'quantitative' }, color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' } },
      },
    ],
  } as vegaLite.TopLevelSpec;
}

/**
 * Horizontal bars: one value per category (class counts, sweep results …), each value printed at
 * its bar's end. `zero: false` lets the axis start near the smallest value: accuracies between
 * 0.89 and 0.98 on an axis from 0 look all the same.
 */
export function barSpec(
  values: { label: string; value: number; group?: string }[],
  title: string,
  xTitle: string,
  o: { zero?: boolean; format?: string } = {},
): vegaLite.TopLevelSpec {
  const zero = o.zero ?? true;
  const lo = Math.min(...values.map((v) => v.value));
  const hi = Math.max(...values.map((v) => v.value));
  const pad = Math.max((hi - lo) * 0.25, Math.abs(hi) * 0.01, 1e-6);
  const x = {
    field: 'value',
    type: 'quantitative',
    title: xTitle,
    scale: zero ? { zero: true, domainMax: hi + pad } : { zero: false, domain: [lo - pad, hi + pad], clamp: true, nice: false },
  };
  const grouped = values.some((v) => v.group);
  const groups = [...new Set(values.map((v) => v.group))];
  const shared = {
    y: { field: 'label', type: 'nominal', sort: null, title: null },
    x,
    ...(grouped ? { yOffset: { field: 'group', sort: groups } } : {}),
  };
  return {
    title,
    data: { values },
    width: 420,
    height: { step: grouped ? 14 : 18 },
    layer: [
      { mark: 'bar', encoding: { ...shared, ...(grouped ? { color: { field: 'group', type: 'nominal', title: null, scale: { domain: groups } } } : {}) } },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 },
        encoding: { ...shared, text: { field: 'value', type: 'quantitative', format: o.format ?? '' } },
      },
    ],
  } as vegaLite.TopLevelSpec;
}

/**
 * One histogram per group, stacked as small multiples on a shared x axis (overlapping
 * semi-transparent histograms cannot be told apart).
 */
export function smallMultiplesHistogramSpec(
  values: { value: number; group: string }[],
  title: string,
  xTitle: string,
  groups: string[],
): vegaLite.TopLevelSpec {
  return {
    title,
    data: { values },
    facet: { row: { field: 'group', type: 'nominal', sort: groups, title: null, header: { labelAngle: 0, labelAlign: 'left' } } },
    spec: {
      width: 420,
      height: 70,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'value', type: 'quantitative', bin: { maxbins: 40 }, title: xTitle },
        y: { aggregate: 'count', type: 'quantitative', title: 'photos' },
        color: { field: 'group', type: 'nominal', legend: null, scale: { domain: groups } },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as vegaLite.TopLevelSpec;
}

/** Width × height of every photo, one point each, coloured by split; the diagonal is square. */
export function sizeScatterSpec(values: { width: number; height: number; group: string }[], title: string): vegaLite.TopLevelSpec {
  const max = Math.max(...values.flatMap((v) => [v.width, v.height]), 1);
  return {
    title,
    width: 360,
    height: 360,
    layer: [
      {
        data: { values: [{ a: 0 }, { a: max }] },
        mark: { type: 'line', color: '#bbb', strokeDash: [4, 3] },
        encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'a', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'point', filled: true, opacity: 0.55, size: 22 },
        encoding: {
          x: { field: 'width', type: 'quantitative', title: 'width (px)', scale: { domain: [0, max] } },
          y: { field: 'height', type: 'quantitative', title: 'height (px)', scale: { domain: [0, max] } },
          color: { field: 'group', type: 'nominal', title: 'split', scale: { domain: ['train', 'valid', 'test'] } },
        },
      },
    ],
  } as vegaLite.TopLevelSpec;
}
