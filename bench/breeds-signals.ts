/**
 * Per-photo signals for bench:breeds, computed once and cached in bench/out/ (the 2-core machine
 * makes every backbone pass precious). The detectors' signals, the same for every backbone, in
 * breeds-detections.json: YOLOX-nano's boxes and YuNet's faces, on the unseen Imagewoof photos,
 * LFW and the negatives. One backbone's, in breeds-signals-<backbone>.json: the dog mass of the
 * photo and of each face crop (the app's dog rule and face check), and for each candidate view of
 * each Imagewoof photo the raw ImageNet probabilities on the 118 dog breeds, each for the view and
 * its mirror image apart. Every option is then scored from these numbers.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
import { DEFAULT_BACKBONE, registryEntry, type BackboneSpec } from '../src/models/registry.js';
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
  /** The backbone's dog mass on the face crop, averaged with its mirror image's (the app's face check with flip on). */
  cropDog: number;
  /** The same, the crop and its mirror image apart ([direct, mirrored]): the check with flip off reads the first. */
  cropDogPair: [number, number];
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
  /** The same, the view and its mirror image apart. */
  dogMassPair: [number, number];
  boxes: CocoBox[];
  faces: FaceSig[];
  /**
   * Imagewoof only: view name → [direct, mirrored] raw probabilities on ImageNet 151–268, base64
   * Float32; only the views the backbone's preprocessing can give (`availableViews`).
   */
  views?: Record<string, [string, string]>;
}

type Listed = Pick<PhotoSig, 'file' | 'set' | 'label' | 'half'>;

/** What the detectors say of a photo: computed once for every backbone (breeds-detections.json). */
interface DetectionSig extends Listed {
  width: number;
  height: number;
  boxes: CocoBox[];
  faces: Omit<FaceSig, 'cropDog' | 'cropDogPair'>[];
}

