/**
 * RQ5's analysis: divergence under large steps (the paper's Fig. 3 and 4,
 * and "shallower networks tolerate larger learning rates without BN").
 *
 * Two measurements (they touch tensors; the notebook wraps each in
 * bn.measure) and pure functions from their rows to the numbers the
 * verdicts rest on:
 *
 *   oneStepProbe   loss after one plain gradient step of each size on a few
 *                  mini-batches, relative to the loss before (Fig. 3), at
 *                  initialisation or after a few warm-up steps
 *   anatomyProbe   channel means and variances at chosen depths along the
 *                  segment θ → θ − α·g of one diverging step (Fig. 4)
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dataset, iterateBatches, toTensors } from '../data';
import { DataSpec, loadData } from '../experiments/data';
import type { ModelSpec } from '../experiments/runs';
import { relativeLossAfterStep, stepAnatomy } from '../instrument/step';

/** n step sizes from 10^lo to 10^hi, evenly spaced in log (the instrument's, for a notebook's parameters). */
export { logSpace } from '../instrument/step';
import { buildModel, Model, ModelOptions, PointInfo } from '../models';
import { train } from '../train/loop';
import { Rng } from '../util/rng';

/**
 * Fig. 4's magnitudes without BN (read off the figure; /work/shared/paper-notes.md):
 * at layer 8 everything stays O(1); the largest channel |mean| and variance
 * reached along the diverging step at layers 44 and 80.
 */
export const PAPER_FIG4 = {
  source: 'Fig. 4 (read off the figure)',
  maxAbsMean: { 44: 3e3, 80: 3e8 } as Record<number, number>,
  maxVariance: { 44: 5e6, 80: 5e16 } as Record<number, number>,
  /** The blow-up happens in the last ~10% of the step. */
  blowUpFraction: 0.9,
};

// ---------------------------------------------------------------- measurements

/** A few plain SGD steps before probing ("after a few steps"); none means at initialisation. */
export interface Warmup {
  steps: number;
  learningRate: number;
  /** Default 0.9 and 1e-4, the paper's. */
  momentum?: number;
  weightDecay?: number;
  /** Seeds the warm-up's data order. */
  seed: number;
}

/** The mini-batches a probe uses: the first `count` of a seeded shuffle of the training split. */
export interface ProbeBatches {
  count: number;
  size: number;
  seed: number;
}

export interface ProbeConfig {
  data: DataSpec;
  model: ModelSpec;
  batches: ProbeBatches;
  stepSizes: number[];
  warmup?: Warmup | null;
}

/** Row types are type aliases, not interfaces, so that charts take them as plain rows. */
export type ProbeRow = {
  /** Which mini-batch (0-based). */
  batch: number;
  stepSize: number;
  /** loss(θ − α·g) / loss(θ) on the same batch; Infinity once the loss overflows. */
  relativeLoss: number;
  loss: number;
  lossBefore: number;
};

export interface AnatomyConfig {
  data: DataSpec;
  model: ModelSpec;
  batches: ProbeBatches;
  /** α of the step θ → θ − α·g. */
  stepSize: number;
  /** Fractions t ∈ [0, 1] of the step. */
  fractions: number[];
  /** Target depths (weight layers); the points of `kind` nearest to them are recorded. */
  layers: number[];
  /**
   * 'conv' (default): the conv layers' outputs, signed, before any ReLU; a
   * conv point's depth is its layer number, so layers 8, 44, 80 of ResNet-110
   * are exactly the paper's. 'block': the residual blocks' outputs (after the ReLU, ≥ 0).
   */
  kind?: 'conv' | 'block';
}

export type AnatomyRow = {
  /** The target depth this point stands for, e.g. 44. */
  layer: number;
  point: string;
  /** The point's own depth (weight layers before it). */
  depth: number;
  batch: number;
  t: number;
  channel: number;
  mean: number;
  variance: number;
};

function buildFor(data: { train: Dataset }, spec: ModelSpec): Model {
  return buildModel({ ...spec, inputShape: data.train.shape, numClasses: data.train.numClasses } as ModelOptions);
}

/** Runs `fn` on each probe batch as tensors, disposing them after. */
function forEachBatch(ds: Dataset, b: ProbeBatches, fn: (x: tf.Tensor4D, y: tf.Tensor2D, index: number) => void): void {
  if (!(Number.isInteger(b.count) && b.count >= 1)) throw new Error(`probe batches: count must be a positive integer, got ${b.count}`);
  if (b.count * b.size > ds.count)
    throw new Error(`probe batches: ${b.count} batches of ${b.size} need ${b.count * b.size} examples, the training split has ${ds.count}`);
  let i = 0;
  for (const batch of iterateBatches(ds, { batchSize: b.size, rng: new Rng(b.seed), dropLast: true })) {
    if (i >= b.count) break;
    const { x, y } = toTensors(batch, ds.shape, ds.numClasses);
    try {
      fn(x, y, i);
    } finally {
      tf.dispose([x, y]);
    }
    i++;
  }
}

