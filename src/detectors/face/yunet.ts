import { createSession, ortTensors, type OrtSession } from '../../runtime/ort.js';
import type { RgbImage } from '../../data/image.js';
import { resizeExactly } from '../../data/transform.js';
import type { FaceBox, FaceDetector } from './types.js';
import { decodeYunet, YUNET_DEFAULTS, yunetFeeds } from './yunet-decode.js';
import { DETECTOR_THREAD, detectorGraphCache } from '../graph-cache.js';
import { getDefaultStore, type ModelStore } from '../../models/store.js';
import { letterboxTensors } from '../letterbox.js';

/** YuNet settings: which model, and the score and NMS thresholds. */
export interface YunetOptions {
  /** `yunet_n` (default, 75k params) or `yunet_s`. */
  model?: 'yunet_n' | 'yunet_s';
  /** Minimum score sqrt(cls·obj) for a face. */
  scoreThreshold?: number;
  nmsIou?: number;
  store?: ModelStore;
}

/**
 * YuNet (libfacedetection) through onnxruntime-node, with the letterbox inside its graph
 * (yunet-graph.ts); the feeds and the decoding are yunet-decode.ts, shared with the browser's
 * device mode, which runs the same graph.
 */
export class YunetFaceDetector implements FaceDetector {
  readonly name = 'yunet';
  private constructor(
    private readonly session: OrtSession,
    private readonly scoreThreshold: number,
    private readonly nmsIou: number,
  ) {}

  /** Loads YuNet, with its letterbox as the first nodes of its graph, on a worker thread. */
  static async create(options: YunetOptions = {}): Promise<YunetFaceDetector> {
    const store = options.store ?? getDefaultStore();
    const model = options.model ?? 'yunet_n';
    // the graph is built (a protobuf edit, yunet-graph.ts) only when its optimised form is not cached
    const build = async () => (await import('./yunet-graph.js')).loadYunetGraph(model, store);
    const session = await createSession(build, { threads: 1, cache: await detectorGraphCache(store, model), thread: DETECTOR_THREAD });
    return new YunetFaceDetector(session, options.scoreThreshold ?? YUNET_DEFAULTS.scoreThreshold, options.nmsIou ?? YUNET_DEFAULTS.nmsIou);
  }

  /** Face boxes in the image's pixel coordinates, with YuNet's score. */
  async detect(image: RgbImage): Promise<FaceBox[]> {
    const x = await yunetFeeds(image, resizeExactly);
    const out = await this.session.run(letterboxTensors(x, ortTensors));
    const outputs = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
    return decodeYunet(outputs, x.scale, image, { scoreThreshold: this.scoreThreshold, nmsIou: this.nmsIou });
  }

  /** Releases the session. */
  dispose(): void {
    void this.session.release();
  }
}
