/**
 * Byte buffers for a photo's views and model inputs, used again once no one reads them.
 *
 * Why: glibc serves an allocation of 128 KB or more (a 224² view is 147 KB, a photo's pixels more)
 * with fresh pages from the kernel until its thresholds adapt, and on the 2-core VMs this product
 * runs on, the first touch of a page costs ~12 µs (measured: 8 MB buffers, 4 KB pages). Packing a
 * view into a new buffer took ~0.35 ms before it could be sent, on the thread that feeds the
 * models, and over its first hundred photos the dog app's main thread took ~120 page faults a
 * photo (docs/startup.md, "Fifth round"). A buffer used before has its pages mapped.
 *
 * Two ways back: a worker thread returns an input's buffer with its answer (session-thread.ts,
 * `reuseBytes`), and code that made a view for one pass and is done with it gives it back
 * (`releaseBytes`: models/views.ts `embedWith`). A buffer taken here belongs to the caller, like
 * any new one, until then. Sizes are rounded up to 64 KB so that photos of nearby sizes share
 * buffers; the pool keeps at most 8 of a size and 32 MB in all.
 */
const GRAIN = 64 * 1024;
const PER_SIZE = 8;
const MAX_BYTES = 32 * 1024 * 1024;

const free = new Map<number, ArrayBuffer[]>();
const ours = new WeakSet<ArrayBuffer>();
let held = 0;

/** `n` bytes, in a buffer given back earlier when one of the right size is free (its old contents remain: write every byte). */
export function takeBytes(n: number): Uint8Array {
  if (n < GRAIN) return new Uint8Array(n);
  const size = Math.ceil(n / GRAIN) * GRAIN;
  const buffer = free.get(size)?.pop();
  if (!buffer) {
    const fresh = new ArrayBuffer(size);
    ours.add(fresh);
    return new Uint8Array(fresh, 0, n);
  }
  ours.add(buffer);
  held -= size;
  return new Uint8Array(buffer, 0, n);
}

/**
 * Gives a buffer to the next `takeBytes`: one no one can read any more (a worker handed it back
 * after the transfer that detached every view of it here). Sizes other than the pool's own are left.
 */
export function reuseBytes(buffer: ArrayBuffer): void {
  const size = buffer.byteLength;
  if (size < GRAIN || size % GRAIN !== 0 || held + size > MAX_BYTES) return;
  const list = free.get(size) ?? [];
  if (list.length >= PER_SIZE) return;
  list.push(buffer);
  free.set(size, list);
  held += size;
}

/** A copy of `bytes` in a buffer from `takeBytes`. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = takeBytes(bytes.length);
  out.set(bytes);
  return out;
}

/** Gives back bytes from `takeBytes` that no one will read again; bytes from anywhere else (a caller's image) are left alone. */
export function releaseBytes(bytes: Uint8Array): void {
  if (ours.has(bytes.buffer as ArrayBuffer)) {
    ours.delete(bytes.buffer as ArrayBuffer);
    reuseBytes(bytes.buffer as ArrayBuffer);
  }
}
