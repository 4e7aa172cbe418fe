import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ImgclassError } from '../util/errors.js';

/**
 * What a `--model` argument names: a model directory (manifest.json), an ensemble directory
 * (ensemble.json), or a run directory as `train` and `kfold` write them. A run directory stands
 * for its ensemble when it has one (kfold: all fold models averaged, the better held-out figure),
 * else its `model/` (train: the best-validation checkpoint). `note` says which was picked.
 */
export interface ResolvedModelDir {
  given: string;
  dir: string;
  kind: 'model' | 'ensemble';
  /** Set when a run directory was given: which of its models is used, in words. */
  note: string | null;
}

const isFile = (p: string) =>
  stat(p).then(
    (s) => s.isFile(),
    () => false,
  );

export async function resolveModelDir(given: string): Promise<ResolvedModelDir> {
  if (await isFile(path.join(given, 'manifest.json'))) return { given, dir: given, kind: 'model', note: null };
  if (await isFile(path.join(given, 'ensemble.json'))) return { given, dir: given, kind: 'ensemble', note: null };
  const ensemble = path.join(given, 'ensemble');
  if (await isFile(path.join(ensemble, 'ensemble.json')))
    return {
      given,
      dir: ensemble,
      kind: 'ensemble',
      note: `${given} is a run directory: using its ensemble ${ensemble} (every fold model, probabilities averaged)`,
    };
  const model = path.join(given, 'model');
  if (await isFile(path.join(model, 'manifest.json')))
    return { given, dir: model, kind: 'model', note: `${given} is a run directory: using its model ${model} (the best-validation checkpoint)` };
  throw new ImgclassError(
    'MODEL_NOT_FOUND',
    `${given} is not a model directory (manifest.json), an ensemble directory (ensemble.json) or a run directory (model/ or ensemble/ inside)`,
  );
}

/** A model directory's name for titles: the run it belongs to (`vehicles-head/model`), not the bare `model`. */
export function modelLabel(dir: string): string {
  if (dir.includes(':')) return dir; // imagenet:<backbone>
  const abs = path.resolve(dir);
  const base = path.basename(abs);
  return ['model', 'ensemble', 'last'].includes(base) ? `${path.basename(path.dirname(abs))}/${base}` : base;
}
