/**
 * npm run bench:predict — the dog app per photo on 200 shared photos (dogs, people, negatives):
 * decode, backbone, faces, total, on the ONNX engine; the old TF.js-wasm path on the same photos;
 * and one bare ORT MobileNet pass as the floor. All in one run, so the ratios hold. It also prices
 * each photo's model passes bare (bare-pass.ts), which shows how much of the time is work the
 * pipeline asks for and how much is ours around it.
 *
 * The breakdown rows (decode, backbone, faces, --no-flip, TF.js, bare work) are MobileNet v1 0.75's,
 * whose passes the floor and bare-pass.ts price; the preset rows are given for the dog app's
 * backbone (app/tuning.ts DOG_APP_BACKBONE) and for MobileNet v1 beside it, in the same run.
 * BENCH_PHOTOS=N keeps every (200/N)th of the 200, so the mix stays (a shorter run on a busy machine).
 *
 * The breed ensemble ('accurate', step 6b of app/dog-pipeline.ts): the default app with and without
 * it (`ensemble: false`), interleaved photo by photo. BENCH_ONLY=ensemble times that pair alone
 * (with the floor before and after), for a short run.
 */
import path from 'node:path';
import { createDogApp as createApp, type DogApp, type DogAppOptions } from '../src/app/dog-app.js';
import { DEFAULT_QUALITY, type Quality } from '../src/app/quality.js';
import { DOG_APP_BACKBONE } from '../src/app/tuning.js';
import { DEFAULT_BACKBONE } from '../src/models/registry.js';
import { loadImage } from '../src/data/image.js';
import { loadBackbone } from '../src/models/backbone.js';
import { sampleClassFolders, sharedDataDir } from '../support/shared.js';
import { bareModelWork, barePassMs, bareWorkMs, threadsNote, viewsPerPhoto } from './bare-pass.js';
import { fmt, median, quantile, table } from './stats.js';

const data = sharedDataDir();
const files = [
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 10),
  ...sampleClassFolders(path.join(data, 'lfw'), 1)
    .filter((_, i) => i % 11 === 0)
    .slice(0, 50),
  ...sampleClassFolders(path.join(data, 'negatives'), 10),
]
  .map((f) => f.file)
  .slice(0, 200)
  .filter((_, i, all) => i % Math.max(1, Math.round(all.length / Number(process.env.BENCH_PHOTOS ?? all.length))) === 0);
// Larger photos than the mix above (Imagewoof's shorter side is 224, LFW's crops 90², the negatives
// 224²): real uploads are bigger, and the detectors' letterboxes then shrink instead of enlarging.
const large = sampleClassFolders(path.join(data, 'vehicles'), 10).map((f) => f.file);
const tfjsCount = Math.min(files.length, Number(process.env.BENCH_TFJS_PHOTOS ?? 40));
console.log(
  `bench:predict on ${files.length} photos (TF.js path on every ${Math.round(files.length / tfjsCount)}th, ` +
    `${tfjsCount}), ${threadsNote()}, ${process.env.CI ? 'CI' : 'local'}\n`,
);

/** The app in its steady state: what loads on first need (the breed ensemble's members) loaded first, as `serve` does once ready. */
async function createDogApp(o: DogAppOptions): Promise<DogApp> {
  const app = await createApp(o);
  await app.warmUp();
  return app;
}

async function perPhoto(app: DogApp, list: string[]) {
  for (const f of list.slice(0, 5)) await app.classify(f); // warm-up
  const s = { decode: [] as number[], backbone: [] as number[], faces: [] as number[], total: [] as number[] };
  for (const f of list) {
    const r = await app.classify(f);
    s.decode.push(r.timings.decodeMs);
    s.backbone.push(r.timings.backboneMs);
    s.faces.push(r.timings.facesMs);
    s.total.push(r.timings.totalMs);
  }
  return s;
}

/** Two apps on the same photos, interleaved photo by photo (the order alternating), so a change of load falls on both alike. */
async function interleaved(a: DogApp, b: DogApp, list: string[]) {
  for (const f of list.slice(0, 5)) for (const app of [a, b]) await app.classify(f); // warm-up
  const ms: [number[], number[]] = [[], []];
  const dogs: [number[], number[]] = [[], []];
  /** The photos on which step 6b ran (in `a`, the app with the ensemble). */
  const ran: number[] = [];
  for (const [i, f] of list.entries())
    for (const k of i % 2 ? [1, 0] : [0, 1]) {
      const r = await [a, b][k]!.classify(f);
      ms[k]!.push(r.timings.totalMs);
      if (f.includes(`${path.sep}imagewoof${path.sep}`)) dogs[k]!.push(r.timings.totalMs);
      if (r.ensemble) ran.push(i);
    }
  const ratios = ms[0].map((t, i) => t / ms[1][i]!);
  return {
    a: ms[0],
    b: ms[1],
    ratio: median(ratios),
    ratioRan: ran.length ? median(ran.map((i) => ratios[i]!)) : NaN,
    dogsA: dogs[0],
    dogsB: dogs[1],
    ran: ran.length,
  };
}

