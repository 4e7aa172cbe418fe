import { readFileSync } from 'node:fs';

let vnni: boolean | undefined;

/**
 * Whether this x86 CPU has VNNI (AVX-512 VNNI or AVX-VNNI): there onnxruntime multiplies uint8
 * activations by int8 weights in one instruction, and 8-bit graphs should hand it int8 weights.
 * Without VNNI its AVX2 uint8 × int8 kernel can saturate 16-bit sums, so uint8 weights are the
 * safe choice; other platforms (no /proc/cpuinfo) answer false for the same reason.
 */
export function cpuHasVnni(): boolean {
  if (vnni === undefined) {
    try {
      vnni = /\b(avx512_vnni|avx_vnni)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      vnni = false;
    }
  }
  return vnni;
}
