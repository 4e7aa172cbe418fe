import type SharpFactory from 'sharp';

/**
 * sharp, loaded on first use. Loading it (libvips' shared library, sharp's own modules, semver,
 * @img/colour) costs a cold process tens of milliseconds that a command such as `predict` would
 * otherwise spend before its model sessions start loading on their worker threads: loaded here,
 * on the first decode, it loads while they do (docs/startup.md).
 */
let loading: Promise<typeof SharpFactory> | undefined;

export function loadSharp(): Promise<typeof SharpFactory> {
  loading ??= import('sharp').then((m) => m.default);
  return loading;
}
