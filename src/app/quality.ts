import { PERSON_EVIDENCE_DEFAULTS, type PersonEvidenceOptions } from '../detectors/person.js';
import type { CombineRule, ViewSpec } from './views.js';

/**
 * How much the app spends on a dog's breed. Host independent: the browser app reads the same
 * table. Chosen by `npm run bench:breeds` on the tuning half of the unseen Imagewoof photos and
 * reported on the other half (README, "Breeds on photos MobileNet never saw").
 *
 * - 'accurate' (the default): the centre view, which the dog rule reads anyway, answers alone when
 *   it is sure of the breed; otherwise the breed comes from a zoomed centre view (ImageNet's usual
 *   0.875 crop) and a view around the dog YOLOX-nano finds, each with its mirror image, combined
 *   by log-mean. About half of the dog photos are sure at once, so the median photo costs little
 *   more than 'fast' does.
 * - 'fast': the centre view only (the app before views).
 *
 * Both apply the person-evidence rule (detectors/person.ts) to faces on photos that may hold a
 * dog: YOLOX runs for that whatever the quality, on those photos only.
 * - 'standard': neither; the shared pipeline (dog-pipeline.ts) without YOLOX, the cheapest.
 *
 * Why 'accurate' is the default: on the report half it is +4.8 points of breed top-1 over the
 * others, and its person rule answers dog photos without people "dog" 98.2% of the time (standard:
 * 96.9%) while finding 98.1% of LFW's faces, for a median of 4.4–5.5 bare passes a photo against
 * 4.1–4.7 (2 cores, a dog-heavy mix; README, "Which preset is the default"). `fast` keeps the
 * person rule at standard's cost, for throughput.
 *
 * Every host runs every preset: the server, the batch worker and the browser's device mode (which
 * is served the server's preset and YOLOX-nano with its letterbox in its graph) answer through the
 * same pipeline functions, so their answers agree (test/device.test.ts).
 */
export const QUALITIES = ['standard', 'fast', 'accurate'] as const;
/** A preset's name: `standard`, `fast` or `accurate` (the default), in increasing work per photo. */
export type Quality = (typeof QUALITIES)[number];

/** What a YOLOX preset adds to the shared pipeline: the extra breed views, how they are combined, and when they run. */
export interface QualityPolicy {
  /** Views the breed is read from when the centre view is not sure. */
  views: ViewSpec[];
  rule: CombineRule;
  /** A dog-box view is used only when YOLOX's best dog box scores at least this. */
  dogScore: number;
  /** The centre view answers alone when its top breed has at least this probability (0: always). */
  confident: number;
  personRule: PersonEvidenceOptions;
}

/** The policies of the presets that use YOLOX-nano (`standard` has none): chosen on a tuning half of the unseen Imagewoof photos (docs/benchmarks.md). */
export const QUALITY_PRESETS: Record<Exclude<Quality, 'standard'>, QualityPolicy> = {
  accurate: {
    views: [
      { kind: 'centre', crop: 0.875 },
      { kind: 'dog', margin: 0.1 },
    ],
    rule: 'log-mean',
    dogScore: 0.1,
    confident: 0.7,
    personRule: PERSON_EVIDENCE_DEFAULTS,
  },
  fast: { views: [{ kind: 'centre', crop: 1 }], rule: 'mean', dogScore: 1, confident: 0, personRule: PERSON_EVIDENCE_DEFAULTS },
};

export const DEFAULT_QUALITY: Quality = 'accurate';