const floor = await barePassMs(files[0]!);
if (process.env.BENCH_ONLY === 'ensemble') {
  const apps = [await createDogApp({ backbone: DOG_APP_BACKBONE }), await createDogApp({ backbone: DOG_APP_BACKBONE, ensemble: false })] as const;
  const e = await interleaved(apps[0], apps[1], files);
  for (const app of apps) app.dispose();
  const after = await barePassMs(files[0]!);
  const fm = (floor + after) / 2;
  const r = (v: number) => `${(v / fm).toFixed(1)}×`;
  const row = (name: string, all: number[], dogs: number[]) => [
    name,
    `${fmt(median(all))} (p90 ${fmt(quantile(all, 0.9))})`,
    r(median(all)),
    r(quantile(all, 0.9)),
    `${fmt(median(dogs))} (p90 ${fmt(quantile(dogs, 0.9))})`,
  ];
  console.log(
    table(
      [
        `${DOG_APP_BACKBONE}, --preset ${DEFAULT_QUALITY}, interleaved per photo (floor ${fmt(floor)} / ${fmt(after)})`,
        'median',
        'p50 / bare pass',
        'p90 / bare pass',
        'the Imagewoof photos',
      ],
      [
        row('with the ensemble (the default)', e.a, e.dogsA),
        row('ensemble: false', e.b, e.dogsB),
        ['with ÷ without, per photo (median)', `${e.ratio.toFixed(2)}×`, '', '', `step 6b ran on ${e.ran} of ${files.length} photos`],
        ['with ÷ without, per photo, on the photos step 6b ran on (median)', `${e.ratioRan.toFixed(2)}×`, '', '', ''],
      ],
    ),
  );
  process.exit(0);
}
const workBefore = await bareWorkMs(files[0]!);
// The engine's figures are on the 'standard' preset, the shared pipeline every figure before the
// presets was taken on, with MobileNet v1 (the floor's network); the presets are timed after it, on
// the app's backbone and on v1.
const V1 = DEFAULT_BACKBONE;
const backbones = [...new Set([DOG_APP_BACKBONE, V1])];
const onnx = await createDogApp({ quality: 'standard', backbone: V1 });
const o = await perPhoto(onnx, files);
// The bare work is priced right before and right after the photos it is compared with, and their
// mean taken, as the floor is: a change of load during the run then falls on both sides alike.
const workAfter = await bareWorkMs(files[0]!);
const work = { backbonePair: (workBefore.backbonePair + workAfter.backbonePair) / 2, yunet: (workBefore.yunet + workAfter.yunet) / 2 };
const big = await perPhoto(onnx, large);
// the views each photo sends through the backbone (photo, mirror, face crops and theirs), to price its model work bare
const views = await viewsPerPhoto(onnx, files);
onnx.dispose();
const onnxNoFlip = await createDogApp({ quality: 'standard', flipAverage: false, backbone: V1 });
const nf = await perPhoto(onnxNoFlip, files);
onnxNoFlip.dispose();
const presets: { name: Quality; backbone: string; total: number[] }[] = [];
for (const backbone of backbones)
  for (const quality of ['standard', 'fast', 'accurate'] as const) {
    if (backbone === V1 && quality === 'standard') continue; // the breakdown above
    const app = await createDogApp({ quality, backbone });
    presets.push({ name: quality, backbone, total: (await perPhoto(app, files)).total });
    app.dispose();
  }
// The default app against the same preset on v1, interleaved photo by photo (the order alternating),
// so a change of load on the shared machine falls on both alike: the preset rows above run one
// after the other, and their ratio moves with whatever else runs meanwhile.
const paired = await (async () => {
  if (DOG_APP_BACKBONE === V1) return null;
  const apps = [await createDogApp({ backbone: DOG_APP_BACKBONE }), await createDogApp({ quality: DEFAULT_QUALITY, backbone: V1 })] as const;
  for (const f of files.slice(0, 5)) for (const app of apps) await app.classify(f); // warm-up
  const ms: [number[], number[]] = [[], []];
  for (const [i, f] of files.entries()) for (const k of i % 2 ? [1, 0] : [0, 1]) ms[k]!.push((await apps[k]!.classify(f)).timings.totalMs);
  for (const app of apps) app.dispose();
  return { app: ms[0], v1: ms[1], ratio: median(ms[0].map((t, i) => t / ms[1][i]!)) };
})();
const sub = files.filter((_, i) => i % Math.round(files.length / tfjsCount) === 0);
const tfjs = await createDogApp({ engine: 'tfjs', quality: 'standard', backbone: V1 });
const t = await perPhoto(tfjs, sub);
tfjs.dispose();
const floorAfter = await barePassMs(files[0]!);

