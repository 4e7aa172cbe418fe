import type { Command } from 'commander';
import { ImgclassError } from '../util/errors.js';

/**
 * Options that a command accepts in general but that do nothing in a given case are refused, not
 * ignored: `sweep --optimizer sgd --epochs 3` used to run the default 3×3 grid. Only options the
 * user typed count (commander's value source 'cli'), so defaults never trip a rule.
 */
const FEATURE_ARCHS = ['head', 'linear', 'imagenet-linear'];

export function rejectInapplicableOptions(command: 'train' | 'sweep' | 'kfold', cmd: Command): void {
  const given = (key: string) => cmd.getOptionValueSource(key) === 'cli';
  const o = cmd.opts();
  const problems: string[] = [];
  if (command === 'sweep') {
    const grid: Record<string, string> = { optimizer: '--optimizers', epochs: '--epoch-list', lr: '--lrs' };
    for (const [key, instead] of Object.entries(grid))
      if (given(key))
        problems.push(
          `--${key} does not apply to sweep, which trains a grid: use ${instead} (e.g. ${instead} ` +
            `${key === 'optimizer' ? 'sgd' : key === 'epochs' ? '3' : '0.001'})`,
        );
  }
  const arch = String(o.arch);
  const feature = FEATURE_ARCHS.includes(arch);
  if (!feature) {
    for (const key of ['backbone', 'input', 'featureCache', 'unknownPhotos'])
      if (given(key)) problems.push(`--${flag(key)} applies to feature models (--arch ${FEATURE_ARCHS.join('|')}), not --arch ${arch}, which reads pixels`);
    if (given('hidden')) problems.push(`--hidden applies to --arch head only`);
    if (given('dropout')) problems.push(`--dropout applies to feature models; --arch ${arch} has its own fixed dropout`);
  } else {
    if (given('size'))
      problems.push(`--size applies to the pixel models (--arch scratch|otsu); --arch ${arch} reads ${o.backbone}'s features at its own input size`);
    if (given('hidden') && arch !== 'head') problems.push(`--hidden applies to --arch head only (--arch ${arch} has no hidden layer)`);
  }
  if (problems.length) throw new ImgclassError('BAD_OPTION', problems.join('\n'));
}

const flag = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
