import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadImage, type RgbImage } from '../data/image.js';
import { describeSkipped, walkImages } from '../data/walk.js';
import { buildExport, type ExportInfo } from '../models/export.js';
import { readManifest } from '../models/model-dir.js';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError, isImgclassError } from '../util/errors.js';
import { verifyExport, type ExportVerification } from './verify-export.js';

export interface ExportFileOptions {
  out: string;
  flip?: boolean;
  /** Photos to verify on (default: the data the model was trained on, if present). */
  verify?: string;
  verifyCount?: number;
  /** Told what is worth saying that is not the result (entries skipped while looking for photos). */
  onNote?: (note: string) => void;
}

export interface ExportedFile {
  out: string;
  /** FILE.json beside it: what the file is and how closely it reproduces the trained model. */
  sidecar: string;
  bytes: number;
  info: ExportInfo;
  verification: ExportVerification;
}

/**
 * `imgclass export`'s work (the command line and the web page's Download share it): one
 * self-contained ONNX file, verified against the trained model on TF.js before it is written,
 * and its JSON beside it.
 */
export async function exportVerified(models: string[], o: ExportFileOptions): Promise<ExportedFile> {
  const built = await buildExport(models, { flip: o.flip === false ? false : undefined });
  const { images, photos } = await verificationPhotos(models, o);
  const verification = await verifyExport(built.bytes, built.info, images, photos);
  await writeFileAtomic(o.out, built.bytes);
  const sidecar = o.out.replace(/\.onnx$/i, '') + '.json';
  await writeFileAtomic(sidecar, JSON.stringify({ ...built.info, verification, bytes: built.bytes.byteLength }, null, 2) + '\n');
  return { out: o.out, sidecar, bytes: built.bytes.byteLength, info: built.info, verification };
}

/** Photos to verify on: `verify`, else the data the model was trained on, if it is here. */
async function verificationPhotos(models: string[], o: ExportFileOptions): Promise<{ images: RgbImage[]; photos: string }> {
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
  if (note) o.onNote?.(note);
  const files = spread(walked.files, o.verifyCount ?? 50);
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
