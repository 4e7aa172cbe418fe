import type SharpFactory from 'sharp';
import { requireCjs } from '../util/require-cjs.js';

/**
 * sharp, loaded on first use. Loading it (libvips' shared library, sharp's own modules, semver,
 * @img/colour) costs a cold process tens of milliseconds that a command such as `predict` would
 * otherwise spend before its model sessions start loading on their worker threads: loaded here,
 * on the first decode, it loads while they do (docs/startup.md).
 * Its CommonJS build, through `requireCjs`: importing its ES module build takes twice as long
 * (the same native addon underneath, so both builds can share a process, as the tests that import
 * sharp themselves do).
 */
let loading: Promise<typeof SharpFactory> | undefined;

/** Whether sharp is loaded or on its way (a process that has not needed it yet has not paid for it). */
export const sharpRequested = (): boolean => loading !== undefined;

export function loadSharp(): Promise<typeof SharpFactory> {
  loading ??= new Promise((resolve) => resolve(requireCjs('sharp') as typeof SharpFactory));
  return loading;
}
