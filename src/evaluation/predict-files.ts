import type { Dataset, LabeledFile } from '../data/dataset.js';
import { loadImage } from '../data/image.js';
import { extractFeatures } from '../features/bottleneck.js';
import { loadBackbone } from '../models/backbone.js';
import { ImagenetSubsetClassifier, loadTrainedModel } from '../models/classifier.js';
import { ImageClassifier } from '../models/image-classifier.js';
import type { ClassInfo } from '../models/model-dir.js';
import { loadImagenetClasses } from '../models/imagenet.js';
import { DEFAULT_BACKBONE } from '../models/registry.js';
import { ImgclassError } from '../util/errors.js';

/**
 * Probabilities for many files from the inference unit of trained model directories (several:
 * one ensemble), or of `imagenet:<backbone>` (the backbone's own ImageNet head restricted to the
 * data's WordNet ids; the no-training reference). Feature-based models read the feature cache,
 * which holds each photo's and its mirror image's backbone outputs; the unit combines them by its
 * flip rule, exactly as `predict` and `classify` do on a fresh photo.
 */
export interface FilePredictor {
  classes: ClassInfo[];
  predict(files: string[], onProgress?: (done: number) => void): Promise<{ probs: (Float32Array | null)[]; failures: { file: string; reason: string }[] }>;
  dispose(): void;
}

export async function openPredictor(specs: string[], dataClasses: ClassInfo[], opts: { flip?: boolean; featureCache?: string } = {}): Promise<FilePredictor> {
  const unit = await unitFor(specs, dataClasses, opts.flip);
  return {
    classes: unit.classes,
    async predict(files, onProgress) {
      const probs: (Float32Array | null)[] = files.map(() => null);
      if (unit.backbone) {
        const r = await extractFeatures(files, unit.backbone, { cacheDir: opts.featureCache, onProgress: (d) => onProgress?.(d) });
        const ok = r.rows.map((row, i) => (row ? i : -1)).filter((i) => i >= 0);
        const out = await unit.classifyCached(
          ok.map((i) => {
            const row = r.rows[i]!;
            return {
              direct: { features: row.features, probabilities: row.probabilities },
              mirrored: { features: row.flipFeatures, probabilities: row.flipProbabilities },
            };
          }),
        );
        ok.forEach((i, j) => (probs[i] = out[j]!));
        return { probs, failures: r.failures };
      }
      const failures: { file: string; reason: string }[] = [];
      for (let i = 0; i < files.length; i += 32) {
        const chunk = files.slice(i, i + 32);
        const images = await Promise.all(
          chunk.map((f) =>
            loadImage(f).catch((e: Error) => {
              failures.push({ file: f, reason: e.message });
              return null;
            }),
          ),
        );
        const good = images.flatMap((im, j) => (im ? [{ im, j }] : []));
        const out = await unit.classify(good.map((g) => g.im));
        good.forEach((g, k) => (probs[i + g.j] = out[k]!.probabilities));
        onProgress?.(Math.min(files.length, i + 32));
      }
      return { probs, failures };
    },
    dispose: () => unit.dispose(),
  };
}

async function unitFor(specs: string[], dataClasses: ClassInfo[], flip: boolean | undefined): Promise<ImageClassifier> {
  const reference = specs.filter((s) => s.startsWith('imagenet:'));
  if (reference.length === 0) {
    const model = await loadTrainedModel(specs);
    const backbone = model.backbone ? await loadBackbone(model.backbone, model.backboneOptions()) : null;
    model.assertCompatible(backbone);
    return new ImageClassifier(backbone, model, flip ?? model.mirrorInvariant);
  }
  if (specs.length > 1) throw new ImgclassError('BAD_OPTION', 'imagenet:<backbone> is scored alone, not in an ensemble');
  const name = reference[0]!.slice('imagenet:'.length) || DEFAULT_BACKBONE;
  const all = await loadImagenetClasses();
  const idx = dataClasses.map((c) => {
    const i = all.findIndex((a) => a.wnid === c.wnid);
    if (i < 0) throw new ImgclassError('BAD_DATASET', `class "${c.name}" has no WordNet id in ImageNet; imagenet:${name} can only score ImageNet classes`);
    return i;
  });
  return new ImageClassifier(await loadBackbone(name), new ImagenetSubsetClassifier(`imagenet:${name}`, name, idx, dataClasses), flip ?? true);
}

/** Map a data set's split to the model's class indices (by WordNet id, then name). */
export function relabel(files: LabeledFile[], mapping: number[]): LabeledFile[] {
  return files.map((f) => ({ file: f.file, label: mapping[f.label]! }));
}

export type { Dataset };
