import path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';

/**
 * ../shared beside the checkout (or $IMGCLASS_SHARED_DIR): real photos and weights, read in
 * place and never copied into the repository. Also points the model store at shared/models and
 * turns downloads off, so a test can never wait on the network.
 */
export function sharedDir(): string {
  const dir = process.env.IMGCLASS_SHARED_DIR ?? path.resolve(import.meta.dirname, '..', '..', 'shared');
  if (!existsSync(dir)) throw new Error(`shared data not found at ${dir}; set IMGCLASS_SHARED_DIR`);
  process.env.IMGCLASS_MODEL_DIR ??= path.join(dir, 'models');
  process.env.IMGCLASS_OFFLINE ??= '1';
  return dir;
}

export const sharedDataDir = () => path.join(sharedDir(), 'data');

/** Every `n`-th file of each class folder under `dir`, `perClass` per class, sorted: a fixed, spread-out sample. */
export function sampleClassFolders(dir: string, perClass: number): { file: string; label: string }[] {
  const out: { file: string; label: string }[] = [];
  for (const label of readdirSync(dir).sort()) {
    const files = readdirSync(path.join(dir, label)).sort();
    const step = Math.max(1, Math.floor(files.length / perClass));
    for (let i = 0; i < files.length && out.filter((o) => o.label === label).length < perClass; i += step)
      out.push({ file: path.join(dir, label, files[i]!), label });
  }
  return out;
}
