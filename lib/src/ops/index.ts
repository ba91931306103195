/**
 * The layer ops bnlab's models are built from. Each has a plain-tfjs
 * formula that runs on every backend; on the native backend the ops take
 * TensorFlow's fused kernels instead (see ./native.ts and ./native-conv.ts), because tfjs's
 * JavaScript-side gradients for them dominate the training step.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  batchNormReluAvailable,
  bnlabBatchNormAvailable,
  bnlabBatchNormTrain,
  fusedBatchNormReluTrain,
  fusedBatchNormTrain,
  isNativeBackend,
  NativeBatchNormArgs,
  nativeBiasAdd,
  nativeGlobalAvgPool,
  nativeRelu,
} from './native';
import { conv2dBiasAvailable, conv2dReluAvailable, nativeConv2d, nativeConv2dRelu } from './native-conv';
import { closedFormGroupNorm, GroupNormOptions, GroupNormParams, plainGroupNorm } from './group-norm';

export { closedFormGroupNorm, plainGroupNorm } from './group-norm';
export type { GroupNormOptions, GroupNormParams } from './group-norm';

export interface BatchNormParams {
  gamma: tf.Variable;
  beta: tf.Variable;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
}

export interface BatchNormOptions {
  /** Normalise with the batch's statistics (true) or the moving ones (false). */
  training: boolean;
  /** Fold the batch statistics into the moving ones. Default: `training`. */
  updateMovingStats?: boolean;
  epsilon?: number;
  /** Weight of the new batch in the moving averages (PyTorch's convention). */
  momentum?: number;
}

let fastOpsEnabled = true;

/**
 * Allow (default) or forbid the native fast paths, e.g. to time or compare
 * them against the plain formulas on the same backend.
 */
export function setFastOps(enabled: boolean): void {
  fastOpsEnabled = enabled;
}

/** The fused chains of ops and bnlab's own kernel on the native fast path (all on by default). */
export interface Fusions {
  /** conv2d + bias as one oneDNN convolution (the models' convs without BN). */
  convBias: boolean;
  /** batchNorm + ReLU as one oneDNN batch normalisation. */
  batchNormRelu: boolean;
  /** conv2d + bias [+ residual] + ReLU as one oneDNN convolution (the models' convs without a norm). */
  convBiasRelu: boolean;
  /**
   * Training-mode BN by bnlab's own kernel, with the ReLU and the shortcut's
   * add fused, instead of TF's (off: FusedBatchNormV3, with batchNormRelu's
   * oneDNN kernel for BN + ReLU, and the add and ReLU as their own ops).
   */
  bnlabBatchNorm: boolean;
}

const fusions: Fusions = { convBias: true, batchNormRelu: true, convBiasRelu: true, bnlabBatchNorm: true };

function bnlabBatchNormFor(x: tf.Tensor, p: BatchNormParams, opts: BatchNormOptions): boolean {
  return fusions.bnlabBatchNorm && opts.training && x.rank >= 2 && fastFor(x, p.gamma, p.beta) && bnlabBatchNormAvailable();
}

/**
 * Turns them on or off, e.g. to time a step with and without them
 * (bench/fusion-ab.ts). Off, a chain runs as its separate fast-path ops,
 * and batch norm as TF's kernels.
 */
export function setFusions(f: Partial<Fusions>): void {
  Object.assign(fusions, f);
}

/** Whether the ops currently take the native fast paths. */
export function fastOpsActive(): boolean {
  return fastOpsEnabled && isNativeBackend();
}

function fastFor(...ts: tf.Tensor[]): boolean {
  return fastOpsActive() && ts.every((t) => t.dtype === 'float32');
}

/** Batch normalisation over all axes but the last (channels-last). */
export function batchNorm(x: tf.Tensor, p: BatchNormParams, opts: BatchNormOptions): tf.Tensor {
  // Inference uses tf.batchNorm on every backend: on tfjs-node its forward is
  // already FusedBatchNorm (is_training=false), one native call.
  if (bnlabBatchNormFor(x, p, opts)) return bnlabBatchNormTrain(x, nativeArgs(p, opts), false, null);
  if (opts.training && x.rank >= 2 && fastFor(x, p.gamma, p.beta)) {
    return fusedBatchNormTrain(x, nativeArgs(p, opts));
  }
  return plainBatchNorm(x, p, opts);
}

function nativeArgs(p: BatchNormParams, opts: BatchNormOptions): NativeBatchNormArgs {
  return {
    gamma: p.gamma,
    beta: p.beta,
    movingMean: p.movingMean,
    movingVariance: p.movingVariance,
    epsilon: opts.epsilon ?? 1e-5,
    momentum: opts.momentum ?? 0.1,
    updateMovingStats: opts.updateMovingStats ?? true,
  };
}

/**
 * relu(batchNorm(x)). On the native backend in training mode this is one
 * kernel with the ReLU fused (bnlab's, else oneDNN's); elsewhere the two
 * ops in turn.
 */
export function batchNormRelu(x: tf.Tensor, p: BatchNormParams, opts: BatchNormOptions): tf.Tensor {
  if (bnlabBatchNormFor(x, p, opts)) return bnlabBatchNormTrain(x, nativeArgs(p, opts), true, null);
  if (fusions.batchNormRelu && opts.training && x.rank === 4 && fastFor(x, p.gamma, p.beta) && batchNormReluAvailable()) {
    return fusedBatchNormReluTrain(x as tf.Tensor4D, nativeArgs(p, opts));
  }
  return tf.tidy(() => relu(batchNorm(x, p, opts)));
}

