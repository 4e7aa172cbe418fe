import { createRequire } from 'node:module';
import type { ResampleKernels } from './resample.js';

/**
 * imgclass's native pixel kernels (native/pixels.c), Node only: the system's libjpeg-turbo with its
 * SIMD for plain JPEGs, and the resize's inner loops (data/resample.ts's 12-bit fixed point, the
 * same arithmetic). Built at install by scripts/build-native.js where a C compiler and libjpeg's
 * headers are there. Measured on the 2-core machine: 0.45 ms for a 298×224 Imagewoof photo against
 * 0.80 ms for the WebAssembly build (no SIMD), with the same bytes (docs/startup.md, sixth round).
 * Absent (not built, or it does not load), JPEGs decode through WebAssembly and photos resize in
 * TypeScript, as before.
 */
export interface NativePixels extends ResampleKernels {
  /** Decodes into `out` (exactly width × height × 3 bytes); false when libjpeg failed or warned. */
  decode(jpeg: Uint8Array, out: Uint8Array): boolean;
}

/** From src/data, dist/data and dist/bundle alike: two folders up is the package's root. */
const MODULE = new URL('../../build/native/pixels.node', import.meta.url);

let loaded: NativePixels | null | undefined;

/** The native kernels, loaded on first need; null where they were not built or cannot load here (or IMGCLASS_NATIVE=0). */
export function nativePixels(): NativePixels | null {
  if (loaded === undefined) {
    try {
      loaded = process.env.IMGCLASS_NATIVE === '0' ? null : (createRequire(import.meta.url)(MODULE.pathname) as NativePixels);
    } catch {
      loaded = null;
    }
  }
  return loaded;
}
