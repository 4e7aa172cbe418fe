import { modelCrop, type RgbImage } from './pixels.js';
import { resize } from './transform.js';
import { batchShape, channelsOf, writeSample, type Preprocessing } from './tensor.js';

export { PREPROCESSING_PRESETS, batchShape, channelsOf, samePreprocessing, writeSample, type Preprocessing } from './tensor.js';

/** Fit one image to the model's input: its central crop if it has one, then the resize (the only async step; the rest is arithmetic). */
export async function resizeFor(img: RgbImage, p: Preprocessing): Promise<RgbImage> {
  return resize(modelCrop(img, p), p.width, p.height, p.resize);
}

/**
 * Preprocess a batch into one Float32Array with the model's layout, and its shape. With
 * 'keep-aspect' the size follows the photos, so a batch must hold photos of one shape
 * (backbones in that mode run one photo at a time).
 */
export async function preprocessBatch(images: RgbImage[], p: Preprocessing): Promise<{ data: Float32Array; shape: [number, number, number, number] }> {
  const resized = await Promise.all(images.map((im) => resizeFor(im, p)));
  const { width, height } = resized[0] ?? p;
  if (resized.some((im) => im.width !== width || im.height !== height)) throw new Error('preprocessBatch: photos of different shapes cannot share a batch');
  const data = new Float32Array(images.length * width * height * channelsOf(p));
  resized.forEach((im, i) => writeSample(im, p, data, i));
  return { data, shape: batchShape(images.length, p, width, height) };
}
