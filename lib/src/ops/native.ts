/**
 * Fast paths for the native backend (@tensorflow/tfjs-node): each op calls
 * TensorFlow's own fused forward and backward kernels through the backend's
 * `executeSingleOutput` / `executeMultipleOutputs`, wrapped in tf.customGrad.
 *
 * Why: on tfjs-node every tfjs op is one call into the TF C library, and the
 * gradients of batchNorm, relu, mean and add are written in tfjs as chains of
 * small ops (some building large arrays of ones in JavaScript). One fused TF
 * kernel per direction replaces ~85 native calls per BN layer.
 *
 * Everything here requires `tf.getBackend() === 'tensorflow'`; ./index.ts
 * chooses between these and the plain formulas.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The subset of tfjs-node's binding used here (see tfjs_binding.d.ts). */
export interface TfBinding {
  TF_FLOAT: number;
  TF_INT32: number;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;
}

export interface OpAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[] | string[];
}

/** The subset of NodeJSKernelBackend used here (nodejs_kernel_backend.d.ts). */
export interface NativeBackend {
  binding: TfBinding;
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
}

export function isNativeBackend(): boolean {
  return tf.getBackend() === 'tensorflow';
}

/** The active backend as tfjs-node's; throws elsewhere. */
export function nativeBackend(): NativeBackend {
  if (!isNativeBackend()) throw new Error(`bnlab native ops need the 'tensorflow' backend, not '${tf.getBackend()}'`);
  return tf.backend() as unknown as NativeBackend;
}

/** Attribute builders. tfjs-node's binding takes int lists for TF_ATTR_INT (AvgPool's ksize). */
export const attr = {
  type: (b: TfBinding, name: string, dtype: number = b.TF_FLOAT): OpAttr => ({ name, type: b.TF_ATTR_TYPE, value: dtype }),
  float: (b: TfBinding, name: string, value: number): OpAttr => ({ name, type: b.TF_ATTR_FLOAT, value }),
  bool: (b: TfBinding, name: string, value: boolean): OpAttr => ({ name, type: b.TF_ATTR_BOOL, value }),
  str: (b: TfBinding, name: string, value: string): OpAttr => ({ name, type: b.TF_ATTR_STRING, value }),
  ints: (b: TfBinding, name: string, value: number[]): OpAttr => ({ name, type: b.TF_ATTR_INT, value }),
  int: (b: TfBinding, name: string, value: number): OpAttr => ({ name, type: b.TF_ATTR_INT, value }),
  shape: (b: TfBinding, name: string, value: number[]): OpAttr => ({ name, type: b.TF_ATTR_SHAPE, value }),
  // Lists of strings and of types need bnlab's patched binding (scripts/tfjs-node-patch.mjs).
  strs: (b: TfBinding, name: string, value: string[]): OpAttr => ({ name, type: b.TF_ATTR_STRING, value }),
  types: (b: TfBinding, name: string, value: number[]): OpAttr => ({ name, type: b.TF_ATTR_TYPE, value }),
};

/**
 * Selects the oneDNN kernel of a `_MklNative…` op: TF registers those
 * kernels under this label, which its graph rewrite sets and eager callers
 * must set themselves.
 */
export function oneDnnKernel(b: TfBinding): OpAttr {
  return attr.str(b, '_kernel', 'MklNameChangeOp');
}

// ---------------------------------------------------------------- batch norm

export interface NativeBatchNormArgs {
  gamma: tf.Tensor;
  beta: tf.Tensor;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
  epsilon: number;
  /** Weight of the batch in the moving averages (PyTorch's convention). */
  momentum: number;
  updateMovingStats: boolean;
}

/**
 * Training-mode batch norm over all axes but the last, by FusedBatchNormV3
 * (is_training=true) forward and FusedBatchNormGradV3 backward.
 *
 * The moving statistics come out of the same kernel: with
 * exponential_avg_factor = m, TF's CPU kernel returns
 * (1 − m)·moving + m·batch for the mean and for the Bessel-corrected
 * variance, which is exactly the plain updateMovingStats. Without an update
 * the factor is 1 and those outputs are dropped.
 *
 * Inputs of rank other than 4 are viewed as [N, 1, rest, C] (the statistics
 * are over every axis but the last either way); the reshapes sit outside the
 * custom gradient so tfjs differentiates them.
 */
export function fusedBatchNormTrain(x: tf.Tensor, a: NativeBatchNormArgs): tf.Tensor {
  return on4D(x, null, (x4) => fusedBatchNorm4D(x4, a));
}

