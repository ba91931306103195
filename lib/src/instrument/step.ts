/**
 * What one plain gradient step does to a network (Fig. 3 and 4): the loss on
 * the same batch after θ ← θ − α·g for a range of step sizes α, and the
 * channel statistics along the segment from θ to θ − α·g.
 *
 * g is ∇L(θ) on the batch with BN in training mode: no momentum, no weight
 * decay, and BN's moving statistics are never updated. The parameters are
 * assigned for each probe and put back afterwards as the very tensors saved
 * before (bit-identical), also when a probe throws.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Model } from '../models';
import { crossEntropy } from '../models/loss';
import { choosePoints, defaultActivationPoints } from './hooks';
import { channelMomentTensors } from './moments';

/** n values from 10^lo to 10^hi, evenly spaced in log. */
export function logSpace(lo: number, hi: number, n: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`logSpace: n must be a positive integer, got ${n}`);
  if (n === 1) return [10 ** lo];
  return Array.from({ length: n }, (_, i) => 10 ** (lo + ((hi - lo) * i) / (n - 1)));
}

/** 1e-5 … 1, four per decade: the range of Fig. 3 and a decade more. */
export const DEFAULT_STEP_SIZES: readonly number[] = logSpace(-5, 0, 21);

/** A gradient direction at θ, with θ saved (shared with ./landscape). */
export interface Direction {
  names: string[];
  vars: tf.Variable[];
  grads: tf.Tensor[];
  saved: tf.Tensor[];
  loss: number;
}

export function lossOn(model: Model, x: tf.Tensor, y: tf.Tensor2D): number {
  return tf.tidy(() => crossEntropy(y, model.apply(x, { training: true, updateMovingStats: false })).dataSync()[0]);
}

/** ∇L at θ over every trainable parameter, and θ itself, saved. */
export function gradientDirection(model: Model, x: tf.Tensor, y: tf.Tensor2D): Direction {
  const names = [...model.trainable.keys()];
  const vars = names.map((n) => model.trainable.get(n)!);
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => crossEntropy(y, model.apply(x, { training: true, updateMovingStats: false })), vars);
    return {
      names,
      vars,
      grads: vars.map((v) => tf.keep(grads[v.name])),
      // clone shares the data; the later assigns give each variable new data,
      // so these keep θ exactly as it was.
      saved: vars.map((v) => tf.keep(tf.clone(v))),
      loss: value.dataSync()[0],
    };
  });
}

/** Sets θ − scale·g, runs `fn`, and always puts θ back. */
export function atStep<T>(d: Direction, scale: number, fn: () => T): T {
  try {
    tf.tidy(() => d.vars.forEach((v, i) => v.assign(scale === 0 ? d.saved[i] : tf.sub(d.saved[i], tf.mul(d.grads[i], scale)))));
    return fn();
  } finally {
    d.vars.forEach((v, i) => v.assign(d.saved[i]));
  }
}

export function disposeDirection(d: Direction): void {
  tf.dispose([...d.grads, ...d.saved]);
}

export interface RelativeLossRow {
  stepSize: number;
  /** loss(θ − α·g) / loss(θ); Infinity when the loss after the step is not finite. */
  relativeLoss: number;
  /** loss(θ − α·g); Infinity when not finite (overflow or NaN). */
  loss: number;
}

/** The loss after one gradient step of each size, relative to the loss before (Fig. 3). */
export function relativeLossAfterStep(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor2D,
  opts: { stepSizes?: readonly number[] } = {},
): RelativeLossRow[] {
  const stepSizes = opts.stepSizes ?? DEFAULT_STEP_SIZES;
  for (const a of stepSizes)
    if (!(a >= 0) || !Number.isFinite(a)) throw new Error(`relativeLossAfterStep: step sizes must be finite and ≥ 0, got ${a}`);
  const d = gradientDirection(model, x, y);
  try {
    return stepSizes.map((stepSize) => {
      const raw = stepSize === 0 ? d.loss : atStep(d, stepSize, () => lossOn(model, x, y));
      const loss = Number.isFinite(raw) ? raw : Infinity;
      const relativeLoss = loss / d.loss;
      return { stepSize, loss, relativeLoss: Number.isFinite(relativeLoss) ? relativeLoss : Infinity };
    });
  } finally {
    disposeDirection(d);
  }
}

export interface StepAnatomyRow {
  /** Fraction of the step applied: parameters θ − t·α·g. */
  t: number;
  point: string;
  depth: number;
  channel: number;
  mean: number;
  /** Population variance over batch and space; may be Infinity or NaN once the step has blown the activations up. */
  variance: number;
}

export interface StepAnatomyOptions {
  stepSize: number;
  /** Fractions t ∈ [0, 1] of the step. Default 0, 0.1, …, 1. */
  fractions?: readonly number[];
  /** Point names; default the block outputs (ResNet) or ReLU outputs. */
  points?: readonly string[];
}

/** Channel means and variances at the chosen points along the step θ → θ − α·g (Fig. 4). */
export function stepAnatomy(model: Model, x: tf.Tensor, y: tf.Tensor2D, opts: StepAnatomyOptions): StepAnatomyRow[] {
  if (!(opts.stepSize >= 0) || !Number.isFinite(opts.stepSize))
    throw new Error(`stepAnatomy: stepSize must be finite and ≥ 0, got ${opts.stepSize}`);
  const fractions = opts.fractions ?? Array.from({ length: 11 }, (_, i) => i / 10);
  for (const t of fractions) if (!(t >= 0 && t <= 1)) throw new Error(`stepAnatomy: fractions must lie in [0, 1], got ${t}`);
  const points = choosePoints(model, opts.points, () => defaultActivationPoints(model));
  const d = gradientDirection(model, x, y);
  const rows: StepAnatomyRow[] = [];
  try {
    for (const t of fractions) {
      const stats = atStep(d, t * opts.stepSize, () => channelMomentTensors(model, x, points, true));
      try {
        for (const p of points) {
          const m = stats.get(p.name)!;
          const mean = m.mean.dataSync();
          const variance = m.variance.dataSync();
          for (let c = 0; c < mean.length; c++)
            rows.push({ t, point: p.name, depth: p.depth, channel: c, mean: mean[c], variance: variance[c] });
        }
      } finally {
        for (const m of stats.values()) tf.dispose([m.mean, m.variance]);
      }
    }
  } finally {
    disposeDirection(d);
  }
  return rows;
}
