import { createRequire } from 'node:module';
import type SharpFactory from 'sharp';

/**
 * sharp, loaded on first use. Loading it (libvips' shared library, sharp's own modules, semver,
 * @img/colour) costs a cold process tens of milliseconds that a command such as `predict` would
 * otherwise spend before its model sessions start loading on their worker threads: loaded here,
 * on the first decode, it loads while they do (docs/startup.md).
 *
 * It is sharp's CommonJS build that is loaded, through `require`: sharp 0.35 also ships an ES
 * module build, and importing that one takes twice as long (130 ms against 68 ms in a cold
 * process on the 2-core machine; the same native addon underneath, so both builds can share a
 * process, as the tests that import sharp themselves do).
 */
let loading: Promise<typeof SharpFactory> | undefined;

export function loadSharp(): Promise<typeof SharpFactory> {
  loading ??= new Promise((resolve) => resolve(createRequire(import.meta.url)('sharp') as typeof SharpFactory));
  return loading;
}
