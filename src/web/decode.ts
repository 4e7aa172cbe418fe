import type { RgbImage } from '../data/pixels.js';
import { fitInside } from '../data/resample.js';
import { checkPixels, checkUpload, isTruncated, type DecodeLimits } from '../data/upload.js';
import { ImgclassError } from '../util/errors.js';

/**
 * The server's decode, in the browser: the same upload checks, EXIF orientation, alpha on white,
 * and the longer side brought to ≤ maxSide with the server's kernel (lanczos3). Device mode's breed
 * app (device.ts) and its training (train-device.ts) both decode through here.
 */
export async function decodeInBrowser(file: Blob, lim: DecodeLimits): Promise<RgbImage> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const format = checkUpload(bytes, lim);
  const name = format.toUpperCase();
  if (isTruncated(bytes, format)) throw new ImgclassError('CORRUPT_IMAGE', `the ${name} data is damaged or truncated: the file ends before the image does`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'default' });
  } catch (e) {
    throw new ImgclassError('CORRUPT_IMAGE', `the ${name} data is damaged or truncated: the browser cannot decode it`, { cause: e });
  }
  const { width, height } = bitmap;
  checkPixels(width, height, lim);
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]!;
    rgb[j + 1] = rgba[i + 1]!;
    rgb[j + 2] = rgba[i + 2]!;
  }
  return fitInside({ data: rgb, width, height }, lim.maxSide, 'lanczos3');
}