async function warmUp(model: Model, data: { train: Dataset; test: Dataset }, w: Warmup, batchSize: number): Promise<void> {
  const r = await train(model, data, {
    epochs: 1_000_000,
    maxSteps: w.steps,
    batchSize,
    learningRate: w.learningRate,
    momentum: w.momentum ?? 0.9,
    weightDecay: w.weightDecay ?? 1e-4,
    seed: w.seed,
  });
  if (r.status !== 'completed')
    throw new Error(`warm-up diverged at step ${r.divergence?.step} (${r.divergence?.reason}); use a smaller warm-up learning rate`);
}

/** The one-step relative loss (Fig. 3) of a freshly built model, optionally after a warm-up, on each probe batch. */
export async function oneStepProbe(cfg: ProbeConfig): Promise<ProbeRow[]> {
  const data = loadData(cfg.data);
  const model = buildFor(data, cfg.model);
  try {
    if (cfg.warmup) await warmUp(model, data, cfg.warmup, cfg.batches.size);
    const rows: ProbeRow[] = [];
    forEachBatch(data.train, cfg.batches, (x, y, batch) => {
      const probe = relativeLossAfterStep(model, x, y, { stepSizes: cfg.stepSizes });
      const lossBefore = probe[0].loss / probe[0].relativeLoss;
      for (const r of probe)
        rows.push({
          batch,
          stepSize: r.stepSize,
          relativeLoss: r.relativeLoss,
          loss: r.loss,
          lossBefore: Number.isFinite(lossBefore) ? lossBefore : NaN,
        });
    });
    return rows;
  } finally {
    model.dispose();
  }
}

/** Channel means and variances along one step (Fig. 4), at the conv (or block) outputs nearest the target layers. */
export async function anatomyProbe(cfg: AnatomyConfig): Promise<AnatomyRow[]> {
  const data = loadData(cfg.data);
  const model = buildFor(data, cfg.model);
  try {
    const kind = cfg.kind ?? 'conv';
    const chosen = nearestPoints(
      model.points.filter((p) => p.kind === kind),
      cfg.layers,
    );
    const layerOf = new Map(chosen.map((c) => [c.point.name, c.target]));
    const rows: AnatomyRow[] = [];
    forEachBatch(data.train, cfg.batches, (x, y, batch) => {
      for (const r of stepAnatomy(model, x, y, {
        stepSize: cfg.stepSize,
        fractions: cfg.fractions,
        points: chosen.map((c) => c.point.name),
      })) {
        rows.push({
          layer: layerOf.get(r.point)!,
          point: r.point,
          depth: r.depth,
          batch,
          t: r.t,
          channel: r.channel,
          mean: r.mean,
          variance: r.variance,
        });
      }
    });
    return rows;
  } finally {
    model.dispose();
  }
}

// ---------------------------------------------------------------- pure analysis

/**
 * The paper's layers (8, 44, 80 of ResNet-110) at the same relative depth
 * of a network `depth` layers deep, rounded; distinct and ≥ 1.
 */