/**
 * f(x, residual) with both viewed as [N, 1, rest, C] when x is not 4-D:
 * FusedBatchNormGradV3 takes 4-D tensors, and the statistics are over every
 * axis but the last either way. The reshapes sit outside the custom
 * gradient, so tfjs differentiates them.
 */
function on4D(x: tf.Tensor, residual: tf.Tensor | null, f: (x4: tf.Tensor4D, r4: tf.Tensor4D | null) => tf.Tensor): tf.Tensor {
  if (x.rank === 4) return f(x as tf.Tensor4D, residual as tf.Tensor4D | null);
  return tf.tidy(() => {
    const c = x.shape[x.rank - 1];
    const as4 = (t: tf.Tensor) => tf.reshape(t, [x.shape[0], 1, t.size / (x.shape[0] * c), c]) as tf.Tensor4D;
    return tf.reshape(f(as4(x), residual && as4(residual)), x.shape);
  });
}

/**
 * The backward of training-mode BN [+ residual] [+ ReLU] at dy: ReluGrad(dy,
 * y) when the ReLU is fused (y > 0 exactly where BN's output is), then
 * FusedBatchNormGradV3 with the forward's batch mean and biased variance.
 * Returns [dx, dγ, dβ] and, when asked for, the gradient that entered the
 * batch norm (the residual's); it disposes what it does not return.
 */
function batchNormBackward(
  grad: OpAttr[],
  dy: tf.Tensor,
  saved: { x: tf.Tensor; gamma: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor; reserve3: tf.Tensor; y?: tf.Tensor },
  wantEntering: boolean,
): tf.Tensor[] {
  const be = nativeBackend();
  const dz = saved.y ? be.executeSingleOutput('ReluGrad', [attr.type(be.binding, 'T')], [dy, saved.y]) : dy;
  const { x, gamma, mean, variance, reserve3 } = saved;
  const [dx, dGamma, dBeta, r4, r5] = be.executeMultipleOutputs('FusedBatchNormGradV3', grad, [dz, x, gamma, mean, variance, reserve3], 5);
  tf.dispose([r4, r5]);
  if (!wantEntering) {
    if (dz !== dy) dz.dispose();
    return [dx, dGamma, dBeta];
  }
  // A clone of dy (no native call) so the tape never holds one tensor object as two gradients.
  return [dx, dGamma, dBeta, dz !== dy ? dz : tf.clone(dy)];
}

/** Attributes of the training-mode forward (plain or with the ReLU fused) and of the gradient. */
function batchNormAttrs(b: TfBinding, epsilon: number, avgFactor: number, withRelu: boolean): { forward: OpAttr[]; grad: OpAttr[] } {
  const grad = [
    attr.type(b, 'T'),
    attr.type(b, 'U'),
    attr.float(b, 'epsilon', epsilon),
    attr.str(b, 'data_format', 'NHWC'),
    attr.bool(b, 'is_training', true),
  ];
  const forward = [...grad, attr.float(b, 'exponential_avg_factor', avgFactor)];
  if (withRelu) forward.push(attr.str(b, 'activation_mode', 'Relu'), attr.int(b, 'num_side_inputs', 0), oneDnnKernel(b));
  return { forward, grad };
}

function fusedBatchNorm4D(x: tf.Tensor4D, a: NativeBatchNormArgs, withRelu = false): tf.Tensor4D {
  const be = nativeBackend();
  const b = be.binding;
  const { forward: fwdAttrs, grad: common } = batchNormAttrs(b, a.epsilon, a.updateMovingStats ? a.momentum : 1, withRelu);
  const f = tf.customGrad((xs, gamma, beta, save) => {
    const [y, runMean, runVar, rs1, rs2, rs3] = be.executeMultipleOutputs(
      withRelu ? '_MklNativeFusedBatchNormEx' : 'FusedBatchNormV3',
      fwdAttrs,
      [xs as tf.Tensor, gamma as tf.Tensor, beta as tf.Tensor, a.movingMean, a.movingVariance],
      6,
    );
    if (a.updateMovingStats) {
      a.movingMean.assign(runMean);
      a.movingVariance.assign(runVar);
    }
    // On CPU reserve_space_1/2 are the batch mean and the biased variance
    // (reserve_space_3 is empty); the gradient kernel wants them back. The
    // engine clones and keeps these only while a tape records, and disposes
    // them after backprop; everything else here dies with customGrad's tidy.
    // With the ReLU fused, its gradient needs the output too.
    (save as tf.GradSaveFunc)([xs as tf.Tensor, gamma as tf.Tensor, rs1, rs2, rs3, ...(withRelu ? [y] : [])]);
    return {
      value: y as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [xv, gammaV, mean, variance, reserve3, yv] = saved;
        return batchNormBackward(common, dy, { x: xv, gamma: gammaV, mean, variance, reserve3, y: yv }, false);
      },
    };
  });
  return f(x, a.gamma, a.beta);
}

