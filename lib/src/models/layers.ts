/**
 * The building blocks every model family shares: a named parameter store
 * with the initialisation schemes the paper compares, and layer factories
 * that register their parameters under a path-like name ("stage2/block0/conv1")
 * and return a function of (x, ctx).
 *
 * Instrumentation never reaches into a model: a model calls `tap(ctx, name, x)`
 * at every named point, and an instrument passed in ctx.tap may record the
 * tensor (a forward hook) or return a replacement (for example x + 0·probe, to
 * read ∂L/∂x as a backward hook would).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as ops from '../ops';
import { Rng } from '../util/rng';
import { InnerNorm, normGroups } from './norm';

export type InitScheme = 'he' | 'xavier' | 'fixup';
export interface InitOptions {
  /**
   * He (Kaiming): variance 2/fan_in. Xavier (Glorot): variance 2/(fan_in + fan_out).
   * Fixup (Zhang et al., 2019; resnet with norm 'none' only): He, the first
   * conv of each residual branch scaled by L^(−1/2) for L branches, the last
   * conv of each branch and the classifier zero, with scalar biases and a
   * scalar multiplier per branch (see resnet.ts).
   */
  scheme: InitScheme;
  /** Default 'uniform' (Keras's and the paper's Glorot uniform). */
  distribution?: 'normal' | 'uniform';
  /** Multiplies the standard deviation, to study too-small or too-large inits. */
  scale?: number;
}
export const DEFAULT_INIT: InitOptions = { scheme: 'xavier', distribution: 'uniform', scale: 1 };

/** A tap sees the tensor at a named point of the forward pass; it may return a replacement. */
export type Tap = (name: string, x: tf.Tensor) => tf.Tensor | void;

export interface ForwardContext {
  /** BN normalises with batch statistics (true) or the moving ones (false). */
  training: boolean;
  /** Whether BN folds this batch into its moving statistics. */
  updateMovingStats: boolean;
  tap?: Tap;
}

export function tap(ctx: ForwardContext, name: string, x: tf.Tensor): tf.Tensor {
  if (!ctx.tap) return x;
  return ctx.tap(name, x) ?? x;
}

/** The kind of a named point in the forward pass, for choosing what to plot. */
export type PointKind = 'conv' | 'bn' | 'relu' | 'block' | 'pool' | 'dense' | 'logits';
export interface PointInfo {
  name: string;
  kind: PointKind;
  /** Index among the weight layers before this point (1 = after the first conv). */
  depth: number;
}

export function initStd(opts: InitOptions, fanIn: number, fanOut: number): number {
  const scale = opts.scale ?? 1;
  if (!(scale > 0)) throw new Error(`init.scale must be positive, got ${opts.scale}`);
  switch (opts.scheme) {
    case 'he':
    case 'fixup': // Fixup's "standard" init is He's; the branch scaling is the builder's
      return scale * Math.sqrt(2 / fanIn);
    case 'xavier':
      return scale * Math.sqrt(2 / (fanIn + fanOut));
    default:
      throw new Error(`init.scheme must be 'he', 'xavier' or 'fixup', got ${(opts as InitOptions).scheme}`);
  }
}

/** Named variables: trainable parameters and non-trainable state (BN moving stats). */
export class ParameterStore {
  readonly trainable = new Map<string, tf.Variable>();
  readonly state = new Map<string, tf.Variable>();
  readonly points: PointInfo[] = [];
  private weightLayers = 0;

  constructor(
    private readonly rng: Rng,
    private readonly init: InitOptions,
  ) {}

  private add(name: string, values: tf.Tensor, trainable: boolean): tf.Variable {
    const map = trainable ? this.trainable : this.state;
    if (this.trainable.has(name) || this.state.has(name)) throw new Error(`duplicate parameter name ${name}`);
    const v = tf.variable(values, trainable, name + '_' + Math.random().toString(36).slice(2, 8));
    values.dispose();
    map.set(name, v);
    return v;
  }

  /** A weight initialised by the store's scheme, with the given fans, its standard deviation times `gain` (0: all zero, as Fixup's). */
  weight(name: string, shape: number[], fanIn: number, fanOut: number, gain = 1): tf.Variable {
    if (gain === 0) return this.add(name, tf.zeros(shape), true);
    const std = gain * initStd(this.init, fanIn, fanOut);
    const n = shape.reduce((a, b) => a * b, 1);
    // Uniform on (−√3σ, √3σ) has standard deviation σ.
    const values =
      (this.init.distribution ?? 'uniform') === 'uniform' ? this.rng.uniformArray(n, Math.sqrt(3) * std) : this.rng.normalArray(n, std);
    return this.add(name, tf.tensor(values, shape), true);
  }

