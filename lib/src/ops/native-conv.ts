/**
 * The native backend's convolutions (see ./native.ts for the pattern): conv
 * [+ bias] and conv + bias [+ residual] + ReLU, forward as one oneDNN
 * convolution each, as tfjs kernels with registered gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attr, biasAttrs, kernelRuns, nativeBackend, OpAttr, oneDnnKernel, TfBinding } from './native';
import { onSideQueue } from './queue';

/** Conv2D's attributes: 'SAME' padding, NHWC, no dilation. */
function convAttrs(b: TfBinding, stride: number): OpAttr[] {
  return [
    attr.type(b, 'T'),
    attr.ints(b, 'strides', [1, stride, stride, 1]),
    attr.str(b, 'padding', 'SAME'),
    attr.str(b, 'data_format', 'NHWC'),
    attr.ints(b, 'dilations', [1, 1, 1, 1]),
  ];
}

/**
 * conv2d(x, w) (+ b), forward as one oneDNN convolution; backward TF's
 * Conv2DBackpropInput and Conv2DBackpropFilter (and BiasAddGrad), the
 * kernels tfjs-node's own conv2d gradient runs.
 *
 * With a bias: TF's eager runtime rewrites Conv2D to oneDNN but never fuses
 * the BiasAdd after it, and TF's BiasAdd is a separate full pass over the
 * output. `_MklNativeConv2DWithBias` is the oneDNN kernel TF's own graph
 * rewrite uses for Conv2D + BiasAdd; its kernel is registered under the
 * "MklNameChangeOp" label, which the `_kernel` attribute selects.
 *
 * Without one, the forward is tfjs-node's Conv2D, and what this path adds is
 * the order of the backward: the weights' gradient goes on the side queue
 * (onSideQueue), since nothing in the backward pass waits for it, so TF runs
 * it alongside the input gradients the next layers wait for.
 *
 * It is a tfjs kernel with a registered gradient (not tf.customGrad) because
 * tfjs then computes only the gradients the tape needs: none for the
 * network's input, whose gradient (a convolution with 3 input channels,
 * which oneDNN does slowly) cost 6–8 ms a step at batch 128.
 *
 * Padding is TF's 'SAME' (for stride 2 on even sizes: 0 before, 1 after),
 * as tf.conv2d's 'same' on this backend.
 */