/**
 * Training-mode batch norm by bnlab's own kernel (BnlabBatchNormTrain,
 * lib/native/bnlab-kernels.cc, built into the patched binding), with the
 * ReLU and a residual input optionally fused: relu(BN(x) [+ residual]) in
 * two passes over the activations. Its outputs are FusedBatchNormV3's (the moving statistics
 * updated alike; the batch mean and biased variance for the gradient), so
 * the backward is as fusedBatchNormTrain's: ReluGrad(dy, y) with the ReLU,
 * then FusedBatchNormGradV3; the residual's gradient is what enters it.
 * Any rank: the statistics are over every axis but the last.
 *
 * Where TF's path runs FusedBatchNormV3, then Add and Relu, each a pass
 * over the activations, this is one kernel.
 */
export function bnlabBatchNormTrain(x: tf.Tensor, a: NativeBatchNormArgs, relu: boolean, residual: tf.Tensor | null): tf.Tensor {
  return on4D(x, residual, (x4, r4) => bnlabBatchNorm4D(x4, a, relu, r4));
}

function bnlabBatchNorm4D(x: tf.Tensor4D, a: NativeBatchNormArgs, relu: boolean, residual: tf.Tensor4D | null): tf.Tensor {
  const be = nativeBackend();
  const b = be.binding;
  const forward = bnlabBatchNormAttrs(b, a.epsilon, a.updateMovingStats ? a.momentum : 1, relu, residual ? 1 : 0);
  const { grad } = batchNormAttrs(b, a.epsilon, 1, false);
  const f = tf.customGrad((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const inputs = args as tf.Tensor[];
    const [xs, gamma, beta, side] = inputs;
    const moving = [a.movingMean, a.movingVariance];
    const [y, runMean, runVar, mean, variance] = be.executeMultipleOutputs(
      'BnlabBatchNormTrain',
      forward,
      side ? [xs, gamma, beta, ...moving, side] : [xs, gamma, beta, ...moving],
      5,
    );
    if (a.updateMovingStats) {
      a.movingMean.assign(runMean);
      a.movingVariance.assign(runVar);
    }
    save([xs, gamma, mean, variance, ...(relu ? [y] : [])]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xv, gammaV, mean, variance, yv] = saved;
        // reserve_space_3, empty on CPU.
        const reserve3 = tf.tensor1d([], 'float32');
        const grads = batchNormBackward(grad, dy, { x: xv, gamma: gammaV, mean, variance, reserve3, y: yv }, !!side);
        reserve3.dispose();
        return grads;
      },
    };
  });
  return residual ? f(x, a.gamma, a.beta, residual) : f(x, a.gamma, a.beta);
}

function bnlabBatchNormAttrs(b: TfBinding, epsilon: number, avgFactor: number, relu: boolean, sides: number): OpAttr[] {
  return [
    attr.float(b, 'epsilon', epsilon),
    attr.float(b, 'exponential_avg_factor', avgFactor),
    attr.bool(b, 'relu', relu),
    attr.int(b, 'num_side', sides),
  ];
}

/** Whether bnlabBatchNormTrain can run here: a binding built with bnlab's kernels. */
export function bnlabBatchNormAvailable(): boolean {
  const b = nativeBackend().binding;
  return kernelRuns('BnlabBatchNormTrain', bnlabBatchNormAttrs(b, 1e-5, 1, false, 0), [[2, 1, 1, 1], [1], [1], [1], [1]], 5);
}

// ---------------------------------------------------------------- relu

