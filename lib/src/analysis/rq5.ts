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
import { DataSpec, loadData } from '../experiments/data';
import type { ModelSpec } from '../experiments/runs';
import { relativeLossAfterStep } from '../instrument/step';
import { groupBy } from '../util/group';
import { buildProbeModel, forEachProbeBatch, ProbeBatches, Warmup, warmUp } from './probe-batches';

/** n step sizes from 10^lo to 10^hi, evenly spaced in log (the instrument's, for a notebook's parameters). */
export { logSpace } from '../instrument/step';
export type { ProbeBatches, Warmup } from './probe-batches';
// Fig. 4 (./rq5-anatomy), reachable as bn.rq5.* too.
export * from './rq5-anatomy';

// ---------------------------------------------------------------- measurements

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

/** The one-step relative loss (Fig. 3) of a freshly built model, optionally after a warm-up, on each probe batch. */
export async function oneStepProbe(cfg: ProbeConfig): Promise<ProbeRow[]> {
  const data = loadData(cfg.data);
  const model = buildProbeModel(data, cfg.model);
  try {
    if (cfg.warmup) await warmUp(model, data, cfg.warmup, cfg.batches.size);
    const rows: ProbeRow[] = [];
    forEachProbeBatch(data.train, cfg.batches, (x, y, batch) => {
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

// ---------------------------------------------------------------- pure analysis

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