/**
 * relu(batchNorm(x) + residual), a residual block's ending. On the native
 * backend in training mode this is one kernel (bnlab's); elsewhere the ops
 * in turn.
 */
export function batchNormAddRelu(x: tf.Tensor, residual: tf.Tensor, p: BatchNormParams, opts: BatchNormOptions): tf.Tensor {
  if (bnlabBatchNormFor(x, p, opts) && fastFor(residual) && tf.util.arraysEqual(x.shape, residual.shape))
    return bnlabBatchNormTrain(x, nativeArgs(p, opts), true, residual);
  return tf.tidy(() => relu(tf.add(batchNorm(x, p, opts), residual)));
}

/** The plain-tfjs batchNorm, on any backend (the reference for the fast path). */
export function plainBatchNorm(x: tf.Tensor, p: BatchNormParams, opts: BatchNormOptions): tf.Tensor {
  const eps = opts.epsilon ?? 1e-5;
  if (!opts.training) {
    return tf.tidy(() => tf.batchNorm(x, p.movingMean, p.movingVariance, p.beta, p.gamma, eps));
  }
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  if (opts.updateMovingStats ?? true) updateMovingStats(p, mean, variance, x.size / x.shape[x.rank - 1], opts.momentum ?? 0.1);
  const y = tf.batchNorm(x, mean, variance, p.beta, p.gamma, eps);
  mean.dispose();
  variance.dispose();
  return y;
}

/** moving ← (1 − m)·moving + m·batch, with the variance Bessel-corrected. */
export function updateMovingStats(p: BatchNormParams, mean: tf.Tensor, variance: tf.Tensor, count: number, momentum: number): void {
  tf.tidy(() => {
    const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance;
    p.movingMean.assign(tf.add(tf.mul(p.movingMean, 1 - momentum), tf.mul(mean, momentum)));
    p.movingVariance.assign(tf.add(tf.mul(p.movingVariance, 1 - momentum), tf.mul(unbiased, momentum)));
  });
}

/**
 * Group norm (layer norm with one group), channels-last: the closed-form
 * gradient on the native fast path, the plain formula elsewhere.
 */
export function groupNorm(x: tf.Tensor, p: GroupNormParams, opts: GroupNormOptions): tf.Tensor {
  return closedFormGroupNormEnabled && fastFor(x, p.gamma, p.beta) ? closedFormGroupNorm(x, p, opts) : plainGroupNorm(x, p, opts);
}

let closedFormGroupNormEnabled = true;

/** Allow (default) or forbid group norm's closed-form gradient, to time it against the plain formula (bench --plain-group-norm). */
export function setClosedFormGroupNorm(enabled: boolean): void {
  closedFormGroupNormEnabled = enabled;
}

export function relu(x: tf.Tensor): tf.Tensor {
  return fastFor(x) ? nativeRelu(x) : plainRelu(x);
}

export function plainRelu(x: tf.Tensor): tf.Tensor {
  return tf.relu(x);
}

/** x + b, with b broadcast over the last axis. */
export function biasAdd(x: tf.Tensor, b: tf.Tensor): tf.Tensor {
  // TF's BiasAdd wants x of rank ≥ 2 and b of exactly [C].
  if (x.rank >= 2 && b.rank === 1 && b.shape[0] === x.shape[x.rank - 1] && fastFor(x, b)) return nativeBiasAdd(x, b);
  return plainBiasAdd(x, b);
}

export function plainBiasAdd(x: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.add(x, b);
}

/** Mean over height and width: [N, H, W, C] → [N, C]. */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return x.rank === 4 && fastFor(x) ? nativeGlobalAvgPool(x) : plainGlobalAvgPool(x);
}

export function plainGlobalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]);
}

/** A 3×3 (or k×k) convolution with 'same' padding and an optional bias, channels-last. */
export function conv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D | null, stride: number): tf.Tensor4D {
  if (!fastFor(x, kernel)) return plainConv2d(x, kernel, bias, stride);
  if (bias && fusions.convBias && fastFor(bias) && conv2dBiasAvailable()) return nativeConv2d(x, kernel, bias, stride);
  const y = nativeConv2d(x, kernel, null, stride);
  return bias ? (biasAdd(y, bias) as tf.Tensor4D) : y;
}

/**
 * relu(conv2d(x, kernel) + bias [+ residual]): on the native backend one
 * oneDNN convolution with the rest fused; elsewhere the ops in turn.
 */
export function conv2dRelu(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  bias: tf.Tensor1D,
  stride: number,
  residual: tf.Tensor4D | null = null,
): tf.Tensor4D {
  const all = residual ? [x, kernel, bias, residual] : [x, kernel, bias];
  if (fusions.convBiasRelu && fastFor(...all) && conv2dReluAvailable()) return nativeConv2dRelu(x, kernel, bias, stride, residual);
  return tf.tidy(() => {
    const y = conv2d(x, kernel, bias, stride);
    return relu(residual ? tf.add(y, residual) : y) as tf.Tensor4D;
  });
}

export function plainConv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D | null, stride: number): tf.Tensor4D {
  const y = tf.conv2d(x, kernel, stride, 'same');
  return bias ? (biasAdd(y, bias) as tf.Tensor4D) : y;
}
