import type { RgbImage } from '../data/image.js';
import { resizeFor } from '../data/preprocess.js';
import { loadBackbone } from '../models/backbone.js';
import { loadTfjsReference } from '../models/classifier-tfjs.js';
import { EXPORT_INPUT, EXPORT_OUTPUT, type ExportInfo } from '../models/export.js';
import { averageViews, modelViews } from '../models/image-classifier.js';
import { createSession, feed } from '../runtime/ort.js';

/** How closely an exported ONNX file reproduces the trained model as TF.js runs it. */
export interface ExportVerification {
  /** Photos compared. */
  n: number;
  reference: 'tfjs';
  maxAbsDiff: number;
  meanAbsDiff: number;
  /** Fraction of photos whose top-1 class is the same. */
  top1Agreement: number;
  /** For a backbone export: the largest feature difference. */
  maxAbsFeatureDiff?: number;
  photos: string;
}

/**
 * Run the exported file (plain onnxruntime, pixels in) and the TF.js reference (backbone + heads
 * on TF.js, the unit's flip rule) on the same photos and compare probabilities.
 */
export async function verifyExport(bytes: Uint8Array, info: ExportInfo, images: RgbImage[], photos: string): Promise<ExportVerification> {
  const session = await createSession(bytes);
  const isBackbone = info.source.length === 1 && info.source[0] === info.backbone;
  const reference = isBackbone ? null : await loadTfjsReference(info.source, info.flip);
  const tfjsBackbone = isBackbone ? await loadBackbone(info.backbone!, { engine: 'tfjs' }) : null;
  let maxAbs = 0;
  let sumAbs = 0;
  let count = 0;
  let agree = 0;
  let maxFeat = 0;
  try {
    for (const image of images) {
      const fitted = await resizeFor(image, info.preprocessing);
      const pixels = Float32Array.from(fitted.data);
      const out = await session.run({ [EXPORT_INPUT]: feed('float32', pixels, [1, fitted.height, fitted.width, 3]) });
      const got = out[EXPORT_OUTPUT]!.data as Float32Array;
      let want: Float32Array;
      if (reference) {
        want = (await reference.classify([image]))[0]!.probabilities;
      } else {
        const views = await tfjsBackbone!.run(await modelViews([image], info.preprocessing, info.flip));
        const ref = info.flip ? averageViews(views) : views[0]!;
        want = ref.probabilities;
        const feats = out.features!.data as Float32Array;
        for (let i = 0; i < feats.length; i++) maxFeat = Math.max(maxFeat, Math.abs(feats[i]! - ref.features[i]!));
      }
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i]! - want[i]!);
        maxAbs = Math.max(maxAbs, d);
        sumAbs += d;
        count++;
      }
      if (argmax(got) === argmax(want)) agree++;
    }
  } finally {
    reference?.dispose();
    tfjsBackbone?.dispose();
    void session.release();
  }
  return {
    n: images.length,
    reference: 'tfjs',
    maxAbsDiff: maxAbs,
    meanAbsDiff: count ? sumAbs / count : 0,
    top1Agreement: images.length ? agree / images.length : 0,
    ...(isBackbone ? { maxAbsFeatureDiff: maxFeat } : {}),
    photos,
  };
}

export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
