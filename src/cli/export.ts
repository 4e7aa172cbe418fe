import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadImage, type RgbImage } from '../data/image.js';
import { verifyExport } from '../evaluation/verify-export.js';
import { buildExport } from '../models/export.js';
import { readManifest } from '../models/model-dir.js';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError, isImgclassError } from '../util/errors.js';
import { describeSkipped, walkImages } from '../data/walk.js';

export interface ExportCliOptions {
  out: string;
  flip?: boolean;
  verify?: string;
  verifyCount: number;
}

/**
 * `imgclass export MODEL... --out FILE.onnx`: one self-contained ONNX file, verified against the
 * trained model on TF.js before it is written; FILE.json beside it says what it is and how close.
 */
export async function runExport(models: string[], o: ExportCliOptions): Promise<number> {
  const t0 = performance.now();
  const built = await buildExport(models, { flip: o.flip === false ? false : undefined });
  const { images, photos } = await verificationPhotos(models, o);
  const verification = await verifyExport(built.bytes, built.info, images, photos);
  await writeFileAtomic(o.out, built.bytes);
  const sidecar = o.out.replace(/\.onnx$/i, '') + '.json';
  await writeFileAtomic(sidecar, JSON.stringify({ ...built.info, verification, bytes: built.bytes.byteLength }, null, 2) + '\n');
  const v = verification;
  process.stdout.write(
    `wrote ${o.out} (${(built.bytes.byteLength / 1e6).toFixed(1)} MB, ${built.info.classes.length} classes, input ` +
      `${built.info.input.height ?? 'H'}×${built.info.input.width ?? 'W'} ${built.info.input.resize}, flip ` +
      `${built.info.flip ? 'on' : 'off'}) and ${sidecar}\n` +
      `verified against TF.js on ${v.n} photos (${v.photos}): max |Δp| ${v.maxAbsDiff.toExponential(2)}, mean |Δp| ` +
      `${v.meanAbsDiff.toExponential(2)}, top-1 agreement ${(v.top1Agreement * 100).toFixed(1)}%` +
      `${v.maxAbsFeatureDiff !== undefined ? `, max |Δfeature| ${v.maxAbsFeatureDiff.toExponential(2)}` : ''} ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
  return 0;
}

/** Photos to verify on: --verify DIR, else the data the model was trained on, if it is here. */
async function verificationPhotos(models: string[], o: ExportCliOptions): Promise<{ images: RgbImage[]; photos: string }> {
  let dir = o.verify;
  if (!dir) {
    const trainedOn = await readManifest(models[0]!)
      .then((m) => m.training?.data)
      .catch(() => undefined);
    if (typeof trainedOn === 'string' && existsSync(trainedOn) && statSync(trainedOn).isDirectory()) dir = trainedOn;
  }
  if (!dir) throw new ImgclassError('BAD_OPTION', 'export verifies the file on real photos: give --verify DIR (a folder of photos)');
  const walked = await walkImages([dir]);
  const note = describeSkipped(walked.skipped);
  if (note) process.stderr.write(note + '\n');
  const files = spread(walked.files, o.verifyCount);
  const images: RgbImage[] = [];
  for (const f of files) {
    try {
      images.push(await loadImage(f));
    } catch (e) {
      if (!isImgclassError(e)) throw e;
    }
  }
  if (images.length === 0) throw new ImgclassError('BAD_DATASET', `no readable photos in ${dir} to verify the export on`);
  return { images, photos: `${images.length} of ${path.resolve(dir)}` };
}

/** n files spread evenly over the list (every class of a sorted folder-per-class set). */
function spread<T>(list: T[], n: number): T[] {
  if (list.length <= n) return list;
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]!);
}
