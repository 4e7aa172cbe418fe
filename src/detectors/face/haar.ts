import { readFile } from 'node:fs/promises';
import type { RgbImage } from '../../data/image.js';
import { padMirror, resize, toGrey } from '../../data/transform.js';
import { loadOpenCv, type OpenCv } from '../../runtime/opencv.js';
import { getDefaultStore, type ModelStore } from '../../models/store.js';
import { clampBox, type FaceBox, type FaceDetector } from './types.js';

export { clampBox } from './types.js';

/** OpenCV Haar cascade settings: the cascade, the seed's detection parameters, and the padding and upscaling imgclass adds for tight crops. */
export interface HaarOptions {
  /** Registry name of the cascade (the seed uses `haarcascade_frontalface_alt`). */
  cascade?: string;
  /** The seed's tuned values: scaleFactor 1.35, minNeighbors 4. */
  scaleFactor?: number;
  minNeighbors?: number;
  /**
   * Mirror-pad each side by this fraction of the longer side before detecting. Haar cascades
   * were trained on faces with forehead and chin around them; tight crops (LFW 90×90) need
   * context back or they are never found. 0 = the seed's behaviour.
   */
  padFraction?: number;
  /** Upscale so the shorter side is at least this many pixels (small photos). 0 = never. */
  minSide?: number;
  store?: ModelStore;
}

export const HAAR_DEFAULTS = { cascade: 'haarcascade_frontalface_alt', scaleFactor: 1.35, minNeighbors: 4, padFraction: 0.4, minSide: 200 } as const;

/** The seed's human-face detector, run through OpenCV.js (WebAssembly). */
export class HaarFaceDetector implements FaceDetector {
  readonly name = 'haar';
  private constructor(
    private readonly cv: OpenCv,
    private readonly classifier: OpenCv,
    private readonly opts: Required<Omit<HaarOptions, 'store'>>,
  ) {}

  /** Loads the cascade through OpenCV.js. */
  static async create(options: HaarOptions = {}): Promise<HaarFaceDetector> {
    const opts = { ...HAAR_DEFAULTS, ...options };
    const file = await (options.store ?? getDefaultStore()).resolve(opts.cascade);
    const cv = await loadOpenCv();
    // OpenCV.js reads cascades from its in-memory file system only.
    const fsName = `${opts.cascade}.xml`;
    try {
      cv.FS_unlink(`/${fsName}`);
    } catch {
      // not there yet
    }
    cv.FS_createDataFile('/', fsName, await readFile(file), true, false, false);
    const classifier = new cv.CascadeClassifier();
    if (!classifier.load(fsName)) throw new Error(`OpenCV could not parse the cascade ${file}`);
    const { store: _store, ...rest } = opts as HaarOptions & typeof opts;
    return new HaarFaceDetector(cv, classifier, rest);
  }

  /** Face boxes in the image's pixel coordinates (score 1: Haar has none). */
  async detect(image: RgbImage): Promise<FaceBox[]> {
    const { cv, opts } = this;
    const pad = Math.round(opts.padFraction * Math.max(image.width, image.height));
    const padded = await padMirror(image, pad);
    const scale = opts.minSide > 0 ? Math.max(1, opts.minSide / Math.min(padded.width, padded.height)) : 1;
    const work = scale > 1 ? await resize(padded, Math.round(padded.width * scale), Math.round(padded.height * scale)) : padded;
    const mat = cv.matFromArray(work.height, work.width, cv.CV_8UC1, toGrey(work));
    const rects = new cv.RectVector();
    const min = new cv.Size(0, 0);
    try {
      this.classifier.detectMultiScale(mat, rects, opts.scaleFactor, opts.minNeighbors, 0, min, min);
      const boxes: FaceBox[] = [];
      for (let i = 0; i < rects.size(); i++) {
        const r = rects.get(i);
        // back to the caller's coordinates: undo the upscale, then the padding; clamp to the image
        const x = r.x / scale - pad;
        const y = r.y / scale - pad;
        const box = clampBox(x, y, r.width / scale, r.height / scale, image);
        if (box) boxes.push({ ...box, score: 1 });
      }
      return boxes;
    } finally {
      mat.delete();
      rects.delete();
      min.delete?.();
    }
  }

  /** Frees the cascade. */
  dispose(): void {
    this.classifier.delete();
  }
}
