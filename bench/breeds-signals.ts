/**
 * Per-photo signals for bench:breeds, computed once and cached in bench/out/ (the 2-core machine
 * makes every backbone pass precious): for each candidate view of each unseen Imagewoof photo,
 * the backbone's raw ImageNet probabilities on the 118 dog breeds, for the view and its mirror
 * image separately; YOLOX-nano's boxes; YuNet's faces with the app's face check; and the same
 * detector signals on LFW and the negatives. Every option is then scored from these numbers.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cropFace } from '../src/app/dog-app.js';
import { viewImages, viewName, type ViewSpec } from '../src/app/views.js';
import { loadImage, type RgbImage } from '../src/data/image.js';
import { resizeFor } from '../src/data/preprocess.js';
import { cropRegion, flipHorizontal } from '../src/data/transform.js';
import { viewsOf } from '../src/models/views.js';
import type { CocoBox } from '../src/detectors/coco-decode.js';
import { YoloxDetector } from '../src/detectors/coco.js';
import { loadYoloxGraph } from '../src/detectors/coco-graph.js';
import { loadYunetGraph } from '../src/detectors/face/yunet-graph.js';
import { getDefaultStore } from '../src/models/store.js';
import { dogClassIndices } from '../src/detectors/imagenet-dog-rule.js';
import { YunetFaceDetector } from '../src/detectors/face/yunet.js';
import { loadBackbone, type Backbone } from '../src/models/backbone.js';
import { IMAGENET_DOG_RANGE } from '../src/models/imagenet.js';
import { imageFilesIn as listImageFiles } from '../src/data/walk.js';

/** Candidate views (besides 'whole', the keep-aspect photo on the free-size graph). */
export const CANDIDATE_VIEWS: ViewSpec[] = [
  { kind: 'centre', crop: 1 },
  { kind: 'centre', crop: 0.875 },
  { kind: 'centre', crop: 0.75 },
  { kind: 'corner', crop: 0.875, corner: 'tl' },
  { kind: 'corner', crop: 0.875, corner: 'tr' },
  { kind: 'corner', crop: 0.875, corner: 'bl' },
  { kind: 'corner', crop: 0.875, corner: 'br' },
  { kind: 'dog', margin: 0 },
  { kind: 'dog', margin: 0.1 },
  { kind: 'dog', margin: 0.25 },
];
export const WHOLE = 'whole';

export interface FaceSig {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
  area: number;
  cropDog: number;
}
export interface PhotoSig {
  file: string;
  set: 'imagewoof' | 'lfw' | 'negatives';
  /** Imagewoof: the wnid folder. */
  label?: string;
  /** Imagewoof: parity of the numeric id (even tune, odd report); LFW: parity of the person's index; negatives: of the index. */
  half: 'tune' | 'report';
  width: number;
  height: number;
  /** Dog + wild-dog probability mass of the centre view, flip-averaged (the app's dog rule input). */
  dogMass: number;
  boxes: CocoBox[];
  faces: FaceSig[];
  /** Imagewoof only: view name → [direct, mirrored] raw probabilities on ImageNet 151–268, base64 Float32. */
  views?: Record<string, [string, string]>;
}

const enc = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
export const dec = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const breedsOf = (p: Float32Array) => p.slice(IMAGENET_DOG_RANGE.first, IMAGENET_DOG_RANGE.last + 1);
const WILD = dogClassIndices(true);
const mass = (p: Float32Array) => WILD.reduce((s, i) => s + p[i]!, 0);

/** The best dog box YOLOX found (any score: the option decides the threshold). */
export const bestDogBox = (boxes: CocoBox[]) => boxes.filter((b) => b.classId === 16).sort((a, b) => b.score - a.score)[0];

export async function photoList(data: string): Promise<Omit<PhotoSig, 'width' | 'height' | 'dogMass' | 'boxes' | 'faces'>[]> {
  const out: Omit<PhotoSig, 'width' | 'height' | 'dogMass' | 'boxes' | 'faces'>[] = [];
  for (const split of ['train', 'val']) {
    for (const f of await listImageFiles(path.join(data, 'imagewoof', split))) {
      const m = /ILSVRC2012_val_(\d+)/.exec(path.basename(f));
      if (!m) continue; // ImageNet training photos: MobileNet saw them
      out.push({ file: f, set: 'imagewoof', label: path.basename(path.dirname(f)), half: Number(m[1]) % 2 === 0 ? 'tune' : 'report' });
    }
  }
  const lfw = await listImageFiles(path.join(data, 'lfw'));
  const people = [...new Set(lfw.map((f) => path.basename(path.dirname(f))))].sort();
  for (const f of lfw) out.push({ file: f, set: 'lfw', half: people.indexOf(path.basename(path.dirname(f))) % 2 ? 'report' : 'tune' });
  (await listImageFiles(path.join(data, 'negatives'))).forEach((f, i) => out.push({ file: f, set: 'negatives', half: i % 2 ? 'report' : 'tune' }));
  return out;
}