  constant(name: string, shape: number[], value: number, trainable: boolean): tf.Variable {
    return this.add(name, tf.fill(shape, value), trainable);
  }

  point(name: string, kind: PointKind): void {
    if (kind === 'conv' || kind === 'dense') this.weightLayers += 1;
    this.points.push({ name, kind, depth: this.weightLayers });
  }

  dispose(): void {
    for (const v of this.trainable.values()) v.dispose();
    for (const v of this.state.values()) v.dispose();
    this.trainable.clear();
    this.state.clear();
  }
}

export type Layer = (x: tf.Tensor, ctx: ForwardContext) => tf.Tensor;

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  bias: boolean;
  gain?: number;
}

/** A conv layer's parameters and its point. */
function convParams(store: ParameterStore, name: string, o: Conv2dOptions) {
  const k = o.kernel;
  const kernel = store.weight(
    `${name}/kernel`,
    [k, k, o.inChannels, o.outChannels],
    k * k * o.inChannels,
    k * k * o.outChannels,
    o.gain,
  ) as tf.Tensor4D;
  const bias = o.bias ? (store.constant(`${name}/bias`, [o.outChannels], 0, true) as tf.Tensor1D) : null;
  store.point(name, 'conv');
  return { kernel, bias, stride: o.stride ?? 1 };
}

export function conv2d(store: ParameterStore, name: string, o: Conv2dOptions): Layer {
  const { kernel, bias, stride } = convParams(store, name, o);
  return (x, ctx) => tap(ctx, name, ops.conv2d(x as tf.Tensor4D, kernel, bias, stride));
}

/**
 * A conv with a bias, then ReLU, with both named points. With no tap
 * listening the two run as one fused op (ops.conv2dRelu); a tap needs the
 * conv's output, so with one they run in turn. The numbers are the same
 * either way.
 */
export function conv2dRelu(store: ParameterStore, names: { conv: string; relu: string }, o: Omit<Conv2dOptions, 'bias'>): Layer {
  const { kernel, bias, stride } = convParams(store, names.conv, { ...o, bias: true });
  store.point(names.relu, 'relu');
  return (x, ctx) => {
    if (!ctx.tap) return ops.conv2dRelu(x as tf.Tensor4D, kernel, bias!, stride);
    const y = tap(ctx, names.conv, ops.conv2d(x as tf.Tensor4D, kernel, bias, stride));
    return tap(ctx, names.relu, ops.relu(y));
  };
}

/**
 * The last conv of a residual branch without a norm, with a bias, and the
 * block's ending: relu(conv(x) + shortcut). The conv's point is `name`; the
 * block's point and tap are the caller's. With no tap listening it is one
 * fused op (ops.conv2dRelu with the shortcut as residual); with one, the
 * conv's output is tapped and the add and ReLU follow. The numbers are the
 * same either way.
 */
export function residualConv2dRelu(
  store: ParameterStore,
  name: string,
  o: Omit<Conv2dOptions, 'bias'>,
): (x: tf.Tensor, shortcut: tf.Tensor, ctx: ForwardContext) => tf.Tensor {
  const { kernel, bias, stride } = convParams(store, name, { ...o, bias: true });
  return (x, shortcut, ctx) => {
    if (!ctx.tap) return ops.conv2dRelu(x as tf.Tensor4D, kernel, bias!, stride, shortcut as tf.Tensor4D);
    const y = tap(ctx, name, ops.conv2d(x as tf.Tensor4D, kernel, bias, stride));
    return ops.relu(tf.add(y, shortcut));
  };
}

interface BatchNormLayerOptions {
  momentum: number;
  epsilon: number;
}

function batchNormParams(store: ParameterStore, name: string, channels: number): ops.BatchNormParams {
  return {
    gamma: store.constant(`${name}/gamma`, [channels], 1, true),
    beta: store.constant(`${name}/beta`, [channels], 0, true),
    movingMean: store.constant(`${name}/moving_mean`, [channels], 0, false),
    movingVariance: store.constant(`${name}/moving_variance`, [channels], 1, false),
  };
}

function batchNormOptions(ctx: ForwardContext, o: BatchNormLayerOptions): ops.BatchNormOptions {
  return { training: ctx.training, updateMovingStats: ctx.updateMovingStats, momentum: o.momentum, epsilon: o.epsilon };
}

export function batchNorm(store: ParameterStore, name: string, channels: number, o: BatchNormLayerOptions): Layer {
  const p = batchNormParams(store, name, channels);
  store.point(name, 'bn');
  return (x, ctx) => tap(ctx, name, ops.batchNorm(x, p, batchNormOptions(ctx, o)));
}

export function relu(store: ParameterStore, name: string): Layer {
  store.point(name, 'relu');
  return (x, ctx) => tap(ctx, name, ops.relu(x));
}

