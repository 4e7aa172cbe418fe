import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { sharedDataDir } from './shared.js';

/** One Imagewoof photo that ImageNet backbones never trained on, with its ImageNet class. */
export interface UnseenPhoto {
  file: string;
  wnid: string;
  breed: string;
  /** ImageNet-1k index (0–999) from imagewoof/classes.tsv; dog breeds are 151–268. */
  imagenetIndex: number;
}

/**
 * The 500 Imagewoof photos named `ILSVRC2012_val_*` (train/ and val/ alike): ImageNet validation
 * photos, the only ones in Imagewoof an ImageNet backbone never saw (see ../shared/README.md).
 * Sorted by file name, so a prefix or a stride is a fixed sample.
 */
export function imagewoofUnseen(): UnseenPhoto[] {
  const root = path.join(sharedDataDir(), 'imagewoof');
  const classes = new Map<string, { breed: string; imagenetIndex: number }>();
  for (const line of readFileSync(path.join(root, 'classes.tsv'), 'utf8').split('\n').slice(1)) {
    if (!line.trim()) continue;
    const [wnid, breed, index] = line.split('\t');
    const imagenetIndex = Number(index);
    if (!wnid || !breed || !Number.isInteger(imagenetIndex)) throw new Error(`imagewoof/classes.tsv: bad line "${line}"`);
    classes.set(wnid, { breed, imagenetIndex });
  }
  const out: UnseenPhoto[] = [];
  for (const split of ['train', 'val']) {
    for (const wnid of readdirSync(path.join(root, split))) {
      const cls = classes.get(wnid);
      if (!cls) throw new Error(`imagewoof/${split}/${wnid} is not in classes.tsv`);
      for (const name of readdirSync(path.join(root, split, wnid)))
        if (name.startsWith('ILSVRC2012_val_')) out.push({ file: path.join(root, split, wnid, name), wnid, ...cls });
    }
  }
  return out.sort((a, b) => path.basename(a.file).localeCompare(path.basename(b.file)));
}

/** ImageNet's dog classes (Chihuahua … Mexican hairless), the range the dog app's rule uses. */
export const IMAGENET_DOGS = { first: 151, last: 268 } as const;
