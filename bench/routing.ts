/**
 * Measures the app's routing (dog / human / neither) on the shared photo sets for every detector
 * choice. Signals are computed once per image and cached in bench/out/routing-signals.json; each
 * rule variant is then evaluated from them. Thresholds are chosen on the "tune" half
 * (imagewoof/train sample, even LFW people, even negatives) and reported on the "test" half
 * (imagewoof/val, odd LFW people, odd negatives): photos the choice never saw.
 *
 *   npm run bench:routing [-- --limit N]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadImage } from '../src/data/image.js';
import { flipHorizontal } from '../src/data/transform.js';
import { dogClassIndices } from '../src/detectors/dog.js';
import { HaarFaceDetector } from '../src/detectors/face/haar.js';
import { YunetFaceDetector } from '../src/detectors/face/yunet.js';
import type { FaceDetector } from '../src/detectors/face/types.js';
import { loadBackbone } from '../src/models/backbone.js';
import { cropFace } from '../src/app/dog-app.js';
import { walkImages } from '../src/data/walk.js';
import { sharedDataDir } from '../support/shared.js';

const listImageFiles = async (dir: string) => (await walkImages([dir])).files;

type Expect = 'dog' | 'human' | 'neither';
interface FaceSig {
  score: number;
  cropDog: number;
  area: number;
}
interface Sig {
  file: string;
  set: string;
  half: 'tune' | 'test';
  expect: Expect;
  top: number;
  topFlip: number;
  dogMass: number; // 151–268, mean over flip
  wildMass: number; // 273–275, mean over flip
  dogMassNoFlip: number;
  wildMassNoFlip: number;
  faces: Record<string, FaceSig[]>;
}

const limitArg = process.argv.indexOf('--limit');
const limit = limitArg > 0 ? Number(process.argv[limitArg + 1]) : Infinity;
const data = sharedDataDir();
const outDir = path.join(import.meta.dirname, 'out');
mkdirSync(outDir, { recursive: true });
const cacheFile = path.join(outDir, 'routing-signals.json');

function every<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  const step = xs.length / n;
  return Array.from({ length: n }, (_, i) => xs[Math.floor(i * step)]!);
}

async function sets(): Promise<{ file: string; set: string; half: 'tune' | 'test'; expect: Expect }[]> {
  const out: { file: string; set: string; half: 'tune' | 'test'; expect: Expect }[] = [];
  for (const f of every(await listImageFiles(path.join(data, 'imagewoof/train')), Math.min(limit, 300)))
    out.push({ file: f, set: 'imagewoof/train', half: 'tune', expect: 'dog' });
  for (const f of every(await listImageFiles(path.join(data, 'imagewoof/val')), Math.min(limit, 1000)))
    out.push({ file: f, set: 'imagewoof/val', half: 'test', expect: 'dog' });
  const lfw = every(await listImageFiles(path.join(data, 'lfw')), Math.min(limit, 738));
  const people = [...new Set(lfw.map((f) => path.basename(path.dirname(f))))].sort();
  for (const f of lfw) out.push({ file: f, set: 'lfw', half: people.indexOf(path.basename(path.dirname(f))) % 2 ? 'test' : 'tune', expect: 'human' });
  every(await listImageFiles(path.join(data, 'negatives')), Math.min(limit, 1000)).forEach((f, i) => {
    out.push({ file: f, set: 'negatives', half: i % 2 ? 'test' : 'tune', expect: 'neither' });
  });
  return out;
}

async function computeSignals(): Promise<Sig[]> {
  if (existsSync(cacheFile) && !process.argv.includes('--fresh')) return JSON.parse(readFileSync(cacheFile, 'utf8'));
  const backbone = await loadBackbone();
  const detectors: Record<string, FaceDetector> = {
    yunet: await YunetFaceDetector.create({ scoreThreshold: 0.5 }),
    haar: await HaarFaceDetector.create(),
    'haar-seed': await HaarFaceDetector.create({ padFraction: 0, minSide: 0 }),
  };
  const dogIdx = dogClassIndices(false);
  const mass = (p: Float32Array, idx: number[]) => idx.reduce((s, i) => s + p[i]!, 0);
  const argmax = (p: Float32Array) => p.reduce((b, v, i) => (v > p[b]! ? i : b), 0);
  const items = await sets();
  const sigs: Sig[] = [];
  const t0 = performance.now();
  for (const [n, it] of items.entries()) {
    const img = await loadImage(it.file);
    const [o, f] = await backbone.run([img, flipHorizontal(img)]);
    const faces: Record<string, FaceSig[]> = {};
    for (const [name, det] of Object.entries(detectors)) {
      const boxes = (await det.detect(img)).slice(0, 4);
      const crops = await Promise.all(boxes.map((b) => cropFace(img, b)));
      const outs = crops.length ? await backbone.run(crops.flatMap((c) => [c, flipHorizontal(c)])) : [];
      faces[name] = boxes.map((b, i) => ({
        score: b.score,
        area: (b.width * b.height) / (img.width * img.height),
        cropDog: (mass(outs[2 * i]!.probabilities, [...dogIdx, 273, 274, 275]) + mass(outs[2 * i + 1]!.probabilities, [...dogIdx, 273, 274, 275])) / 2,
      }));
    }
    sigs.push({
      ...it,
      top: argmax(o!.probabilities),
      topFlip: argmax(o!.probabilities.map((v, i) => (v + f!.probabilities[i]!) / 2)),
      dogMass: (mass(o!.probabilities, dogIdx) + mass(f!.probabilities, dogIdx)) / 2,
      wildMass: (mass(o!.probabilities, [273, 274, 275]) + mass(f!.probabilities, [273, 274, 275])) / 2,
      dogMassNoFlip: mass(o!.probabilities, dogIdx),
      wildMassNoFlip: mass(o!.probabilities, [273, 274, 275]),
      faces,
    });
    if (n % 100 === 99) process.stderr.write(`${n + 1}/${items.length} images, ${((n + 1) / ((performance.now() - t0) / 1000)).toFixed(1)}/s\n`);
  }
  writeFileSync(cacheFile, JSON.stringify(sigs));
  return sigs;
}

interface Variant {
  name: string;
  isDog: (s: Sig, human: boolean) => boolean;
  isHuman: (s: Sig) => boolean;
}

function variants(): Variant[] {
  const v: Variant[] = [];
  const inRange = (t: number, wild: boolean) => (t >= 151 && t <= 268) || (wild && t >= 273 && t <= 275);
  const dogRules: [string, Variant['isDog']][] = [
    ['seed: argmax in 151–268', (s) => inRange(s.top, false)],
    ['argmax in 151–268 + 273–275', (s) => inRange(s.top, true)],
    ['mass ≥ 0.5 (151–268, no flip)', (s) => s.dogMassNoFlip >= 0.5],
    ['mass+wild ≥ 0.5, flip', (s) => s.dogMass + s.wildMass >= 0.5],
    ['mass+wild ≥ 0.3, flip', (s) => s.dogMass + s.wildMass >= 0.3],
    ['default: mass+wild ≥ 0.3 (0.6 with a person), flip', (s, human) => s.dogMass + s.wildMass >= (human ? 0.6 : 0.3)],
  ];
  const big = (f: FaceSig) => f.area >= 0.005;
  const faceRules: [string, (s: Sig) => boolean][] = [
    ['seed: haar, no padding', (s) => s.faces['haar-seed']!.length > 0],
    ['haar, pad + upscale', (s) => s.faces.haar!.length > 0],
    ['haar, pad + upscale, face check, ≥0.5% area', (s) => s.faces.haar!.some((f) => f.cropDog < 0.5 && big(f))],
    ['yunet ≥ 0.7', (s) => s.faces.yunet!.some((f) => f.score >= 0.7)],
    ['yunet ≥ 0.7, face check', (s) => s.faces.yunet!.some((f) => f.score >= 0.7 && f.cropDog < 0.5)],
    ['default: yunet ≥ 0.7, face check, ≥0.5% area', (s) => s.faces.yunet!.some((f) => f.score >= 0.7 && f.cropDog < 0.5 && big(f))],
    ['yunet ≥ 0.8, face check, ≥0.5% area', (s) => s.faces.yunet!.some((f) => f.score >= 0.8 && f.cropDog < 0.5 && big(f))],
  ];
  for (const [dn, d] of dogRules) for (const [fn, f] of faceRules) v.push({ name: `${dn} | ${fn}`, isDog: d, isHuman: f });
  return v;
}

function rates(sigs: Sig[], v: Variant) {
  const by = (set: string, want: (s: Sig) => boolean) => {
    const xs = sigs.filter((s) => s.set === set);
    return xs.length ? xs.filter(want).length / xs.length : NaN;
  };
  const kind = (s: Sig) => {
    const h = v.isHuman(s);
    const d = v.isDog(s, h);
    return d && h ? 'both' : d ? 'dog' : h ? 'human' : 'neither';
  };
  return {
    dogsTrain: by('imagewoof/train', (s) => kind(s) === 'dog'),
    dogsVal: by('imagewoof/val', (s) => kind(s) === 'dog'),
    dogsValAnyDog: by('imagewoof/val', (s) => ['dog', 'both'].includes(kind(s))),
    humans: by('lfw', (s) => kind(s) === 'human'),
    neither: by('negatives', (s) => kind(s) === 'neither'),
  };
}

const sigs = await computeSignals();
const pct = (x: number) => (Number.isNaN(x) ? '   -  ' : `${(x * 100).toFixed(1).padStart(5)}%`);
for (const half of ['tune', 'test'] as const) {
  const hs = sigs.filter((s) => s.half === half);
  console.log(
    `\n## ${half} half (${hs.length} images: ${['imagewoof/train', 'imagewoof/val', 'lfw', 'negatives'].map((s) => `${s} ${hs.filter((h) => h.set === s).length}`).join(', ')})`,
  );
  console.log(
    `| dog rule | face rule | dogs→dog (train) | dogs→dog (val) | dog found: dog or both (val) | humans→human | negatives→neither |\n|---|---|---|---|---|---|---|`,
  );
  for (const v of variants()) {
    const r = rates(hs, v);
    console.log(
      `| ${v.name.replace(' | ', ' | ')} | ${pct(r.dogsTrain)} | ${pct(r.dogsVal)} | ${pct(r.dogsValAnyDog)} | ${pct(r.humans)} | ${pct(r.neither)} |`,
    );
  }
}
