import * as tf from '@tensorflow/tfjs-core';

/**
 * TF.js' wasm backend ships no Conv2DBackpropFilter kernel, so Conv2D layers cannot train on it.
 * This one computes dW = im2col(x)ᵀ · dy: the patch matrix is built in JS straight into wasm
 * memory, and the product runs in the backend's own BatchMatMul (XNNPACK). Large batches are
 * processed in chunks so the patch matrix stays within ~64 MB.
 */

// The wasm backend's internals used here are public methods of BackendWasm, untyped in tfjs' API.
interface WasmBackend {
  readSync(dataId: object): tf.backend_util.BackendValues;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

const MAX_PATCH_FLOATS = 16 * 1024 * 1024;

function conv2DBackpropFilterWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  if (format !== 'channelsLast') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, format);
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const xv = backend.readSync(x.dataId) as Float32Array;
  const dyv = backend.readSync(dy.dataId) as Float32Array;
  const k = kh * kw * ci;
  const rowsPerImage = oh * ow;
  const chunk = Math.max(1, Math.min(n, Math.floor(MAX_PATCH_FLOATS / Math.max(1, rowsPerImage * k))));
  const acc = new Float32Array(k * co);
  const batchMatMul = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;

  for (let n0 = 0; n0 < n; n0 += chunk) {
    const nc = Math.min(chunk, n - n0);
    const m = nc * rowsPerImage;
    const cols = backend.makeOutput([1, m, k], 'float32');
    const dyc = backend.makeOutput([1, m, co], 'float32');
    const colsV = backend.typedArrayFromHeap(cols);
    colsV.fill(0); // padding positions stay 0
    backend.typedArrayFromHeap(dyc).set(dyv.subarray(n0 * rowsPerImage * co, (n0 + nc) * rowsPerImage * co));
    let row = 0;
    for (let b = n0; b < n0 + nc; b++) {
      const xb = b * ih * iw * ci;
      for (let y = 0; y < oh; y++) {
        for (let xo = 0; xo < ow; xo++, row++) {
          const base = row * k;
          for (let fy = 0; fy < kh; fy++) {
            const yi = y * sh - top + fy;
            if (yi < 0 || yi >= ih) continue;
            for (let fx = 0; fx < kw; fx++) {
              const xi = xo * sw - left + fx;
              if (xi < 0 || xi >= iw) continue;
              const src = xb + (yi * iw + xi) * ci;
              colsV.set(xv.subarray(src, src + ci), base + (fy * kw + fx) * ci);
            }
          }
        }
      }
    }
    const out = batchMatMul({ inputs: { a: cols, b: dyc }, backend: args.backend as tf.KernelBackend, attrs: { transposeA: true, transposeB: false } }) as tf.TensorInfo;
    const outV = backend.typedArrayFromHeap(out);
    for (let i = 0; i < acc.length; i++) acc[i]! += outV[i]!;
    backend.disposeData(cols.dataId);
    backend.disposeData(dyc.dataId);
    backend.disposeData(out.dataId);
  }
  const result = backend.makeOutput([kh, kw, ci, co], 'float32');
  backend.typedArrayFromHeap(result).set(acc);
  return result;
}

let registered = false;

/** Register the missing training kernels for the wasm backend (idempotent). */
export function registerWasmTrainingKernels(): void {
  if (registered || tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilterWasm as unknown as tf.KernelFunc });
  registered = true;
}