export function nativeConv2d(x: tf.Tensor4D, w: tf.Tensor4D, bias: tf.Tensor1D | null, stride: number): tf.Tensor4D {
  registerNativeConv2d();
  const inputs: tf.NamedTensorMap = bias ? { x, filter: w, bias } : { x, filter: w };
  return tf.engine().runKernel(NATIVE_CONV2D, inputs, { stride } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * relu(conv2d(x, w) + bias [+ residual]), forward as one oneDNN convolution
 * with the bias, the residual add and the ReLU as post-ops
 * (`_MklNativeFusedConv2D`, the kernel TF's graph remapper uses for
 * Conv2D + BiasAdd [+ Add] + Relu), instead of two or three more ops that
 * each make a full pass over the output. The post-ops add in the same order
 * as the separate ops ((conv + bias) + residual), so the output is the same
 * to the last bit. Backward: ReluGrad(dy, y) once, then nativeConv2d's
 * gradients of it; the residual's gradient is that ReluGrad.
 */
export function nativeConv2dRelu(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  bias: tf.Tensor1D,
  stride: number,
  residual: tf.Tensor4D | null,
): tf.Tensor4D {
  registerNativeConv2d();
  const inputs: tf.NamedTensorMap = residual ? { x, filter: w, bias, residual } : { x, filter: w, bias };
  return tf.engine().runKernel(NATIVE_CONV2D_RELU, inputs, { stride } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** Whether nativeConv2dRelu can run here (its fused oneDNN kernel, and a binding that passes list attributes). */
export function conv2dReluAvailable(): boolean {
  const b = nativeBackend().binding;
  return kernelRuns('_MklNativeFusedConv2D', fusedConvAttrs(b, 1, false), [[1, 2, 2, 1], [1, 1, 1, 1], [1]], 1);
}

/** `_MklNativeFusedConv2D`'s attributes for BiasAdd [+ Add] + Relu. */
function fusedConvAttrs(b: TfBinding, stride: number, residual: boolean): OpAttr[] {
  const args = residual ? 2 : 1;
  return [
    ...convAttrs(b, stride),
    attr.int(b, 'num_args', args),
    attr.types(b, 'TArgs', Array(args).fill(b.TF_FLOAT)),
    attr.strs(b, 'fused_ops', residual ? ['BiasAdd', 'Add', 'Relu'] : ['BiasAdd', 'Relu']),
    oneDnnKernel(b),
  ];
}

const NATIVE_CONV2D = 'BnlabConv2D';
const NATIVE_CONV2D_RELU = 'BnlabConv2DRelu';
let nativeConv2dRegistered = false;

/**
 * The gradients of conv2d(x, filter) + bias at d, as tfjs gradient closures.
 * tfjs calls them only for the inputs on the tape's path, each inside a tidy.
 */
function convGradients(stride: number, x: tf.Tensor, filter: tf.Tensor, d: tf.Tensor): Record<'x' | 'filter' | 'bias', () => tf.Tensor> {
  const be = nativeBackend();
  const conv = convAttrs(be.binding, stride);
  return {
    x: () => be.executeSingleOutput('Conv2DBackpropInput', conv, [tf.tensor1d(x.shape, 'int32'), filter, d]),
    filter: () => onSideQueue(() => be.executeSingleOutput('Conv2DBackpropFilter', conv, [x, tf.tensor1d(filter.shape, 'int32'), d])),
    bias: () => be.executeSingleOutput('BiasAddGrad', biasAttrs(be.binding), [d]),
  };
}

function registerNativeConv2d(): void {
  if (nativeConv2dRegistered) return;
  nativeConv2dRegistered = true;
  const strideOf = (attrs: unknown) => (attrs as { stride: number }).stride;
  tf.registerKernel({
    kernelName: NATIVE_CONV2D,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, attrs }) => {
      const be = nativeBackend();
      const conv = convAttrs(be.binding, strideOf(attrs));
      const { x, filter, bias } = inputs as { x: tf.Tensor; filter: tf.Tensor; bias?: tf.Tensor };
      return bias
        ? be.executeSingleOutput('_MklNativeConv2DWithBias', [...conv, oneDnnKernel(be.binding)], [x, filter, bias])
        : be.executeSingleOutput('Conv2D', conv, [x, filter]);
    },
  });
  tf.registerGradient({
    kernelName: NATIVE_CONV2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => convGradients(strideOf(attrs), x, filter, dy as tf.Tensor),
  });
  tf.registerKernel({
    kernelName: NATIVE_CONV2D_RELU,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, attrs }) => {
      const be = nativeBackend();
      const { x, filter, bias, residual } = inputs as { x: tf.Tensor; filter: tf.Tensor; bias: tf.Tensor; residual?: tf.Tensor };
      const args = residual ? [x, filter, bias, residual] : [x, filter, bias];
      return be.executeSingleOutput('_MklNativeFusedConv2D', fusedConvAttrs(be.binding, strideOf(attrs), !!residual), args);
    },
  });
  tf.registerGradient({
    kernelName: NATIVE_CONV2D_RELU,
    inputsToSave: ['x', 'filter'],
    outputsToSave: [true],
    gradFunc: (dy, [x, filter, y], attrs) => {
      // Once for all the closures; the backward pass's scope disposes it.
      const dz = nativeBackend().executeSingleOutput('ReluGrad', [attr.type(nativeBackend().binding, 'T')], [dy as tf.Tensor, y]);
      // A clone (no native call) so the tape never holds one tensor object as two gradients.
      return { ...convGradients(strideOf(attrs), x, filter, dz), residual: () => tf.clone(dz) };
    },
  });
}

/** Whether nativeConv2d can run with a bias here (its oneDNN conv-with-bias kernel). */
export function conv2dBiasAvailable(): boolean {
  const b = nativeBackend().binding;
  return kernelRuns('_MklNativeConv2DWithBias', [...convAttrs(b, 1), oneDnnKernel(b)], [[1, 2, 2, 1], [1, 1, 1, 1], [1]], 1);
}
