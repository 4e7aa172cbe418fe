import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ImgclassError } from '../util/errors.js';
import { registerModel, type RegistryEntry } from './registry.js';
import type { ModelStore } from './store.js';

/**
 * The models `imgclass import` stored (tflite/import.ts), registered by name. Its own module, apart
 * from the importer: every command registers them before it runs, and reading a few small JSON
 * files must not load the TFLite reader and converter (docs/startup.md).
 */
export const IMPORTED = 'imported';

/** Register every model `importTflite` stored in this store's cache (the CLI does this at start). */
export async function loadImportedModels(store: ModelStore): Promise<RegistryEntry[]> {
  const root = path.join(store.cacheDir, IMPORTED);
  const names = await readdir(root).catch(() => [] as string[]);
  const entries: RegistryEntry[] = [];
  for (const n of names.sort()) {
    const text = await readFile(path.join(root, n, 'entry.json'), 'utf8').catch(() => null);
    if (!text) continue;
    try {
      const entry = JSON.parse(text) as RegistryEntry;
      registerModel(entry);
      entries.push(entry);
    } catch (e) {
      throw new ImgclassError('MODEL_CORRUPT', `${path.join(root, n, 'entry.json')}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return entries;
}
