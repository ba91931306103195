/**
 * What @tensorflow/tfjs-backend-wasm 4.22 lacks for training bnlab's conv
 * nets, added from outside the package.
 *
 *  - the kernel Conv2DBackpropFilter (gradient of conv2d w.r.t. its filter):
 *    wasm has Conv2D and Conv2DBackpropInput but not this one, so no conv
 *    net can take a step. Implemented as im2col + ONE matMul (below).
 *  - the gradient functions themselves. tfjs-core's CommonJS bundle does not
 *    register any; they come with @tensorflow/tfjs (which tfjs-node loads),
 *    so without tfjs-node even RealDiv has no gradient.
 *  - a gradient for StridedSlice, which tfjs has on no backend: the ResNet
 *    option-A shortcut x[:, ::2, ::2, :] is a strided slice.
 *
 * Every registration checks the registry first: a notebook kernel may load
 * this module twice, and tfjs warns (or, for kernels, throws) on a second
 * registration.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerTrainingGradients } from './gradients';

/** The part of tfjs-backend-wasm's BackendWasm this module uses. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** Runs another registered wasm kernel on TensorInfos, bypassing the engine. */
function runWasmKernel(name: string, backend: WasmBackend, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel == null) throw new Error(`bnlab: the wasm backend has no kernel ${name}, which Conv2DBackpropFilter needs`);
  return kernel.kernelFunc({ inputs, backend: backend as unknown as object, attrs }) as tf.TensorInfo;
}

/**
 * dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·sh + kh − padTop, ow·sw + kw − padLeft, ci] · dy[n, oh, ow, co]
 *
 * as one GEMM: cols[K = fh·fw·C, M = N·outH·outW] times dy viewed as [M, outC]
 * gives [K, outC], which is the filter's [fh, fw, C, outC] memory layout.
 *
 * cols is laid out [K, M] rather than the textbook [M, K] because wasm's
 * BatchMatMul only reaches XNNPACK without transposes: measured here,
 * matMul(a, b, transposeA=true) ran at 2 GFLOP/s against 28 for the plain one.
 * It is filled in JS straight on the wasm heap (one pass, zeros where the
 * window hangs over the padding) from x transposed to [C, N, H, W], so that
 * each row of cols reads x with stride sw instead of sw·C. The kernels it
 * composes (Transpose, Reshape, BatchMatMul) are called as functions on
 * TensorInfos, as tfjs's own backends do: no engine scopes, nothing taped,
 * and every intermediate is freed with disposeData before returning.
 */
function conv2DBackpropFilterWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropFilterAttrs & { dilations?: number | [number, number] };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;

  // tfjs's conv2d gradient refuses dilations > 1 itself and does not pass
  // them on; this guards direct callers of the kernel.
  const dil = attrs.dilations ?? 1;
  if ((typeof dil === 'number' ? [dil, dil] : dil).some((d) => d !== 1)) {
    throw new Error(`bnlab wasm Conv2DBackpropFilter: dilations ${JSON.stringify(dil)} are not supported, only 1`);
  }
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`bnlab wasm Conv2DBackpropFilter: dataFormat ${dataFormat} is not supported, only NHWC (as for wasm's Conv2D)`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`bnlab wasm Conv2DBackpropFilter: needs float32 x and dy, got ${x.dtype} and ${dy.dtype}`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: outH, outWidth: outW, outChannels: O } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (!tf.util.arraysEqual(dy.shape, info.outShape)) {
    throw new Error(`bnlab wasm Conv2DBackpropFilter: dy has shape [${dy.shape}], the convolution's output is [${info.outShape}]`);
  }
  const K = fh * fw * C;
  const M = N * outH * outW;

  if (M === 0 || K === 0 || O === 0) {
    // Nothing to sum over (or nothing to produce): the gradient is zero.
    const out = backend.makeOutput([fh, fw, C, O], 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }

  const xT = runWasmKernel(tf.Transpose, backend, { x }, { perm: [3, 0, 1, 2] });
  const cols = backend.makeOutput([K, M], 'float32');
  // Views on the heap are taken after the last allocation above: a malloc
  // may grow wasm memory and detach earlier views.
  const src = backend.typedArrayFromHeap(xT) as Float32Array;
  const dst = backend.typedArrayFromHeap(cols) as Float32Array;
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      // Output columns whose input column iw = ow·sw − padLeft + kw is inside x.
      const owLo = Math.min(outW, Math.max(0, Math.ceil((padLeft - kw) / sw)));
      const owHi = Math.max(owLo, Math.min(outW, Math.floor((W - 1 + padLeft - kw) / sw) + 1));
      for (let ci = 0; ci < C; ci++) {
        let d = ((kh * fw + kw) * C + ci) * M;
        for (let n = 0; n < N; n++) {
          for (let oh = 0; oh < outH; oh++, d += outW) {
            const ih = oh * sh - padTop + kh;
            if (ih < 0 || ih >= H) {
              for (let ow = 0; ow < outW; ow++) dst[d + ow] = 0;
              continue;
            }
            const row = ((ci * N + n) * H + ih) * W - padLeft + kw;
            for (let ow = 0; ow < owLo; ow++) dst[d + ow] = 0;
            for (let ow = owLo; ow < owHi; ow++) dst[d + ow] = src[row + ow * sw];
            for (let ow = owHi; ow < outW; ow++) dst[d + ow] = 0;
          }
        }
      }
    }
  }
  backend.disposeData(xT.dataId);

  const dy2d = runWasmKernel(tf.Reshape, backend, { x: dy }, { shape: [M, O] });
  const out = runWasmKernel(tf.BatchMatMul, backend, { a: cols, b: dy2d }, { transposeA: false, transposeB: false });
  backend.disposeData(cols.dataId);
  backend.disposeData(dy2d.dataId);
  // [K, O] is already the memory layout of [fh, fw, C, O]; wasm's own
  // kernels reshape their outputs the same way.
  out.shape = [fh, fw, C, O];
  return out;
}

export function registerWasmTrainingKernels(): void {
  registerTrainingGradients();
  if (tf.getKernel(tf.Conv2DBackpropFilter, 'wasm') == null) {
    tf.registerKernel({
      kernelName: tf.Conv2DBackpropFilter,
      backendName: 'wasm',
      kernelFunc: conv2DBackpropFilterWasm as unknown as tf.KernelFunc,
    });
  }
}
