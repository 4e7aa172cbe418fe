import { readFile } from 'node:fs/promises';
import { FileStore, type StoredFile } from '../util/file-store.js';

/**
 * The ImageNet-1k class table (index, WordNet id, short name): data that data sets (WordNet-id
 * folders), the dog rule and the ImageNet heads all read. It ships with the model directory.
 */
export interface ImagenetClass {
  index: number;
  wnid: string;
  name: string;
}

/** `imagenet/classes.tsv` in the model directory (no single public file of this exact form). */
export const IMAGENET_CLASSES_FILE: StoredFile = {
  path: 'imagenet/classes.tsv',
  sha256: '48f5a64be5d0f43330fdde1911df7100b7835a69fb728f04bf0a25703f4c3179',
  url: null,
};

let cache: Promise<ImagenetClass[]> | undefined;
let defaultStore: FileStore | undefined;

/** The 1000 classes in order, read once per process. */
export function loadImagenetClasses(store?: FileStore): Promise<ImagenetClass[]> {
  cache ??= (async () => {
    defaultStore ??= new FileStore();
    const file = await (store ?? defaultStore).resolveFile('imagenet_classes', IMAGENET_CLASSES_FILE);
    const rows = (await readFile(file, 'utf8')).trim().split('\n').slice(1);
    const classes = rows.map((line) => {
      const [index, wnid, name] = line.split('\t');
      return { index: Number(index), wnid: wnid!, name: name! };
    });
    if (classes.length !== 1000 || classes.some((c, i) => c.index !== i)) throw new Error(`${file} does not list the 1000 ImageNet classes in order`);
    return classes;
  })();
  cache.catch(() => (cache = undefined));
  return cache;
}
