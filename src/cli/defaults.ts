import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (dist/cli/.. or src/cli/..). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * For the command line only: when IMGCLASS_MODEL_DIR is unset and a `shared/models` directory
 * sits beside the checkout (the team's layout and CI's), use it, so `npm start` works on a fresh
 * clone. Library users always decide for themselves.
 */
export function applyCliModelDirDefault(): void {
  if (process.env.IMGCLASS_MODEL_DIR) return;
  const beside = path.resolve(PACKAGE_ROOT, '..', 'shared', 'models');
  if (existsSync(beside)) process.env.IMGCLASS_MODEL_DIR = beside;
}

/** The example breed classifier committed in the repository (trained on Imagewoof). */
export const EXAMPLE_MODEL_DIR = path.join(PACKAGE_ROOT, 'models', 'imagewoof-head');