/** Relu forward; ReluGrad(dy, y) backward (y > 0 exactly where x > 0). */
export function nativeRelu(x: tf.Tensor): tf.Tensor {
  const be = nativeBackend();
  const T = [attr.type(be.binding, 'T')];
  const f = tf.customGrad((xs, save) => {
    const y = be.executeSingleOutput('Relu', T, [xs as tf.Tensor]);
    (save as tf.GradSaveFunc)([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => be.executeSingleOutput('ReluGrad', T, [dy, saved[0]]),
    };
  });
  return f(x);
}

// ---------------------------------------------------------------- bias

/** BiasAdd forward; dy and BiasAddGrad(dy) (its sum over all but the last axis) backward. */
/** BiasAdd's and BiasAddGrad's attributes. */
export function biasAttrs(b: TfBinding): OpAttr[] {
  return [attr.type(b, 'T'), attr.str(b, 'data_format', 'NHWC')];
}

export function nativeBiasAdd(x: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const be = nativeBackend();
  const attrs = biasAttrs(be.binding);
  const f = tf.customGrad((xs, bs) => ({
    value: be.executeSingleOutput('BiasAdd', attrs, [xs as tf.Tensor, bs as tf.Tensor]),
    // tf.clone makes a new handle on dy's data without a native call, so the
    // tape never holds one tensor object as two different gradients.
    gradFunc: (dy: tf.Tensor) => [tf.clone(dy), be.executeSingleOutput('BiasAddGrad', attrs, [dy])],
  }));
  return f(x, bias);
}

// ---------------------------------------------------------------- global average pooling

/**
 * AvgPool with the window the whole image ([N,H,W,C] → [N,1,1,C], then a
 * reshape to [N,C]) forward, AvgPoolGrad backward. tfjs's Mean gradient
 * instead fills an [N,H,W,C] array of ones in JavaScript every step.
 * ksize/strides are int-list attributes, which tfjs-node's binding passes
 * (its own AvgPool kernel does the same).
 */
export function nativeGlobalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  const be = nativeBackend();
  const b = be.binding;
  const [n, h, w, c] = x.shape;
  const attrs = [
    attr.type(b, 'T'),
    attr.ints(b, 'ksize', [1, h, w, 1]),
    attr.ints(b, 'strides', [1, 1, 1, 1]),
    attr.str(b, 'padding', 'VALID'),
    attr.str(b, 'data_format', 'NHWC'),
  ];
  const f = tf.customGrad((xs) => {
    const pooled = be.executeSingleOutput('AvgPool', attrs, [xs as tf.Tensor]);
    return {
      value: tf.reshape(pooled, [n, c]) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor2D) => {
        // customGrad runs gradFunc in the whole backward pass's scope, so
        // intermediates are freed here rather than at its end.
        const shape = tf.tensor1d([n, h, w, c], 'int32');
        const dy4 = tf.reshape(dy, [n, 1, 1, c]);
        const dx = be.executeSingleOutput('AvgPoolGrad', attrs, [shape, dy4]);
        tf.dispose([shape, dy4]);
        return dx;
      },
    };
  });
  return f(x);
}

// ---------------------------------------------------------------- oneDNN kernels

const probed = new Map<string, boolean>();

/**
 * Whether this TF library runs `op` (tried once, on tiny inputs, and
 * remembered). The `_MklNative…` kernels exist only in TF builds with oneDNN,
 * like the wheel's; a libtensorflow from tfjs-node's own installer on another
 * platform may lack them, and the ops then take their unfused path. The try
 * calls the kernel directly, not through customGrad, so no tape records it.
 */
export function kernelRuns(op: string, attrs: OpAttr[], shapes: number[][], numOutputs: number): boolean {
  let ok = probed.get(op);
  if (ok === undefined) {
    const be = nativeBackend();
    const inputs = shapes.map((s) => tf.ones(s));
    try {
      tf.dispose(be.executeMultipleOutputs(op, attrs, inputs, numOutputs));
      ok = true;
    } catch {
      ok = false;
    }
    tf.dispose(inputs);
    probed.set(op, ok);
  }
  return ok;
}

/** Whether fusedBatchNormReluTrain can run here. */
export function batchNormReluAvailable(): boolean {
  const b = nativeBackend().binding;
  return kernelRuns('_MklNativeFusedBatchNormEx', batchNormAttrs(b, 1e-5, 1, true).forward, [[2, 1, 1, 1], [1], [1], [1], [1]], 6);
}

// ---------------------------------------------------------------- batch norm + relu

/**
 * relu(batchNorm(x)) in training mode: one oneDNN batch normalisation with
 * the ReLU fused (`_MklNativeFusedBatchNormEx`, activation_mode Relu, the
 * kernel TF's graph remapper uses), instead of FusedBatchNormV3 then Relu,
 * which makes one more full pass over the activations. Backward:
 * ReluGrad(dy, y), then FusedBatchNormGradV3 with the forward's batch
 * statistics, as fusedBatchNormTrain (the oneDNN forward leaves them in the
 * same reserve outputs; the tests check the gradients against the plain
 * formula).
 */
export function fusedBatchNormReluTrain(x: tf.Tensor4D, a: NativeBatchNormArgs): tf.Tensor4D {
  return fusedBatchNorm4D(x, a, true);
}