// The floor moves between runs on a shared machine: ratios are to the mean of before and after.
const floorMean = (floor + floorAfter) / 2;
const x = (ms: number) => `${(ms / floorMean).toFixed(1)}×`;
const bare = views.map((v) => bareModelWork(v, work));
const overBare = o.total.map((t, i) => t / bare[i]!);
console.log(
  table(
    ['per photo (median)', 'ONNX engine', 'ratio to bare pass', 'TF.js wasm (old path)', 'ratio'],
    [
      ['bare ORT MobileNet pass (floor; before / after the run; ratios to their mean)', `${fmt(floor)} / ${fmt(floorAfter)}`, '1.0×', '', ''],
      ['decode', fmt(median(o.decode)), x(median(o.decode)), fmt(median(t.decode)), x(median(t.decode))],
      ['backbone (photo + mirror)', fmt(median(o.backbone)), x(median(o.backbone)), fmt(median(t.backbone)), x(median(t.backbone))],
      ['faces (YuNet + face check)', fmt(median(o.faces)), x(median(o.faces)), fmt(median(t.faces)), x(median(t.faces))],
      [
        `**total, --preset standard, flip averaging on, ${V1}**`,
        `**${fmt(median(o.total))}** (p90 ${fmt(quantile(o.total, 0.9))})`,
        `**${x(median(o.total))}**`,
        `${fmt(median(t.total))} (p90 ${fmt(quantile(t.total, 0.9))})`,
        x(median(t.total)),
      ],
      [`total, --no-flip, ${V1}`, fmt(median(nf.total)), x(median(nf.total)), '', ''],
      ...presets.map((p) => [
        `total, --preset ${p.name}, ${p.backbone}${p.name === DEFAULT_QUALITY && p.backbone === DOG_APP_BACKBONE ? ' (the default)' : ''}`,
        `${fmt(median(p.total))} (p90 ${fmt(quantile(p.total, 0.9))})`,
        x(median(p.total)),
        '',
        '',
      ]),
      [
        `total on ${large.length} larger photos, --preset standard, ${V1} (shared vehicles, real, up to 640 px; decode ${fmt(median(big.decode))})`,
        fmt(median(big.total)),
        x(median(big.total)),
        '',
        '',
      ],
      [
        "the photo's model passes, bare and one after another (backbone pair " +
          `${fmt(workBefore.backbonePair)} / ${fmt(workAfter.backbonePair)}, YuNet ${fmt(workBefore.yunet)} / ${fmt(workAfter.yunet)}, before / after the photos)`,
        fmt(median(bare)),
        x(median(bare)),
        '',
        '',
      ],
      ['total ÷ that bare work (per photo, median)', `${median(overBare).toFixed(2)}×`, '', '', ''],
    ],
  ),
);

// Backbone throughput by batch size, on decoded photos (feature extraction's inner loop).
const images = await Promise.all(files.map((f) => loadImage(f)));
const rows: string[][] = [];
for (const bs of [1, 2, 8]) {
  const backbone = await loadBackbone(V1, { batchSize: bs });
  await backbone.run(images.slice(0, 8));
  const t0 = performance.now();
  await backbone.run(images);
  rows.push([`ONNX backbone, batch ${bs}`, `${(images.length / ((performance.now() - t0) / 1000)).toFixed(1)} img/s`]);
  backbone.dispose();
}
if (paired)
  console.log(
    '\n' +
      table(
        [`the default app against ${V1}, --preset ${DEFAULT_QUALITY}, interleaved per photo`, 'median', 'ratio to bare pass'],
        [
          [`${DOG_APP_BACKBONE} (the default)`, `${fmt(median(paired.app))} (p90 ${fmt(quantile(paired.app, 0.9))})`, x(median(paired.app))],
          [V1, `${fmt(median(paired.v1))} (p90 ${fmt(quantile(paired.v1, 0.9))})`, x(median(paired.v1))],
          ['default ÷ v1, per photo (median)', `${paired.ratio.toFixed(2)}×`, ''],
        ],
      ),
  );
console.log('\n' + table(['backbone throughput (resize + pass)', 'rate'], [['bare pass (floor)', `${(1000 / floor).toFixed(1)} img/s`], ...rows]));