/** A view's and its mirror image's probabilities, apart, as the app makes them (embedWith: fit, then mirror the fitted pixels). */
async function pair(b: Backbone, im: RgbImage): Promise<[Float32Array, Float32Array]> {
  const fitted = await resizeFor(im, b.spec.preprocessing);
  const [d, m] = await b.run(viewsOf([fitted], true));
  return [d!.probabilities, m!.probabilities];
}

/**
 * What the cached signals were computed with: the detector graphs as the app runs them (YOLOX's and
 * YuNet's letterbox are inside them, so a change there changes this) and SIGNALS_FORMAT for what
 * lies outside them (this file's views, crops and fields; bump it when they change). The backbone is
 * the registry's, pinned by sha256. A cache with another key is computed again: no stale boxes after
 * a preprocessing change.
 */
const SIGNALS_FORMAT = 3;
async function signalsKey(): Promise<string> {
  const store = getDefaultStore();
  const hash = createHash('sha256').update(`format ${SIGNALS_FORMAT}\0`);
  for (const bytes of [await loadYoloxGraph(store), await loadYunetGraph('yunet_n', store)]) hash.update(bytes);
  return hash.digest('hex').slice(0, 16);
}

export async function collectSignals(data: string, outDir: string, fresh: boolean): Promise<PhotoSig[]> {
  mkdirSync(outDir, { recursive: true });
  const cacheFile = path.join(outDir, 'breeds-signals.json');
  const done = new Map<string, PhotoSig>();
  const key = await signalsKey();
  if (existsSync(cacheFile) && !fresh) {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key?: string; photos?: PhotoSig[] };
    if (cached.key === key) for (const s of cached.photos ?? []) done.set(s.file, s);
    else process.stderr.write(`signals: ${cacheFile} was computed by other models or preprocessing; computing them again\n`);
  }
  const list = await photoList(data);
  if (list.every((p) => done.has(p.file))) return list.map((p) => done.get(p.file)!);
  const fixed = await loadBackbone(undefined, { batchSize: 2 });
  const free = await loadBackbone(undefined, { resize: 'keep-aspect' });
  const yolox = await YoloxDetector.create({ scoreThreshold: 0.05 });
  const yunet = await YunetFaceDetector.create({ scoreThreshold: 0.5 });
  const t0 = performance.now();
  let n = 0;
  const save = () => writeFileSync(cacheFile, JSON.stringify({ key, photos: [...done.values()] }));
  for (const p of list) {
    if (done.has(p.file)) continue;
    const img = await loadImage(p.file);
    const boxes = await yolox.detect(img);
    const centre = await pair(fixed, img);
    const faceBoxes = (await yunet.detect(img)).slice(0, 4);
    const crops = await Promise.all(faceBoxes.map((f) => cropFace(img, f)));
    const faces: FaceSig[] = [];
    for (const [i, f] of faceBoxes.entries()) {
      const [d, m] = await pair(fixed, crops[i]!);
      faces.push({
        x: f.x,
        y: f.y,
        width: f.width,
        height: f.height,
        score: f.score,
        area: (f.width * f.height) / (img.width * img.height),
        cropDog: (mass(d) + mass(m)) / 2,
      });
    }
    const sig: PhotoSig = { ...p, width: img.width, height: img.height, dogMass: (mass(centre[0]) + mass(centre[1])) / 2, boxes, faces };
    if (p.set === 'imagewoof') {
      const dog = bestDogBox(boxes);
      const images = await viewImages(img, CANDIDATE_VIEWS, dog, cropRegion);
      const views: Record<string, [string, string]> = {};
      for (const [i, v] of CANDIDATE_VIEWS.entries()) {
        const [d, m] = i === 0 ? centre : await pair(fixed, images[i]!);
        views[viewName(v)] = [enc(breedsOf(d)), enc(breedsOf(m))];
      }
      const [wd] = await free.run([img]);
      const [wm] = await free.run([flipHorizontal(img)]);
      views[WHOLE] = [enc(breedsOf(wd!.probabilities)), enc(breedsOf(wm!.probabilities))];
      sig.views = views;
    }
    done.set(p.file, sig);
    if (++n % 100 === 0) {
      process.stderr.write(`signals: ${n} photos, ${(n / ((performance.now() - t0) / 1000)).toFixed(1)}/s\n`);
      save();
    }
  }
  save();
  for (const m of [fixed, free, yolox, yunet]) m.dispose();
  return list.map((p) => done.get(p.file)!);
}