/**
 * BN then ReLU, with both named points. With no tap listening the two run
 * as one fused op (ops.batchNormRelu); a tap needs BN's output, so with one
 * they run in turn. The numbers are the same either way.
 */
export function batchNormRelu(
  store: ParameterStore,
  names: { bn: string; relu: string },
  channels: number,
  o: BatchNormLayerOptions,
): Layer {
  const p = batchNormParams(store, names.bn, channels);
  store.point(names.bn, 'bn');
  store.point(names.relu, 'relu');
  return (x, ctx) => {
    if (!ctx.tap) return ops.batchNormRelu(x, p, batchNormOptions(ctx, o));
    const y = tap(ctx, names.bn, ops.batchNorm(x, p, batchNormOptions(ctx, o)));
    return tap(ctx, names.relu, ops.relu(y));
  };
}

/**
 * The BN ending a residual branch, and the block's ending: relu(BN(x) +
 * shortcut). BN's point is `name`; the block's point and tap are the
 * caller's. With no tap listening it is one fused op (ops.batchNormAddRelu);
 * with one, BN's output is tapped and the add and ReLU follow. The numbers
 * are the same either way.
 */
export function residualBatchNormRelu(
  store: ParameterStore,
  name: string,
  channels: number,
  o: BatchNormLayerOptions,
): (x: tf.Tensor, shortcut: tf.Tensor, ctx: ForwardContext) => tf.Tensor {
  const p = batchNormParams(store, name, channels);
  store.point(name, 'bn');
  return (x, shortcut, ctx) => {
    if (!ctx.tap) return ops.batchNormAddRelu(x, shortcut, p, batchNormOptions(ctx, o));
    const y = tap(ctx, name, ops.batchNorm(x, p, batchNormOptions(ctx, o)));
    return ops.relu(tf.add(y, shortcut));
  };
}

/**
 * Group norm over `channels` (layer norm: groups 1), with γ and β per
 * channel. Its point has kind 'bn', as every normalisation's has, so the
 * instruments that read "after the norm" read it too.
 */
export function groupNorm(store: ParameterStore, name: string, channels: number, o: { groups: number; epsilon: number }): Layer {
  const p = { gamma: store.constant(`${name}/gamma`, [channels], 1, true), beta: store.constant(`${name}/beta`, [channels], 0, true) };
  store.point(name, 'bn');
  return (x, ctx) => tap(ctx, name, ops.groupNorm(x, p as ops.GroupNormParams, o));
}

/**
 * The norm a family puts after a conv or dense layer, named `names.norm`,
 * then a ReLU named `names.relu` if given: BN (with BN + ReLU fused), layer
 * norm or group norm. One place, so every family gets every norm.
 */
export function normLayer(
  store: ParameterStore,
  norm: InnerNorm,
  names: { norm: string; relu?: string },
  channels: number,
  o: BatchNormLayerOptions & { groups?: number },
): Layer {
  if (norm === 'batch') {
    return names.relu ? batchNormRelu(store, { bn: names.norm, relu: names.relu }, channels, o) : batchNorm(store, names.norm, channels, o);
  }
  const gn = groupNorm(store, names.norm, channels, { groups: normGroups(norm, channels, o.groups), epsilon: o.epsilon });
  return names.relu ? sequence(gn, relu(store, names.relu)) : gn;
}

/** x + b for a trainable scalar b, initially 0 (Fixup's biases). No point of its own. */
export function scalarBias(store: ParameterStore, name: string): Layer {
  const b = store.constant(name, [], 0, true);
  return (x) => tf.add(x, b);
}

/** x · m for a trainable scalar m, initially 1 (Fixup's branch multiplier). No point of its own. */
export function scalarScale(store: ParameterStore, name: string): Layer {
  const m = store.constant(name, [], 1, true);
  return (x) => tf.mul(x, m);
}

export function dense(
  store: ParameterStore,
  name: string,
  o: { inFeatures: number; outFeatures: number; kind?: 'dense' | 'logits'; gain?: number },
): Layer {
  const kernel = store.weight(`${name}/kernel`, [o.inFeatures, o.outFeatures], o.inFeatures, o.outFeatures, o.gain);
  const bias = store.constant(`${name}/bias`, [o.outFeatures], 0, true);
  store.point(name, 'dense');
  return (x, ctx) => tap(ctx, name, ops.biasAdd(tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D), bias));
}

export function globalAvgPool(store: ParameterStore, name: string): Layer {
  store.point(name, 'pool');
  return (x, ctx) => tap(ctx, name, ops.globalAvgPool(x as tf.Tensor4D));
}

/** Applies layers in order. */
export function sequence(...layers: Layer[]): Layer {
  return (x, ctx) => {
    let y = x;
    for (const layer of layers) y = layer(y, ctx);
    return y;
  };
}
