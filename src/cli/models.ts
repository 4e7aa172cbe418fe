import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { IMAGENET_DOG_RANGE, loadImagenetClasses } from '../models/imagenet.js';
import { readManifest } from '../models/model-dir.js';
import { resolveModelDir } from '../models/resolve-model-dir.js';

/** `--model` arguments with run directories resolved to their model or ensemble; says which on stderr. */
export async function resolveModelArgs(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) {
    const r = await resolveModelDir(d);
    if (r.note) process.stderr.write(r.note + '\n');
    out.push(r.dir);
  }
  return out;
}

/**
 * `predict` is the dog-breed app: a model of other classes (vehicles …) gets its answers only for
 * photos the app first calls a dog. Returns a hint pointing at `classify` when none of the model's
 * classes is an ImageNet dog breed, else null.
 */
export async function nonDogModelHint(dirs: string[]): Promise<string | null> {
  if (dirs.length === 0) return null;
  const first = await readFile(path.join(dirs[0]!, 'ensemble.json'), 'utf8').then(
    (t) => path.resolve(dirs[0]!, (JSON.parse(t).members as string[])[0]!),
    () => dirs[0]!,
  );
  const m = await readManifest(first);
  const imagenet = await loadImagenetClasses();
  const dogWnids = new Set(imagenet.slice(IMAGENET_DOG_RANGE.first, IMAGENET_DOG_RANGE.last + 1).map((c) => c.wnid));
  const dogNames = new Set(imagenet.slice(IMAGENET_DOG_RANGE.first, IMAGENET_DOG_RANGE.last + 1).map((c) => c.name.toLowerCase()));
  const isBreed = (c: { name: string; wnid?: string }) => (c.wnid ? dogWnids.has(c.wnid) : dogNames.has(c.name.toLowerCase()));
  if (m.classes.some(isBreed)) return null;
  const names =
    m.classes
      .slice(0, 6)
      .map((c) => c.name)
      .join(', ') + (m.classes.length > 6 ? ', …' : '');
  return (
    `hint: ${dirs.join(' + ')} classifies ${names}, not dog breeds; predict only asks it about photos it first ` +
    `finds a dog in. To classify whole photos with it: imgclass classify --model ${dirs.join(' --model ')} PATH...`
  );
}
