import path from 'node:path';
import { existsSync } from 'node:fs';

/** ../shared beside the checkout (or $IMGCLASS_SHARED_DIR): real photos read in place, never copied. */
export function sharedDir(): string {
  const dir = process.env.IMGCLASS_SHARED_DIR ?? path.resolve(import.meta.dirname, '..', '..', 'shared');
  if (!existsSync(dir)) throw new Error(`shared data not found at ${dir}; set IMGCLASS_SHARED_DIR`);
  process.env.IMGCLASS_MODEL_DIR ??= path.join(dir, 'models');
  return dir;
}

export const sharedDataDir = () => path.join(sharedDir(), 'data');
