import type { Dataset, LabeledFile } from '../data/dataset.js';
import { loadImage } from '../data/image.js';
import { extractFeatures } from '../features/bottleneck.js';
import { loadBackbone, type Backbone } from '../models/backbone.js';
import { ImagenetSubsetClassifier, loadTrainedModel, type Classifier } from '../models/classifier.js';
import type { ClassInfo } from '../models/model-dir.js';
import { loadImagenetClasses } from '../models/imagenet.js';
import { ImgclassError } from '../util/errors.js';
import { meanVectors } from '../detectors/dog.js';

/**
 * Probabilities for many files from any classifier: trained model directories, or
 * `imagenet:<backbone>` (the backbone's own ImageNet head restricted to the data's WordNet ids;
 * the no-training reference). Feature-based models read the feature cache, and average over
 * the mirror image (test-time flip) unless told not to.
 */
export interface FilePredictor {
  classes: ClassInfo[];
  predict(files: string[], onProgress?: (done: number) => void): Promise<{ probs: (Float32Array | null)[]; failures: { file: string; reason: string }[] }>;
  dispose(): void;
}

export async function openPredictor(spec: string, dataClasses: ClassInfo[], opts: { flip?: boolean; featureCache?: string } = {}): Promise<FilePredictor> {
  let classifier: Classifier;
  let backbone: Backbone | null = null;
  let backboneOptions = {};
  if (spec.startsWith('imagenet:')) {
    const name = spec.slice('imagenet:'.length) || 'mobilenet_v1_0.75_224';
    const all = await loadImagenetClasses();
    const idx = dataClasses.map((c) => {
      const i = all.findIndex((a) => a.wnid === c.wnid);
      if (i < 0) throw new ImgclassError('BAD_DATASET', `class "${c.name}" has no WordNet id in ImageNet; imagenet:${name} can only score ImageNet classes`);
      return i;
    });
    classifier = new ImagenetSubsetClassifier(`imagenet:${name}`, name, idx, dataClasses);
  } else {
    const trained = await loadTrainedModel(spec);
    backboneOptions = trained.backboneOptions();
    classifier = trained;
  }
  if (classifier.backbone) backbone = await loadBackbone(classifier.backbone, backboneOptions);
  const flip = opts.flip ?? true;
  return {
    classes: classifier.classes,
    async predict(files, onProgress) {
      if (backbone) {
        const r = await extractFeatures(files, backbone, { cacheDir: opts.featureCache, onProgress: (d) => onProgress?.(d) });
        const ok = r.rows.map((row, i) => (row ? i : -1)).filter((i) => i >= 0);
        const direct = await classifier.predict(ok.map((i) => ({ backbone: { features: r.rows[i]!.features, probabilities: r.rows[i]!.probabilities } })));
        const mirrored = flip ? await classifier.predict(ok.map((i) => ({ backbone: { features: r.rows[i]!.flipFeatures, probabilities: r.rows[i]!.flipProbabilities } }))) : null;
        const probs: (Float32Array | null)[] = files.map(() => null);
        ok.forEach((i, j) => (probs[i] = mirrored ? meanVectors([direct[j]!, mirrored[j]!]) : direct[j]!));
        return { probs, failures: r.failures };
      }
      const probs: (Float32Array | null)[] = [];
      const failures: { file: string; reason: string }[] = [];
      for (let i = 0; i < files.length; i += 32) {
        const chunk = files.slice(i, i + 32);
        const images = await Promise.all(chunk.map((f) => loadImage(f).catch((e: Error) => (failures.push({ file: f, reason: e.message }), null))));
        const good = images.filter((x) => x !== null);
        const out = await classifier.predict(good.map((image) => ({ image })));
        let j = 0;
        for (const im of images) probs.push(im ? out[j++]! : null);
        onProgress?.(Math.min(files.length, i + 32));
      }
      return { probs, failures };
    },
    dispose() {
      classifier.dispose();
      backbone?.dispose();
    },
  };
}

/** Map a data set's split to the model's class indices (by WordNet id, then name). */
export function relabel(files: LabeledFile[], mapping: number[]): LabeledFile[] {
  return files.map((f) => ({ file: f.file, label: mapping[f.label]! }));
}

export type { Dataset };
