/**
 * Per-channel activation statistics at named points (the paper's Fig. 5:
 * channel means and standard deviations against depth at initialisation).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Model, PointInfo, Tap } from '../models';
import { choosePoints, defaultActivationPoints } from './hooks';

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
export function channelMomentTensors(model: Model, x: tf.Tensor, points: readonly PointInfo[], training: boolean): Map<string, { mean: tf.Tensor1D; variance: tf.Tensor1D }> {
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
      for (let c = 0; c < mean.length; c++) rows.push({ point: p.name, depth: p.depth, channel: c, mean: mean[c], std: Math.sqrt(variance[c]) });
    }
  } finally {
    for (const m of tensors.values()) tf.dispose([m.mean, m.variance]);
  }
  return rows;
}

export interface MomentSummaryRow {
  point: string;
  depth: number;
  channels: number;
  /** Mean over channels of |channel mean|: the "mean" curve of Fig. 5. */
  meanAbsMean: number;
  /** Mean over channels of the channel std: the "std" curve of Fig. 5. */
  meanStd: number;
  maxAbsMean: number;
  maxStd: number;
}

/** One row per point (in the rows' order): the magnitudes Fig. 5 plots against depth. */
export function summarizeMoments(rows: readonly ChannelMomentRow[]): MomentSummaryRow[] {
  const byPoint = new Map<string, MomentSummaryRow>();
  for (const r of rows) {
    let s = byPoint.get(r.point);
    if (!s) {
      s = { point: r.point, depth: r.depth, channels: 0, meanAbsMean: 0, meanStd: 0, maxAbsMean: 0, maxStd: 0 };
      byPoint.set(r.point, s);
    }
    s.channels += 1;
    s.meanAbsMean += Math.abs(r.mean);
    s.meanStd += r.std;
    s.maxAbsMean = Math.max(s.maxAbsMean, Math.abs(r.mean));
    s.maxStd = Math.max(s.maxStd, r.std);
  }
  return [...byPoint.values()].map((s) => ({ ...s, meanAbsMean: s.meanAbsMean / s.channels, meanStd: s.meanStd / s.channels }));
}
