/**
 * npm run bench:routing — the dog app's routing (dog / human / both / neither) on the shared photo
 * sets, measured on the app itself: every photo goes through `DogApp.classify` (the shared
 * `runDogPipeline`), and the tables count the kind of answer the app gave.
 *
 * - "The app" is `createDogApp()` with every default (the 'accurate' preset: YOLOX-nano's person
 *   evidence and breed views on top of the shared pipeline), and beside it the 'standard' preset.
 * - The other rows are the 'standard' preset with some of its own options changed (the seed's
 *   rules, Haar, the face check off …), so they compare the rules and nothing else; their values
 *   are read from the modules that hold the defaults, so a changed default changes the rows with it.
 *
 * Thresholds were chosen on a "tune" half (a 300-photo imagewoof/train sample, even-numbered LFW
 * people, even-numbered negatives) and are reported on the other half (imagewoof/val, odd-numbered
 * LFW people, odd-numbered negatives): photos the choice never saw.
 *
 * The variants run the same models on the same photo, so the model calls are shared between them
 * (a backbone batch or a face detection with identical input is run once and its output replayed;
 * every decision is still the app's). BENCH_SHARE_MODELS=0 turns that off.
 *
 *   BENCH_BACKBONE=name the backbone of every row (default: the app's), its tuned values in the labels
 *   BENCH_LIMIT=N       at most N photos per set (default: every photo of every set, 3,038)
 *   BENCH_VARIANTS=app  only the app as shipped (default: all ten rows, about 25 min on 2 busy cores)
 * Per-photo answers go to bench/out/routing-kinds.json.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDogApp, DOG_APP_DEFAULTS, type DogApp, type DogAppOptions, type ResultKind } from '../src/app/dog-app.js';
import { DEFAULT_QUALITY, dogPlan } from '../src/app/quality.js';
import { DOG_APP_BACKBONE } from '../src/app/tuning.js';
import { loadImage, type RgbImage } from '../src/data/image.js';
import { imageFilesIn } from '../src/data/walk.js';
import { HAAR_DEFAULTS } from '../src/detectors/face/haar.js';
import type { FaceBox } from '../src/detectors/face/types.js';
import { YUNET_DEFAULTS } from '../src/detectors/face/yunet-decode.js';
import type { BackboneOutput } from '../src/models/backbone.js';
import { IMAGENET_DOG_RANGE, IMAGENET_WILD_DOGS } from '../src/models/imagenet.js';
import { sharedDataDir } from '../support/shared.js';
import { showsNeither } from './negative-labels.js';
import { table } from './stats.js';

type Half = 'tune' | 'test';
type SetName = 'imagewoof/train' | 'imagewoof/val' | 'lfw' | 'negatives';
interface Photo {
  file: string;
  set: SetName;
  half: Half;
}

const limit = Number(process.env.BENCH_LIMIT ?? Infinity);
const onlyApp = process.env.BENCH_VARIANTS === 'app';
const shareModels = process.env.BENCH_SHARE_MODELS !== '0';
const data = sharedDataDir();
const every = <T>(xs: T[], n: number) => (xs.length <= n ? xs : Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]!));

async function photos(): Promise<Photo[]> {
  const files = (dir: string, n: number) => imageFilesIn(path.join(data, dir)).then((fs) => every(fs, Math.min(limit, n)));
  const out: Photo[] = [];
  for (const file of await files('imagewoof/train', 300)) out.push({ file, set: 'imagewoof/train', half: 'tune' });
  for (const file of await files('imagewoof/val', Infinity)) out.push({ file, set: 'imagewoof/val', half: 'test' });
  const lfw = await files('lfw', Infinity);
  const people = [...new Set(lfw.map((f) => path.basename(path.dirname(f))))].sort();
  for (const file of lfw) out.push({ file, set: 'lfw', half: people.indexOf(path.basename(path.dirname(file))) % 2 ? 'test' : 'tune' });
  (await files('negatives', Infinity)).forEach((file, i) => out.push({ file, set: 'negatives', half: i % 2 ? 'test' : 'tune' }));
  return out;
}

// The rows: the app's own options, their values from the modules that define the defaults (the
// backbone's tuned values: app/tuning.ts).
const backbone = process.env.BENCH_BACKBONE ?? DOG_APP_BACKBONE;
const plan = dogPlan(DEFAULT_QUALITY, backbone);
const range = `${IMAGENET_DOG_RANGE.first}–${IMAGENET_DOG_RANGE.last}`;
const wild = `${IMAGENET_WILD_DOGS[0]}–${IMAGENET_WILD_DOGS[IMAGENET_WILD_DOGS.length - 1]}`;
const dogRule = plan.dog;
const flip = plan.flipAverage ? ', flip' : '';
const area = `≥ ${+(plan.faces.minFaceArea * 100).toFixed(2)}% area`;
const faceCheck = `face check (crop dog mass < ${plan.faces.dogVeto})`;
const noCheck = { faceDogVeto: 1, minFaceArea: 0 };
const seedHaar = { faceDetector: 'haar', haar: { padFraction: 0, minSide: 0 }, ...noCheck } as const;
const seedDog = { rule: 'argmax', wildDogs: false } as const;
const appDogRule = `default: mass on ${range} + ${wild} ≥ ${dogRule.threshold} (${dogRule.thresholdWithPerson} with a person)${flip}`;
const appFaceRule = `default: YuNet ≥ ${YUNET_DEFAULTS.scoreThreshold}, ${faceCheck}, ${area}`;
const strictYunet = +(YUNET_DEFAULTS.scoreThreshold + 0.1).toFixed(2);

interface Variant {
  dog: string;
  face: string;
  options: DogAppOptions;
}
const APP: Variant = { dog: `**${appDogRule}**`, face: `**${appFaceRule}, --preset ${DEFAULT_QUALITY} (the default)**`, options: {} };
const STANDARD: Variant = { dog: appDogRule, face: `${appFaceRule}, --preset standard`, options: { quality: 'standard' } };
const ruleRows: Variant[] = [
  { dog: `seed: argmax in ${range}, no flip`, face: 'seed: Haar, no padding, no check', options: { dog: seedDog, flipAverage: false, ...seedHaar } },
  { dog: `seed: argmax in ${range}${flip}`, face: appFaceRule, options: { dog: seedDog } },
  {
    dog: `mass on ${range} + ${wild} ≥ ${dogRule.threshold}, with a person too${flip}`,
    face: appFaceRule,
    options: { dog: { thresholdWithPerson: dogRule.threshold } },
  },
  { dog: appDogRule, face: 'seed: Haar, no padding, no check', options: seedHaar },
  {
    dog: appDogRule,
    face: `Haar, pad ${HAAR_DEFAULTS.padFraction} + upscale to ${HAAR_DEFAULTS.minSide} px, no check`,
    options: { faceDetector: 'haar', ...noCheck },
  },
  { dog: appDogRule, face: `Haar, pad + upscale, ${faceCheck}, ${area}`, options: { faceDetector: 'haar' } },
  { dog: appDogRule, face: `YuNet ≥ ${YUNET_DEFAULTS.scoreThreshold}, no check`, options: noCheck },
  { dog: appDogRule, face: `YuNet ≥ ${YUNET_DEFAULTS.scoreThreshold}, ${faceCheck}, any size`, options: { minFaceArea: 0 } },
  STANDARD,
  { dog: appDogRule, face: `YuNet ≥ ${strictYunet}, ${faceCheck}, ${area}`, options: { yunet: { scoreThreshold: strictYunet } } },
];
const variants: Variant[] = (
  onlyApp ? [APP, STANDARD] : [...ruleRows.map((v) => ({ ...v, options: { quality: 'standard' as const, ...v.options } })), APP]
).map((v) => ({ ...v, options: { backbone, ...v.options } }));

// Model calls shared between the variants' apps, for the photo being measured (cleared after it).
const backboneRuns = new Map<string, Promise<BackboneOutput[]>>();
const faceRuns = new WeakMap<RgbImage, Map<string, Promise<FaceBox[]>>>();
const wrapped = new WeakSet<object>();
function shareModelCalls(app: DogApp, v: Variant): void {
  const backbone = app.backbone;
  if (!wrapped.has(backbone)) {
    wrapped.add(backbone);
    const run = backbone.run.bind(backbone);
    backbone.run = (views: RgbImage[]) => {
      const h = createHash('sha1');
      for (const im of views) h.update(`${im.width}x${im.height}`).update(im.data);
      const key = h.digest('hex');
      if (!backboneRuns.has(key)) backboneRuns.set(key, run(views));
      return backboneRuns.get(key)!;
    };
  }
  const detector = app.faceDetector;
  const detect = detector.detect.bind(detector);
  const key = JSON.stringify([v.options.faceDetector ?? DOG_APP_DEFAULTS.faceDetector, v.options.haar, v.options.yunet]);
  detector.detect = (image: RgbImage) => {
    const runs = faceRuns.get(image) ?? new Map<string, Promise<FaceBox[]>>();
    faceRuns.set(image, runs);
    if (!runs.has(key)) runs.set(key, detect(image));
    return runs.get(key)!;
  };
}

const list = await photos();
const apps: DogApp[] = [];
for (const v of variants) apps.push(await createDogApp(v.options)); // one at a time: OpenCV.js does not load twice at once
if (shareModels) variants.forEach((v, i) => shareModelCalls(apps[i]!, v));
const kinds: ResultKind[][] = variants.map(() => []);
const t0 = performance.now();
for (const [n, p] of list.entries()) {
  const image = await loadImage(p.file);
  for (const [i, app] of apps.entries()) kinds[i]!.push((await app.classify(image)).kind);
  backboneRuns.clear();
  if (n % 100 === 99 || n === list.length - 1)
    process.stderr.write(`${n + 1}/${list.length} photos, ${((n + 1) / ((performance.now() - t0) / 1000)).toFixed(1)}/s\n`);
}
for (const app of apps) app.dispose();
const outDir = path.join(import.meta.dirname, 'out');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  path.join(outDir, 'routing-kinds.json'),
  JSON.stringify(
    list.map((p, j) => ({
      ...p,
      file: path.relative(data, p.file),
      kinds: Object.fromEntries(variants.map((v, i) => [`${v.dog} | ${v.face}`, kinds[i]![j]])),
    })),
  ),
);

const pct = (k: number, n: number) => (n ? `${((100 * k) / n).toFixed(1)}%` : '-');
// by its labels: every variant was copied with the backbone added, so APP itself is not in the list
const appKinds = kinds[variants.findIndex((v) => v.dog === APP.dog && v.face === APP.face)]!;
const isUnseen = (p: Photo) => path.basename(p.file).startsWith('ILSVRC2012_val_');

// 1. The app as shipped: the kind of answer, per set.
const groups: [string, (p: Photo) => boolean][] = [
  ['imagewoof/train sample (tune)', (p) => p.set === 'imagewoof/train'],
  ['imagewoof/val (report)', (p) => p.set === 'imagewoof/val'],
  ['imagewoof/val, ILSVRC2012_val_* only (MobileNet never saw them)', (p) => p.set === 'imagewoof/val' && isUnseen(p)],
  ['lfw, even-numbered people (tune)', (p) => p.set === 'lfw' && p.half === 'tune'],
  ['lfw, odd-numbered people (report)', (p) => p.set === 'lfw' && p.half === 'test'],
  ['negatives, even (tune)', (p) => p.set === 'negatives' && p.half === 'tune'],
  ['negatives, odd (report)', (p) => p.set === 'negatives' && p.half === 'test'],
  // what each negative shows, looked at by eye: some show a person's face or a dog (negative-labels.ts)
  ['negatives, odd (report), showing neither a face nor a dog', (p) => p.set === 'negatives' && p.half === 'test' && showsNeither(path.relative(data, p.file))],
];
const KINDS: ResultKind[] = ['dog', 'human', 'both', 'neither'];
console.log('## The app as shipped (createDogApp() defaults): kind of answer per set\n');
console.log(
  table(
    ['photos', 'n', ...KINDS],
    groups.map(([name, keep]) => {
      const idx = list.flatMap((p, j) => (keep(p) ? [j] : []));
      return [name, idx.length, ...KINDS.map((k) => pct(idx.filter((j) => appKinds[j] === k).length, idx.length))];
    }),
  ),
);

// 2. Each rule against the app's, per half.
for (const half of ['tune', 'test'] as const) {
  const inHalf = list.flatMap((p, j) => (p.half === half ? [j] : []));
  const dogSet: SetName = half === 'tune' ? 'imagewoof/train' : 'imagewoof/val';
  const ofSet = (s: SetName) => inHalf.filter((j) => list[j]!.set === s);
  const [dogs, humans, negatives] = [ofSet(dogSet), ofSet('lfw'), ofSet('negatives')];
  const rate = (ks: ResultKind[], js: number[], want: ResultKind[]) => pct(js.filter((j) => want.includes(ks[j]!)).length, js.length);
  console.log(`\n## ${half === 'tune' ? 'tune' : 'report'} half: ${dogSet} ${dogs.length}, lfw ${humans.length}, negatives ${negatives.length}\n`);
  console.log(
    table(
      ['dog rule', 'face rule', 'dogs→dog', 'dog found: dog or both', 'humans→human', 'negatives→neither'],
      variants.map((v, i) => {
        const ks = kinds[i]!;
        return [v.dog, v.face, rate(ks, dogs, ['dog']), rate(ks, dogs, ['dog', 'both']), rate(ks, humans, ['human']), rate(ks, negatives, ['neither'])];
      }),
    ),
  );
}
