import type { RgbImage } from '../data/pixels.js';
import { resizeExactly } from '../data/transform.js';
import { getDefaultStore, type ModelStore } from '../models/store.js';
import { createSession, ortTensors, type OrtSession } from '../runtime/ort.js';
import { decodeYolox, YOLOX_DEFAULTS, yoloxFeeds, type CocoBox, type YoloxDecodeOptions } from './coco-decode.js';
import { DETECTOR_THREAD, detectorGraphCache } from './graph-cache.js';
import { letterboxTensors } from './letterbox.js';

/**
 * YOLOX-nano, the registry's COCO detector, through onnxruntime-node. The app asks it two things of
 * a photo in one pass: where the dog is (a view cropped around it lets MobileNet see a small dog in
 * a large scene at full resolution) and whether a face YuNet found belongs to a person (YuNet
 * fires on dog muzzles; a COCO `person` box around the face, or no dog box under it, says which).
 *
 * The letterbox is inside the graph (coco-graph.ts); the feeds and the decoding are coco-decode.ts,
 * shared with the browser's device mode, which runs the same graph.
 */
export interface CocoDetectorOptions extends Partial<YoloxDecodeOptions> {
  /** ORT intra-op threads (default: the machine's cores). */
  threads?: number;
  store?: ModelStore;
}

export class YoloxDetector {
  readonly name = 'yolox_nano';
  private constructor(
    private readonly session: OrtSession,
    /** Its decoding (the browser's device mode decodes with the same). */
    readonly options: YoloxDecodeOptions,
  ) {}

  static async create(options: CocoDetectorOptions = {}): Promise<YoloxDetector> {
    const store = options.store ?? getDefaultStore();
    // the graph is built (a protobuf edit, coco-graph.ts) only when its optimised form is not cached
    const build = async () => (await import('./coco-graph.js')).loadYoloxGraph(store);
    const session = await createSession(build, { threads: options.threads, cache: await detectorGraphCache(store, 'yolox_nano'), thread: DETECTOR_THREAD });
    return new YoloxDetector(session, {
      scoreThreshold: options.scoreThreshold ?? YOLOX_DEFAULTS.scoreThreshold,
      nmsIou: options.nmsIou ?? YOLOX_DEFAULTS.nmsIou,
      classes: options.classes ?? YOLOX_DEFAULTS.classes,
    });
  }

  async detect(image: RgbImage): Promise<CocoBox[]> {
    const x = await yoloxFeeds(image, resizeExactly);
    const out = await this.session.run(letterboxTensors(x, ortTensors));
    return decodeYolox(out[this.session.outputNames[0]!]!.data as Float32Array, { scale: x.scale, width: image.width, height: image.height }, this.options);
  }

  dispose(): void {
    void this.session.release();
  }
}
