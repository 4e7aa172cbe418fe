import { loadImage } from '../src/data/image.js';
import { cropPixels, type RgbImage } from '../src/data/pixels.js';
import { resize } from '../src/data/transform.js';

/** The central fraction Inception-style evaluation keeps (TF-slim `preprocess_for_eval`, the TFLite classifiers' own). */
export const INCEPTION_CENTRAL_FRACTION = 0.875;

/**
 * Inception-style fitting, as the TFLite classifiers were evaluated: the central 87.5% of each
 * side (tf.image.central_crop's rounding: the offset `int((side − side × fraction) / 2)`, the rest
 * kept symmetric), then a bilinear resize to size×size, aspect not kept. The crop and the resize
 * are the project's own (pixels.ts, sharp in transform.ts). NHWC uint8 RGB, ready for the model.
 */
export async function inceptionFit(img: RgbImage, size = 224, fraction = INCEPTION_CENTRAL_FRACTION): Promise<RgbImage> {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`central fraction must be in (0, 1], got ${fraction}`);
  const top = Math.trunc((img.height - img.height * fraction) / 2);
  const left = Math.trunc((img.width - img.width * fraction) / 2);
  const cropped = cropPixels(img, { x: left, y: top, width: img.width - 2 * left, height: img.height - 2 * top });
  return resize(cropped, size, size, 'squash');
}

/** Decode a photo file (the project's decoder: EXIF orientation, sRGB) and fit it. */
export async function inceptionFitFile(file: string, size = 224): Promise<Uint8Array> {
  return (await inceptionFit(await loadImage(file), size)).data;
}
