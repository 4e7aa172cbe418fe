import sharp from 'sharp';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * Pictures for results people would rather see than read, rendered headless: Vega-Lite → SVG
 * (vega's own SVG renderer, no canvas), then SVG → PNG with sharp (librsvg). Both files are written.
 */
export async function renderChart(spec: vegaLite.TopLevelSpec, basePath: string): Promise<{ svg: string; png: string }> {
  const compiled = vegaLite.compile({ background: 'white', config: { font: 'DejaVu Sans, sans-serif' }, ...spec } as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
  await writeFileAtomic(`${basePath}.svg`, svg);
  await writeFileAtomic(`${basePath}.png`, png);
  return { svg: `${basePath}.svg`, png: `${basePath}.png` };
}

export interface EpochMetrics {
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
}

/** Training curves: loss and accuracy per epoch, train vs validation. */
export function trainingCurvesSpec(history: EpochMetrics[], title: string): vegaLite.TopLevelSpec {
  const values = history.flatMap((h) => [
    { epoch: h.epoch, metric: 'loss', split: 'train', value: h.loss },
    { epoch: h.epoch, metric: 'loss', split: 'valid', value: h.valLoss },
    { epoch: h.epoch, metric: 'accuracy', split: 'train', value: h.acc },
    { epoch: h.epoch, metric: 'accuracy', split: 'valid', value: h.valAcc },
  ]);
  return {
    title,
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 300,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1 } },
        y: { field: 'value', type: 'quantitative', scale: { zero: false } },
        color: { field: 'split', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as vegaLite.TopLevelSpec;
}

/** Confusion matrix heat map with counts (rows: true class, columns: predicted). */
export function confusionMatrixSpec(matrix: number[][], classes: string[], title: string): vegaLite.TopLevelSpec {
  const values = matrix.flatMap((row, i) => row.map((count, j) => ({ actual: classes[i], predicted: classes[j], count, share: count / Math.max(1, row.reduce((a, b) => a + b, 0)) })));
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
      { mark: { type: 'text', fontSize: 10 }, encoding: { text: { field: 'count', type: 'quantitative' }, color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' } } },
    ],
  } as vegaLite.TopLevelSpec;
}

/** Horizontal bars: one value per category (class counts, sweep results …). */
export function barSpec(values: { label: string; value: number; group?: string }[], title: string, xTitle: string): vegaLite.TopLevelSpec {
  return {
    title,
    data: { values },
    width: 420,
    height: { step: 18 },
    mark: 'bar',
    encoding: {
      y: { field: 'label', type: 'nominal', sort: null, title: null },
      x: { field: 'value', type: 'quantitative', title: xTitle },
      ...(values.some((v) => v.group) ? { color: { field: 'group', type: 'nominal' }, yOffset: { field: 'group' } } : {}),
    },
  } as vegaLite.TopLevelSpec;
}

/** Histogram of numbers (file sizes, image sizes) per group. */
export function histogramSpec(values: { value: number; group: string }[], title: string, xTitle: string): vegaLite.TopLevelSpec {
  return {
    title,
    data: { values },
    width: 420,
    height: 220,
    mark: { type: 'bar', opacity: 0.7 },
    encoding: {
      x: { field: 'value', type: 'quantitative', bin: { maxbins: 40 }, title: xTitle },
      y: { aggregate: 'count', type: 'quantitative', stack: null },
      color: { field: 'group', type: 'nominal' },
    },
  } as vegaLite.TopLevelSpec;
}
