import { createRequire } from 'node:module';

/**
 * The native plain-JPEG decoder (native/jpeg-decode.c): the system's libjpeg-turbo with its SIMD,
 * through Node-API, built at install by scripts/build-native.js where a C compiler and libjpeg's
 * headers are there. Measured on the 2-core machine: 0.45 ms for a 298×224 Imagewoof photo against
 * 0.80 ms for the WebAssembly build (no SIMD), with the same bytes (docs/startup.md, sixth round).
 * Absent (not built, or it does not load), plain JPEGs decode through WebAssembly as before.
 */
export interface NativeJpeg {
  /** Decodes into `out` (exactly width × height × 3 bytes); false when libjpeg failed or warned. */
  decode(jpeg: Uint8Array, out: Uint8Array): boolean;
}

/** From src/data, dist/data and dist/bundle alike: two folders up is the package's root. */
const MODULE = new URL('../../build/native/jpeg-decode.node', import.meta.url);

let loaded: NativeJpeg | null | undefined;

/** The native decoder, loaded on first need; null where it was not built or cannot load here. */
export function nativeJpeg(): NativeJpeg | null {
  if (loaded === undefined) {
    try {
      loaded = process.env.IMGCLASS_NATIVE === '0' ? null : (createRequire(import.meta.url)(MODULE.pathname) as NativeJpeg);
    } catch {
      loaded = null;
    }
  }
  return loaded;
}
