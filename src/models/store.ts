import { FileStore } from '../util/file-store.js';
import { registryEntry, type RegistryEntry } from './registry.js';

export { sha256File, type ModelStoreOptions } from '../util/file-store.js';

/**
 * The file store that knows the registry: `resolve('mobilenet_v1_0.75_224')` makes every file of
 * that entry present (local directory, cache, pinned download) and returns its main file.
 */
export class ModelStore extends FileStore {
  /** Absolute path of the entry's main file, every companion file made present first. */
  async resolve(name: string | RegistryEntry): Promise<string> {
    const entry = typeof name === 'string' ? registryEntry(name) : name;
    let main = '';
    for (const f of entry.files) {
      const p = await this.resolveFile(entry.name, f);
      if (f.path === entry.main) main = p;
    }
    return main || (await this.resolveFile(entry.name, { path: entry.main, sha256: null, url: null }));
  }
}

let defaultStore: ModelStore | undefined;
/** The process-wide model store (`$IMGCLASS_MODEL_DIR`, then the cache, then pinned downloads), created on first use. */
export function getDefaultStore(): ModelStore {
  defaultStore ??= new ModelStore();
  return defaultStore;
}