export function scaledLayers(paperLayers: readonly number[], depth: number, paperDepth = 110): number[] {
  if (!(depth >= 1)) throw new Error(`scaledLayers: depth must be ≥ 1, got ${depth}`);
  const out: number[] = [];
  for (const l of paperLayers) {
    const v = Math.max(1, Math.round((l * depth) / paperDepth));
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/**
 * For each target depth, the point nearest to it (ties go to the shallower
 * point); each point is used once, so close targets in a shallow network
 * still get distinct points where there are enough.
 */
export function nearestPoints(points: readonly PointInfo[], targets: readonly number[]): { target: number; point: PointInfo }[] {
  if (points.length === 0) throw new Error('nearestPoints: no points to choose from');
  const used = new Set<string>();
  return targets.map((target) => {
    const free = points.filter((p) => !used.has(p.name));
    const pool = free.length ? free : points;
    let best = pool[0];
    for (const p of pool) if (Math.abs(p.depth - target) < Math.abs(best.depth - target)) best = p;
    used.add(best.name);
    return { target, point: best };
  });
}

export type StepRow = {
  stepSize: number;
  relativeLoss: number;
};

export interface StableStep {
  /**
   * Where the relative loss first reaches `bound`: interpolated in log–log
   * between the last grid step below it and the first at or above it (the
   * last one below when the loss after the first one overflowed). null when
   * the grid does not bracket it (see `censored`).
   */
  step: number | null;
  /** 'below': already ≥ bound at the smallest step; 'above': below bound at every step. */
  censored: 'below' | 'above' | null;
  lastStable: number | null;
  firstUnstable: number | null;
}

/**
 * The largest stable step of one probe (one mini-batch): walking up the
 * step sizes, the first at which the relative loss is ≥ `bound` (or not
 * finite) ends the stable range.
 */
export function stableStep(rows: readonly StepRow[], bound = 1): StableStep {
  if (!(bound > 0)) throw new Error(`stableStep: bound must be positive, got ${bound}`);
  const sorted = rows.filter((r) => r.stepSize > 0).sort((a, b) => a.stepSize - b.stepSize);
  if (!sorted.length) throw new Error('stableStep: no positive step sizes');
  const i = sorted.findIndex((r) => !(r.relativeLoss < bound));
  if (i === 0) return { step: null, censored: 'below', lastStable: null, firstUnstable: sorted[0].stepSize };
  if (i < 0) return { step: null, censored: 'above', lastStable: sorted[sorted.length - 1].stepSize, firstUnstable: null };
  const a = sorted[i - 1];
  const b = sorted[i];
  let step = a.stepSize;
  if (Number.isFinite(b.relativeLoss) && a.relativeLoss > 0) {
    const f = (Math.log(bound) - Math.log(a.relativeLoss)) / (Math.log(b.relativeLoss) - Math.log(a.relativeLoss));
    step = Math.exp(Math.log(a.stepSize) + f * (Math.log(b.stepSize) - Math.log(a.stepSize)));
  }
  return { step, censored: null, lastStable: a.stepSize, firstUnstable: b.stepSize };
}

export type StableStepSummary = {
  /** Geometric mean over mini-batches of their stable steps; null if any mini-batch is censored. */
  step: number | null;
  /**
   * `step`, or where it is censored the grid's edge it lies beyond (the
   * largest step when stable throughout, the smallest when unstable
   * throughout), per mini-batch, then the geometric mean: a number for a
   * chart or a ratio that is never missing.
   */
  estimate: number;
  /** Smallest and largest over mini-batches (null if any is censored). */
  low: number | null;
  high: number | null;
  batches: number;
  censored: 'below' | 'above' | 'mixed' | null;
};

/** Stable steps per mini-batch, summarised: rows carry a `batch` field. */
export function stableStepOverBatches(rows: readonly (StepRow & { batch: number })[], bound = 1): StableStepSummary {
  const byBatch = groupBy(rows, (r) => r.batch);
  if (!byBatch.size) throw new Error('stableStepOverBatches: no rows');
  const per = [...byBatch.values()].map((rs) => stableStep(rs, bound));
  const geoMean = (v: number[]) => Math.exp(v.reduce((s, x) => s + Math.log(x), 0) / v.length);
  const estimate = geoMean(per.map((p) => p.step ?? (p.censored === 'above' ? p.lastStable! : p.firstUnstable!)));
  const censored = [...new Set(per.map((p) => p.censored).filter((c) => c !== null))];
  if (censored.length)
    return { step: null, estimate, low: null, high: null, batches: per.length, censored: censored.length === 1 ? censored[0] : 'mixed' };
  const steps = per.map((p) => p.step as number);
  return {
    step: geoMean(steps),
    estimate,
    low: Math.min(...steps),
    high: Math.max(...steps),
    batches: per.length,
    censored: null,
  };
}

/** Per step size: the smallest, median and largest relative loss over mini-batches (Infinity sorts last). */
export function relativeLossEnvelope(
  rows: readonly (StepRow & { batch: number })[],
): { stepSize: number; min: number; median: number; max: number }[] {
  return [...groupBy(rows, (r) => r.stepSize).entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([stepSize, rs]) => {
      const v = rs.map((r) => (Number.isNaN(r.relativeLoss) ? Infinity : r.relativeLoss)).sort((a, b) => a - b);
      const mid = v.length >> 1;
      const median = v.length % 2 ? v[mid] : v[mid - 1] === v[mid] ? v[mid] : (v[mid - 1] + v[mid]) / 2;
      return { stepSize, min: v[0], median, max: v[v.length - 1] };
    });
}

/** The smallest step at which the relative loss exceeds `threshold` on every mini-batch; null if none does. */
export function divergentStep(rows: readonly (StepRow & { batch: number })[], threshold: number): number | null {
  const hit = relativeLossEnvelope(rows).find((e) => e.min > threshold);
  return hit ? hit.stepSize : null;
}

export interface Fig3Rule {
  /** No BN must pass this relative loss on every mini-batch at some step ≤ noBnStep (paper: 1e6 by ≈ 3e-3). */
  noBnAbove: number;
  noBnStep: number;
  /** BN must stay below this on every mini-batch at every step ≤ bnStep (paper: worst ≈ 3 up to 1e-1). */
  bnBelow: number;
  bnStep: number;
}

export interface Fig3Result {
  pass: boolean | null;
  /** max over steps ≤ noBnStep of no BN's smallest relative loss over mini-batches (Infinity: overflowed on every batch). */
  noBnMax: number;
  /** The smallest step where no BN passes noBnAbove on every mini-batch, if any. */
  noBnBlowUpStep: number | null;
  /** noBnBlowUpStep, or the largest step probed when no BN never passed (then `blowUpCensored`): a number for the finding. */
  metricStep: number;
  blowUpCensored: boolean;
  /** max over steps ≤ bnStep and mini-batches of BN's relative loss. */
  bnWorst: number;
  /** BN's lowest median relative loss, and where. */
  bnMin: number;
  bnMinStep: number;
  /** No BN's median relative loss at bnMinStep. */
  noBnAtBnMin: number;
  reason: string;
}

/**
 * Fig. 3's verdict at initialisation: no BN blows up at small steps while
 * BN stays bounded at steps an order of magnitude larger.
 */
export function fig3Verdict(
  noBn: readonly (StepRow & { batch: number })[],
  bn: readonly (StepRow & { batch: number })[],
  rule: Fig3Rule,
): Fig3Result {
  const nb = relativeLossEnvelope(noBn);
  const b = relativeLossEnvelope(bn);
  const nbIn = nb.filter((e) => e.stepSize > 0 && e.stepSize <= rule.noBnStep);
  const bIn = b.filter((e) => e.stepSize > 0 && e.stepSize <= rule.bnStep);
  const bnBest = b
    .filter((e) => e.stepSize > 0)
    .reduce((m, e) => (e.median < m.median ? e : m), { stepSize: NaN, median: Infinity, min: Infinity, max: Infinity });
  const noBnAtBnMin = nb.find((e) => e.stepSize === bnBest.stepSize)?.median ?? NaN;
  const noBnMax = nbIn.length ? Math.max(...nbIn.map((e) => e.min)) : NaN;
  const bnWorst = bIn.length ? Math.max(...bIn.map((e) => e.max)) : NaN;
  const blowUp = divergentStep(noBn, rule.noBnAbove);
  const largest = Math.max(...nb.map((e) => e.stepSize));
  const base = {
    noBnMax,
    noBnBlowUpStep: blowUp,
    metricStep: blowUp ?? largest,
    blowUpCensored: blowUp === null,
    bnWorst,
    bnMin: bnBest.median,
    bnMinStep: bnBest.stepSize,
    noBnAtBnMin,
  };
  // The grid must reach the rule's step sizes, else the data cannot decide.
  if (!nbIn.length || !bIn.length || Math.max(...b.map((e) => e.stepSize)) < rule.bnStep) {
    return { ...base, pass: null, reason: `the step grid does not cover steps up to ${rule.bnStep}` };
  }
  const a = noBnMax > rule.noBnAbove;
  const c = bnWorst < rule.bnBelow;
  const reason = `no BN ${a ? 'passes' : 'does not pass'} ${rule.noBnAbove} at a step ≤ ${rule.noBnStep} on every mini-batch; BN ${c ? 'stays' : 'does not stay'} below ${rule.bnBelow} at every step ≤ ${rule.bnStep}`;
  return { ...base, pass: a && c, reason };
}

export type DepthStable = {
  depth: number;
  step: number | null;
  /** The step, or the grid edge it lies beyond (StableStepSummary.estimate). */
  estimate: number;
  censored: StableStepSummary['censored'];
};

export interface DepthResult {
  pass: boolean | null;
  /** Stable step of the deepest network ÷ that of the shallowest (< 1: deeper tolerates less). */
  ratio: number;
  reason: string;
}

/**
 * "Shallower networks tolerate larger steps without BN": the largest stable
 * step never grows from one depth to the next, and the deepest one is
 * smaller than the shallowest one. Inconclusive with fewer than two depths
 * or when any depth's stable step lies outside the step grid.
 */
export function depthVerdict(points: readonly DepthStable[]): DepthResult {
  const sorted = [...points].sort((a, b) => a.depth - b.depth);
  if (sorted.length < 2) return { pass: null, ratio: NaN, reason: 'fewer than two depths' };
  const censored = sorted.filter((p) => p.step === null);
  if (censored.length)
    return {
      pass: null,
      ratio: sorted[sorted.length - 1].estimate / sorted[0].estimate,
      reason: `no stable step inside the grid at depth ${censored.map((p) => `${p.depth} (${p.censored})`).join(', ')}`,
    };
  const s = sorted.map((p) => p.step as number);
  const rises = sorted
    .slice(1)
    .filter((p, i) => (p.step as number) > s[i])
    .map((p) => p.depth);
  const ratio = s[s.length - 1] / s[0];
  const pass = rises.length === 0 && ratio < 1;
  return {
    pass,
    ratio,
    reason: pass
      ? 'non-increasing with depth, deepest < shallowest'
      : rises.length
        ? `grows at depth ${rises.join(', ')}`
        : 'deepest not below shallowest',
  };
}

/**
 * Step sizes at which the loss after the step is, on every mini-batch,
 * within `tolerance` (relative) of ln(classes): the loss of predicting
 * every class with equal probability. A relative loss below 1 there means
 * the step flattened the network's output, not that it learned.
 */
export function collapsedSteps(rows: readonly (StepRow & { batch: number; loss: number })[], classes: number, tolerance = 0.01): number[] {
  const uniform = Math.log(classes);
  return [...groupBy(rows, (r) => r.stepSize).entries()]
    .filter(([a, rs]) => a > 0 && rs.every((r) => Math.abs(r.loss - uniform) <= tolerance * uniform))
    .map(([a]) => a)
    .sort((a, b) => a - b);
}

export type AnatomySummaryRow = {
  layer: number;
  point: string;
  depth: number;
  t: number;
  /** Over channels (and mini-batches): the largest |mean| and the largest variance; Infinity if any is not finite. */
  maxAbsMean: number;
  maxVariance: number;
};

/** Fig. 4 in numbers: per target layer and fraction t, the largest channel |mean| and variance. */
export function anatomySummary(rows: readonly AnatomyRow[]): AnatomySummaryRow[] {
  const out: AnatomySummaryRow[] = [];
  for (const [, rs] of groupBy(rows, (r) => `${r.layer}|${r.t}`)) {
    const big = (v: number) => (Number.isFinite(v) ? Math.abs(v) : Infinity);
    out.push({
      layer: rs[0].layer,
      point: rs[0].point,
      depth: rs[0].depth,
      t: rs[0].t,
      maxAbsMean: Math.max(...rs.map((r) => big(r.mean))),
      maxVariance: Math.max(...rs.map((r) => big(r.variance))),
    });
  }
  return out.sort((a, b) => a.layer - b.layer || a.t - b.t);
}

export const MAX_ABS_MEAN = 'largest |channel mean|';
export const MAX_VARIANCE = 'largest channel variance';

/** The summary as long rows for one faceted chart: one row per (layer, t, statistic). */
export function anatomyLongRows(summary: readonly AnatomySummaryRow[]): { layer: string; t: number; statistic: string; value: number }[] {
  return summary.flatMap((s) => [
    { layer: `layer ${s.depth}`, t: s.t, statistic: MAX_ABS_MEAN, value: s.maxAbsMean },
    { layer: `layer ${s.depth}`, t: s.t, statistic: MAX_VARIANCE, value: s.maxVariance },
  ]);
}

/**
 * Relative losses capped at `cap` for a log-scale chart (overflow included),
 * so that BN's curve near 1 is not squeezed by 30 decades of no BN's
 * blow-up; `clipped` marks the capped rows.
 */
export function capRelativeLoss<R extends { relativeLoss: number }>(rows: readonly R[], cap: number): (R & { clipped: boolean })[] {
  return rows.map((r) => {
    const over = !(r.relativeLoss <= cap);
    return { ...r, relativeLoss: over ? cap : r.relativeLoss, clipped: over };
  });
}

/** The smallest t at which the largest variance at a layer exceeds `factor` × its value at t = 0 (where the blow-up starts), or null. */
export function blowUpFraction(summary: readonly AnatomySummaryRow[], layer: number, factor = 100): number | null {
  const rs = summary.filter((r) => r.layer === layer).sort((a, b) => a.t - b.t);
  if (!rs.length) return null;
  const v0 = rs[0].maxVariance;
  const hit = rs.find((r) => !(r.maxVariance <= factor * v0));
  return hit ? hit.t : null;
}

function groupBy<T, K>(rows: readonly T[], key: (r: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = m.get(k);
    if (list) list.push(r);
    else m.set(k, [r]);
  }
  return m;
}