/** What one backbone says of a photo (breeds-signals-<backbone>.json). */
interface BackboneSig {
  file: string;
  dogMassPair: [number, number];
  /** Per face of the detection signals, in order: the crop's dog mass and its mirror image's. */
  cropDog: [number, number][];
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
const mean2 = ([a, b]: [number, number]) => (a + b) / 2;

/** The best dog box YOLOX found (any score: the option decides the threshold). */
export const bestDogBox = (boxes: CocoBox[]) => boxes.filter((b) => b.classId === 16).sort((a, b) => b.score - a.score)[0];

export async function photoList(data: string): Promise<Listed[]> {
  const out: Listed[] = [];
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
 * The views a backbone can give: every candidate view is a region of the photo the backbone fits
 * its own way; 'whole' (the photo at its own aspect) needs a graph that takes any size.
 */
export function availableViews(spec: BackboneSpec): string[] {
  return [...CANDIDATE_VIEWS.map(viewName), ...(spec.resizeModes.includes('keep-aspect') ? [WHOLE] : [])];
}

/**
 * What the cached signals were computed with. Detections: the detector graphs as the app runs them
 * (YOLOX's and YuNet's letterbox are inside them, so a change there changes the key) and
 * SIGNALS_FORMAT for what lies outside them (this file's views, crops and fields; bump it when
 * they change). A backbone's signals: those, and the backbone's name (the registry pins its
 * files by sha256) and preprocessing. A cache with another key is computed again: no stale boxes
 * after a preprocessing change.
 */
const SIGNALS_FORMAT = 4;
async function detectionsKey(): Promise<string> {
  const store = getDefaultStore();
  const hash = createHash('sha256').update(`format ${SIGNALS_FORMAT}\0`);
  for (const bytes of [await loadYoloxGraph(store), await loadYunetGraph('yunet_n', store)]) hash.update(bytes);
  return hash.digest('hex').slice(0, 16);
}
const backboneKey = (detections: string, name: string, spec: BackboneSpec) =>
  createHash('sha256')
    .update(`${detections}\0${name}\0${JSON.stringify(spec.preprocessing)}`)
    .digest('hex')
    .slice(0, 16);

/** A cache file's entries when its key matches, else none (and a word on stderr). */
function readCache<T extends { file: string }>(file: string, key: string, fresh: boolean): Map<string, T> {
  const done = new Map<string, T>();
  if (!existsSync(file) || fresh) return done;
  const cached = JSON.parse(readFileSync(file, 'utf8')) as { key?: string; photos?: T[] };
  if (cached.key === key) for (const s of cached.photos ?? []) done.set(s.file, s);
  else process.stderr.write(`signals: ${file} was computed by other models or preprocessing; computing them again\n`);
  return done;
}

/** Written whole to a temporary file, then renamed: an interrupted run never leaves half a cache. */
function writeCache(file: string, key: string, photos: Iterable<unknown>): void {
  writeFileSync(`${file}.tmp`, JSON.stringify({ key, photos: [...photos] }));
  renameSync(`${file}.tmp`, file);
}

/** The cache file of a backbone's signals. */
export const signalsFile = (outDir: string, backbone: string) => path.join(outDir, `breeds-signals-${backbone}.json`);

/**
 * Every photo's signals for `backbone` (default: the registry's default backbone): the detectors'
 * (cached once for all backbones) and the backbone's (cached per backbone).
 */
export async function collectSignals(data: string, outDir: string, fresh: boolean, backbone: string = DEFAULT_BACKBONE): Promise<PhotoSig[]> {
  mkdirSync(outDir, { recursive: true });
  const list = await photoList(data);
  const detections = await collectDetections(list, outDir, fresh);
  const spec = registryEntry(backbone).backbone;
  if (!spec) throw new Error(`${backbone} is not a backbone`);
  const views = availableViews(spec);
  const cacheFile = signalsFile(outDir, backbone);
  const key = backboneKey(detections.key, backbone, spec);
  const done = readCache<BackboneSig>(cacheFile, key, fresh);
  if (list.some((p) => !done.has(p.file))) {
    const fixed = await loadBackbone(backbone, { batchSize: 2 });
    const free = views.includes(WHOLE) ? await loadBackbone(backbone, { resize: 'keep-aspect' }) : undefined;
    const t0 = performance.now();
    let n = 0;
    for (const p of list) {
      if (done.has(p.file)) continue;
      const det = detections.photos.get(p.file)!;
      const img = await loadImage(p.file);
      const centre = await pair(fixed, img);
      const crops = await Promise.all(det.faces.map((f) => cropFace(img, { ...f })));
      const cropDog: [number, number][] = [];
      for (const crop of crops) {
        const [d, m] = await pair(fixed, crop);
        cropDog.push([mass(d), mass(m)]);
      }
      const sig: BackboneSig = { file: p.file, dogMassPair: [mass(centre[0]), mass(centre[1])], cropDog };
      if (p.set === 'imagewoof') {
        const images = await viewImages(img, CANDIDATE_VIEWS, bestDogBox(det.boxes), cropRegion);
        const out: Record<string, [string, string]> = {};
        for (const [i, v] of CANDIDATE_VIEWS.entries()) {
          const [d, m] = i === 0 ? centre : await pair(fixed, images[i]!);
          out[viewName(v)] = [enc(breedsOf(d)), enc(breedsOf(m))];
        }
        if (free) {
          const [wd] = await free.run([img]);
          const [wm] = await free.run([flipHorizontal(img)]);
          out[WHOLE] = [enc(breedsOf(wd!.probabilities)), enc(breedsOf(wm!.probabilities))];
        }
        sig.views = out;
      }
      done.set(p.file, sig);
      if (++n % 100 === 0) {
        process.stderr.write(`signals (${backbone}): ${n} photos, ${(n / ((performance.now() - t0) / 1000)).toFixed(1)}/s\n`);
        writeCache(cacheFile, key, done.values());
      }
    }
    writeCache(cacheFile, key, done.values());
    fixed.dispose();
    free?.dispose();
  }
  return list.map((p) => {
    const det = detections.photos.get(p.file)!;
    const b = done.get(p.file)!;
    return {
      ...det,
      dogMass: mean2(b.dogMassPair),
      dogMassPair: b.dogMassPair,
      faces: det.faces.map((f, i) => ({ ...f, cropDog: mean2(b.cropDog[i]!), cropDogPair: b.cropDog[i]! })),
      ...(b.views ? { views: b.views } : {}),
    };
  });
}

/** YOLOX-nano's boxes and YuNet's faces on every photo, cached in breeds-detections.json. */
export async function collectDetections(list: Listed[], outDir: string, fresh: boolean): Promise<{ key: string; photos: Map<string, DetectionSig> }> {
  const cacheFile = path.join(outDir, 'breeds-detections.json');
  const key = await detectionsKey();
  const done = readCache<DetectionSig>(cacheFile, key, fresh);
  if (list.every((p) => done.has(p.file))) return { key, photos: done };
  const yolox = await YoloxDetector.create({ scoreThreshold: 0.05 });
  const yunet = await YunetFaceDetector.create({ scoreThreshold: 0.5 });
  const t0 = performance.now();
  let n = 0;
  for (const p of list) {
    if (done.has(p.file)) continue;
    const img = await loadImage(p.file);
    const boxes = await yolox.detect(img);
    const faces = (await yunet.detect(img)).slice(0, 4).map((f) => ({
      x: f.x,
      y: f.y,
      width: f.width,
      height: f.height,
      score: f.score,
      area: (f.width * f.height) / (img.width * img.height),
    }));
    done.set(p.file, { ...p, width: img.width, height: img.height, boxes, faces });
    if (++n % 100 === 0) {
      process.stderr.write(`detections: ${n} photos, ${(n / ((performance.now() - t0) / 1000)).toFixed(1)}/s\n`);
      writeCache(cacheFile, key, done.values());
    }
  }
  writeCache(cacheFile, key, done.values());
  yolox.dispose();
  yunet.dispose();
  return { key, photos: done };
}

/** The views an ensemble member is scored on (app/tuning.ts `ensemble`): box-free, so they run while YOLOX looks. */
export const MEMBER_VIEWS: ViewSpec[] = [
  { kind: 'centre', crop: 1 },
  { kind: 'centre', crop: 0.875 },
];

/**
 * An ensemble member's signals (breeds-views-<backbone>.json): on the unseen Imagewoof photos only,
 * the raw ImageNet probabilities on the 118 breeds of each of MEMBER_VIEWS, view and mirror image
 * apart. A member never routes (the main backbone does), so it needs neither the dog masses nor
 * the face crops nor LFW and the negatives: 4 passes a photo instead of ~22.
 */
export async function collectMemberViews(
  data: string,
  outDir: string,
  fresh: boolean,
  backbone: string,
): Promise<Map<string, Record<string, [string, string]>>> {
  mkdirSync(outDir, { recursive: true });
  const list = (await photoList(data)).filter((p) => p.set === 'imagewoof');
  const spec = registryEntry(backbone).backbone;
  if (!spec) throw new Error(`${backbone} is not a backbone`);
  const cacheFile = path.join(outDir, `breeds-views-${backbone}.json`);
  const key = createHash('sha256')
    .update(`member ${SIGNALS_FORMAT}\0${backbone}\0${JSON.stringify(spec.preprocessing)}\0${JSON.stringify(MEMBER_VIEWS)}`)
    .digest('hex')
    .slice(0, 16);
  const done = readCache<{ file: string; views: Record<string, [string, string]> }>(cacheFile, key, fresh);
  if (list.some((p) => !done.has(p.file))) {
    const fixed = await loadBackbone(backbone, { batchSize: 2 });
    const t0 = performance.now();
    let n = 0;
    for (const p of list) {
      if (done.has(p.file)) continue;
      const img = await loadImage(p.file);
      const images = await viewImages(img, MEMBER_VIEWS, undefined, cropRegion);
      const views: Record<string, [string, string]> = {};
      for (const [i, v] of MEMBER_VIEWS.entries()) {
        const [d, m] = await pair(fixed, images[i]!);
        views[viewName(v)] = [enc(breedsOf(d)), enc(breedsOf(m))];
      }
      done.set(p.file, { file: p.file, views });
      if (++n % 100 === 0) {
        process.stderr.write(`member views (${backbone}): ${n} photos, ${(n / ((performance.now() - t0) / 1000)).toFixed(1)}/s\n`);
        writeCache(cacheFile, key, done.values());
      }
    }
    writeCache(cacheFile, key, done.values());
    fixed.dispose();
  }
  return new Map([...done.values()].map((s) => [s.file, s.views]));
}
