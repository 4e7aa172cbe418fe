import { flipHorizontal, type RgbImage } from '../data/pixels.js';
import { meanVectors } from '../util/vectors.js';
import { releaseBytes } from '../util/byte-pool.js';
import type { BackboneOutput } from './probabilities.js';

/**
 * The flip policy, with no host dependency: fit each image to the backbone's input, add its
 * mirror image, run the backbone on those views, average each pair. The inference unit in Node
 * (ImageClassifier) and the browser's device mode both embed through `embedWith`; only the two
 * host steps (fitting, the model call) differ between them.
 * (Mirroring after fitting keeps a centre crop's odd pixel where an exported graph, which receives
 * the fitted image, puts it.)
 */
export interface BackboneHost {
  /** Fit one image to the backbone's input (resize / crop per its preprocessing). */
  fit(image: RgbImage): Promise<RgbImage>;
  /** The backbone on views already fitted: one output per view, in order. The views are read during the call only. */
  run(views: RgbImage[]): Promise<BackboneOutput[]>;
}

/** What a model reads of each fitted image: the image, then (flip) its mirror image. */
export function viewsOf(fitted: RgbImage[], flip: boolean): RgbImage[] {
  return flip ? fitted.flatMap((im) => [im, flipHorizontal(im)]) : fitted;
}

/** Backbone outputs per image, averaged over each image and its mirror image when flip is on. */
export async function embedWith(host: BackboneHost, images: RgbImage[], flip: boolean): Promise<BackboneOutput[]> {
  const fitted = await Promise.all(images.map((im) => host.fit(im)));
  const views = viewsOf(fitted, flip);
  const outs = await host.run(views);
  // the views made here (fitted copies, mirror images) are read by nothing else: their bytes serve the next photo
  for (const v of views) if (!images.includes(v)) releaseBytes(v.data);
  return flip ? images.map((_, i) => averageViews([outs[2 * i]!, outs[2 * i + 1]!])) : outs;
}

/** The mean of several views' backbone outputs (features and probabilities alike). */
export function averageViews(views: BackboneOutput[]): BackboneOutput {
  return { probabilities: meanVectors(views.map((v) => v.probabilities)), features: meanVectors(views.map((v) => v.features)) };
}
