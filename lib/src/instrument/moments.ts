/**
 * Per-channel activation statistics at named points (the paper's Fig. 5:
 * channel means and standard deviations against depth at initialisation).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Model, PointInfo, Tap } from '../models';
import { choosePoints, defaultActivationPoints } from './hooks';
import { quantile } from './stats';

export interface ChannelMomentRow {
  point: string;
  depth: number;
  channel: number;
  /** Mean over batch and space (all axes but the last). */
  mean: number;
  /** Population standard deviation over the same axes. */
  std: number;
}

export interface ChannelMomentOptions {
  /** Point names; default the block outputs (ResNet) or ReLU outputs (other families). */
  points?: readonly string[];
  /** BN with batch statistics (default true; never updates the moving ones). */
  training?: boolean;
}

/**
 * Runs one forward pass with a tap computing, at each chosen point, the
 * per-channel mean and variance over all axes but the last. Returns them as
 * tensors [C] per point; the caller disposes them.
 */
export function channelMomentTensors(
  model: Model,
  x: tf.Tensor,
  points: readonly PointInfo[],
  training: boolean,
): Map<string, { mean: tf.Tensor1D; variance: tf.Tensor1D }> {
  const wanted = new Set(points.map((p) => p.name));
  const out = new Map<string, { mean: tf.Tensor1D; variance: tf.Tensor1D }>();
  const tap: Tap = (name, t) => {
    if (!wanted.has(name)) return;
    const axes = t.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(t, axes);
    out.set(name, { mean: tf.keep(mean) as tf.Tensor1D, variance: tf.keep(variance) as tf.Tensor1D });
  };
  try {
    tf.tidy(() => void model.apply(x, { training, updateMovingStats: false, tap }));
  } catch (err) {
    for (const m of out.values()) tf.dispose([m.mean, m.variance]);
    throw err;
  }
  return out;
}

/** Channel mean and std at every chosen point: one row per (point, channel). */
export function channelMoments(model: Model, x: tf.Tensor, opts: ChannelMomentOptions = {}): ChannelMomentRow[] {
  const points = choosePoints(model, opts.points, () => defaultActivationPoints(model));
  const tensors = channelMomentTensors(model, x, points, opts.training ?? true);
  const rows: ChannelMomentRow[] = [];
  try {
    for (const p of points) {
      const m = tensors.get(p.name);
      if (!m) throw new Error(`channelMoments: the forward pass of ${model.name} never reached point ${p.name}`);
      const mean = m.mean.dataSync();
      const variance = m.variance.dataSync();
      for (let c = 0; c < mean.length; c++)
        rows.push({ point: p.name, depth: p.depth, channel: c, mean: mean[c], std: Math.sqrt(variance[c]) });
    }
  } finally {
    for (const m of tensors.values()) tf.dispose([m.mean, m.variance]);
  }
  return rows;
}

/** Per point: the channel statistics Fig. 5 plots against depth, with their spread over channels. */
export interface MomentProfileRow {
  point: string;
  /** Weight layers before the point (the x axis of Fig. 5). */
  depth: number;
  channels: number;
  /** Mean over channels of the channel std (the "std" curve of Fig. 5), and its 10th and 90th percentiles over channels. */
  meanStd: number;
  stdP10: number;
  stdP90: number;
  /** The same for |channel mean| (the "mean" curve). */
  meanAbsMean: number;
  absMeanP10: number;
  absMeanP90: number;
}

/** One row per point, in first-seen order: mean and 10th/90th percentiles over channels of the channel std and |mean|. */
export function momentProfile(rows: readonly ChannelMomentRow[]): MomentProfileRow[] {
  const byPoint = new Map<string, ChannelMomentRow[]>();
  for (const r of rows) {
    const list = byPoint.get(r.point);
    if (list) list.push(r);
    else byPoint.set(r.point, [r]);
  }
  return [...byPoint.entries()].map(([point, list]) => {
    const stds = list.map((r) => r.std);
    const means = list.map((r) => Math.abs(r.mean));
    const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    return {
      point,
      depth: list[0].depth,
      channels: list.length,
      meanStd: avg(stds),
      stdP10: quantile(stds, 0.1),
      stdP90: quantile(stds, 0.9),
      meanAbsMean: avg(means),
      absMeanP10: quantile(means, 0.1),
      absMeanP90: quantile(means, 0.9),
    };
  });
}
