import * as tf from '@tensorflow/tfjs-core';

/**
 * TF.js' wasm backend ships no Conv2DBackpropFilter kernel, so Conv2D layers cannot train on it,
 * and its Conv2DBackpropInput is a naive loop. Both are done here as im2col / col2im in JS around
 * the backend's own BatchMatMul (XNNPACK), with patch matrices built straight in wasm memory and
 * large batches processed in chunks so a patch matrix stays within ~64 MB.
 */

// The wasm backend's internals used here are public methods of BackendWasm, untyped in tfjs' API.
interface WasmBackend {
  readSync(dataId: object): tf.backend_util.BackendValues;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

const MAX_PATCH_FLOATS = 16 * 1024 * 1024;

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function convGeometry(xShape: number[], filterShape: number[], attrs: tf.Conv2DBackpropFilterAttrs | tf.Conv2DBackpropInputAttrs) {
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
  if (format !== 'channelsLast') throw new Error('wasm conv backprop: only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    format,
  );
  return { ...info, top: info.padInfo.top, left: info.padInfo.left };
}

/**
 * Walk every (output position, filter tap) pair of a convolution over images n0 … n0+nc−1 that
 * lands inside the input: `row` is the output position's row in the patch matrix, `xAt` the
 * offset of the input pixel's first channel, `kAt` the tap's first column (fy·kw + fx)·ci.
 * Padding taps are skipped (they contribute zeros).
 */
function forEachPatchCell(g: ReturnType<typeof convGeometry>, n0: number, nc: number, visit: (row: number, xAt: number, kAt: number) => void): void {
  const {
    inHeight: ih,
    inWidth: iw,
    inChannels: ci,
    outHeight: oh,
    outWidth: ow,
    filterHeight: kh,
    filterWidth: kw,
    strideHeight: sh,
    strideWidth: sw,
    top,
    left,
  } = g;
  let row = 0;
  for (let b = n0; b < n0 + nc; b++) {
    const xb = b * ih * iw * ci;
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++, row++) {
        for (let fy = 0; fy < kh; fy++) {
          const yi = y * sh - top + fy;
          if (yi < 0 || yi >= ih) continue;
          for (let fx = 0; fx < kw; fx++) {
            const xi = xo * sw - left + fx;
            if (xi >= 0 && xi < iw) visit(row, xb + (yi * iw + xi) * ci, (fy * kw + fx) * ci);
          }
        }
      }
    }
  }
}

/** Images per chunk so that a patch matrix of rowsPerImage × k floats per image stays bounded. */
const chunkSize = (n: number, rowsPerImage: number, k: number) => Math.max(1, Math.min(n, Math.floor(MAX_PATCH_FLOATS / Math.max(1, rowsPerImage * k))));

/**
 * dW = im2col(x)ᵀ · dy. The patch matrix is written already transposed (k × m), because the
 * backend's BatchMatMul takes its XNNPACK path only without transpose flags.
 */
function conv2DBackpropFilterWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const g = convGeometry(x.shape, attrs.filterShape, attrs);
  const { batchSize: n, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw } = g;
  const xv = backend.readSync(x.dataId) as Float32Array;
  const dyv = backend.readSync(dy.dataId) as Float32Array;
  const k = kh * kw * ci;
  const rowsPerImage = oh * ow;
  const chunk = chunkSize(n, rowsPerImage, k);
  const acc = new Float32Array(k * co);
  const batchMatMul = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
  for (let n0 = 0; n0 < n; n0 += chunk) {
    const nc = Math.min(chunk, n - n0);
    const m = nc * rowsPerImage;
    const colsT = backend.makeOutput([1, k, m], 'float32');
    const dyc = backend.makeOutput([1, m, co], 'float32');
    const c = backend.typedArrayFromHeap(colsT);
    c.fill(0); // padding positions stay 0
    backend.typedArrayFromHeap(dyc).set(dyv.subarray(n0 * rowsPerImage * co, (n0 + nc) * rowsPerImage * co));
    forEachPatchCell(g, n0, nc, (row, xAt, kAt) => {
      let dst = kAt * m + row;
      for (let q = 0; q < ci; q++, dst += m) c[dst] = xv[xAt + q]!;
    });
    const out = batchMatMul({
      inputs: { a: colsT, b: dyc },
      backend: args.backend as tf.KernelBackend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
    const outV = backend.typedArrayFromHeap(out);
    for (let i = 0; i < acc.length; i++) acc[i]! += outV[i]!;
    for (const t of [colsT, dyc, out]) backend.disposeData(t.dataId);
  }
  const result = backend.makeOutput([kh, kw, ci, co], 'float32');
  backend.typedArrayFromHeap(result).set(acc);
  return result;
}

/**
 * dx = col2im(dy · Wᵀ): the product [m × co]·[co × k] runs in BatchMatMul (W is transposed in
 * JS, once), then each patch row is scatter-added back into the input gradient. Replaces the
 * backend's own naive kernel, which dominated training time.
 */
function conv2DBackpropInputWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const g = convGeometry(attrs.inputShape, filter.shape, attrs);
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw } = g;
  const k = kh * kw * ci;
  const wv = backend.readSync(filter.dataId) as Float32Array; // [kh, kw, ci, co] = [k, co]
  const dyv = backend.readSync(dy.dataId) as Float32Array;
  const wT = backend.makeOutput([1, co, k], 'float32');
  const wt = backend.typedArrayFromHeap(wT);
  for (let r = 0; r < k; r++) for (let o = 0; o < co; o++) wt[o * k + r] = wv[r * co + o]!;
  const dx = new Float32Array(n * ih * iw * ci);
  const rowsPerImage = oh * ow;
  const chunk = chunkSize(n, rowsPerImage, k);
  const batchMatMul = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
  for (let n0 = 0; n0 < n; n0 += chunk) {
    const nc = Math.min(chunk, n - n0);
    const m = nc * rowsPerImage;
    const dyc = backend.makeOutput([1, m, co], 'float32');
    backend.typedArrayFromHeap(dyc).set(dyv.subarray(n0 * rowsPerImage * co, (n0 + nc) * rowsPerImage * co));
    const colsInfo = batchMatMul({
      inputs: { a: dyc, b: wT },
      backend: args.backend as tf.KernelBackend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
    const cols = backend.typedArrayFromHeap(colsInfo);
    forEachPatchCell(g, n0, nc, (row, xAt, kAt) => {
      const src = row * k + kAt;
      for (let q = 0; q < ci; q++) dx[xAt + q]! += cols[src + q]!;
    });
    backend.disposeData(dyc.dataId);
    backend.disposeData(colsInfo.dataId);
  }
  backend.disposeData(wT.dataId);
  const result = backend.makeOutput(attrs.inputShape, 'float32');
  backend.typedArrayFromHeap(result).set(dx);
  return result;
}

let registered = false;

/** Register the missing training kernels for the wasm backend (idempotent). */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const [kernelName, kernelFunc] of [
    ['Conv2DBackpropFilter', conv2DBackpropFilterWasm],
    ['Conv2DBackpropInput', conv2DBackpropInputWasm],
  ] as const) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  registered = true;
}
