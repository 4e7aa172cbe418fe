import { readFile } from 'node:fs/promises';
import { getDefaultStore, type ModelStore } from './store.js';

export interface ImagenetClass {
  index: number;
  wnid: string;
  name: string;
}

export { IMAGENET_DOG_RANGE, isImagenetDog } from './imagenet-dogs.js';

let cache: Promise<ImagenetClass[]> | undefined;

/** The 1000 classes from the model store's `imagenet/classes.tsv` (index, wnid, name, synonyms). */
export function loadImagenetClasses(store: ModelStore = getDefaultStore()): Promise<ImagenetClass[]> {
  cache ??= (async () => {
    const file = await store.resolve('imagenet_classes');
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
