/**
 * Otsu's method (seed 2): the grey threshold that maximises the between-class variance of the
 * histogram. Returns t in 0..255; pixels > t are foreground (1), the rest background (0),
 * matching OpenCV's THRESH_BINARY + THRESH_OTSU.
 */
export function otsuThreshold(grey: Uint8Array): number {
  const hist = new Float64Array(256);
  for (let i = 0; i < grey.length; i++) hist[grey[i]!]!++;
  const total = grey.length;
  let sumAll = 0;
  for (let t = 0; t < 256; t++) sumAll += t * hist[t]!;
  let wB = 0;
  let sumB = 0;
  let best = -1;
  let bestT = 0;
  for (let t = 0; t < 256; t++) {
    wB += hist[t]!;
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += t * hist[t]!;
    const mB = sumB / wB;
    const mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) * (mB - mF);
    if (between > best) {
      best = between;
      bestT = t;
    }
  }
  return bestT;
}

/** Binarise a grey image with its Otsu threshold: 1 above the threshold, 0 at or below. */
export function otsuBinarize(grey: Uint8Array): { binary: Uint8Array; threshold: number } {
  const threshold = otsuThreshold(grey);
  const binary = new Uint8Array(grey.length);
  for (let i = 0; i < grey.length; i++) binary[i] = grey[i]! > threshold ? 1 : 0;
  return { binary, threshold };
}
