/** Small vector helpers shared by every layer (flip averaging, ensembles, feature rows). */

/** Element-wise mean of equally long vectors. */
export function meanVectors(vs: Float32Array[]): Float32Array {
  const out = new Float32Array(vs[0]!.length);
  for (const v of vs) for (let i = 0; i < out.length; i++) out[i]! += v[i]!;
  for (let i = 0; i < out.length; i++) out[i]! /= vs.length;
  return out;
}

/** The rows one after another in one array. */
export function concatAll(rows: Float32Array[]): Float32Array {
  const out = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
  let o = 0;
  for (const r of rows) {
    out.set(r, o);
    o += r.length;
  }
  return out;
}

export function concat(a: Float32Array, b: Float32Array): Float32Array {
  return concatAll([a, b]);
}

/** first, first + 1, …, last. */
export function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
