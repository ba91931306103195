/**
 * The loss landscape along the gradient, as Santurkar et al. (2018, "How
 * does batch normalization help optimization?", Fig. 4) measure it: at the
 * weights θ with mini-batch gradient g, for each step size α of a range,
 *
 *  - the loss L(θ − α·g) on the same batch: its spread over the range is the
 *    *loss variation* (a smooth landscape changes little along the step);
 *  - the gradient there, and its ℓ2 distance from g, ‖∇L(θ − α·g) − g‖: the
 *    *gradient predictiveness* (small: the gradient at θ still describes
 *    the landscape where the step lands);
 *  - that distance over the distance moved, ‖∇L(θ − α·g) − g‖ / (α·‖g‖):
 *    its maximum over the range is the *effective β-smoothness*.
 *
 * As the Fig. 3 probe (./step), with BN in training mode on the batch, no
 * momentum or weight decay, BN's moving statistics untouched, and θ put
 * back bit for bit afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Model } from '../models';
import { crossEntropy } from '../models/loss';
import { atStep, disposeDirection, gradientDirection } from './step';

export interface LandscapeRow {
  stepSize: number;
  /** L(θ − α·g); Infinity when not finite. */
  loss: number;
  /** ‖∇L(θ − α·g) − ∇L(θ)‖ over all trainable parameters; Infinity when not finite. */
  gradientChange: number;
  /** gradientChange / (α·‖∇L(θ)‖). */
  betaSmoothness: number;
}

export interface Landscape {
  lossBefore: number;
  gradientNorm: number;
  rows: LandscapeRow[];
}

const finite = (v: number) => (Number.isFinite(v) ? v : Infinity);

/** The loss and the gradient's change at θ − α·g for each α > 0 (Santurkar et al., Fig. 4). */
export function landscapeAlongGradient(model: Model, x: tf.Tensor, y: tf.Tensor2D, opts: { stepSizes: readonly number[] }): Landscape {
  for (const a of opts.stepSizes)
    if (!(a > 0) || !Number.isFinite(a)) throw new Error(`landscapeAlongGradient: step sizes must be finite and > 0, got ${a}`);
  const d = gradientDirection(model, x, y);
  try {
    const gradientNorm = tf.tidy(() => Math.sqrt(tf.addN(d.grads.map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
    const rows = opts.stepSizes.map((stepSize) =>
      atStep(d, stepSize, () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(
            () => crossEntropy(y, model.apply(x, { training: true, updateMovingStats: false })),
            d.vars,
          );
          const change = Math.sqrt(tf.addN(d.vars.map((v, i) => tf.sum(tf.square(tf.sub(grads[v.name], d.grads[i]))))).dataSync()[0]);
          const gradientChange = finite(change);
          return {
            stepSize,
            loss: finite(value.dataSync()[0]),
            gradientChange,
            betaSmoothness: finite(gradientChange / (stepSize * gradientNorm)),
          };
        }),
      ),
    );
    return { lossBefore: d.loss, gradientNorm, rows };
  } finally {
    disposeDirection(d);
  }
}

export interface LandscapeSummary {
  /** max − min of the loss over the range, θ itself included. */
  lossVariation: number;
  /** The largest gradient change over the range. */
  gradientChange: number;
  /** The largest β-smoothness over the range: the effective β-smoothness. */
  betaSmoothness: number;
}

/** Santurkar et al.'s three numbers from one landscape. */
export function summarizeLandscape(l: Landscape): LandscapeSummary {
  const losses = [l.lossBefore, ...l.rows.map((r) => r.loss)];
  const max = (vs: number[]) => vs.reduce((a, b) => (Number.isNaN(b) ? Infinity : Math.max(a, b)), -Infinity);
  return {
    lossVariation: max(losses) - Math.min(...losses),
    gradientChange: max(l.rows.map((r) => r.gradientChange)),
    betaSmoothness: max(l.rows.map((r) => r.betaSmoothness)),
  };
}
