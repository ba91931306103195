/**
 * RQ4's analysis: is one BN on the last block's output (and none inside the
 * network) enough? Pure functions from the learning-rate sweep's runs to the
 * numbers the verdict rests on: per normalisation, the largest stable
 * learning rate and the test accuracy at the best learning rate; the share
 * of BN's gain over no BN that final-layer BN recovers; and the verdict rule.
 * Also the sweep's points and the rows of its dot and bar charts (drawn by
 * bn.dotChart); the runs, rows and stable rates are the shared sweep's
 * (./sweep, bn.sweep), so RQ1's 'none' and 'batch' runs are served from the
 * store.
 */
import type { Row } from '../charts/common';
import type { SweepPoint } from '../experiments/sweep';
import { DEFAULT_LEARNED_ABOVE, NormSummary as SweepNormSummary, normSummaries, normSummaryRows, readConvergence, SweepRow } from './sweep';

export type Rq4Norm = 'none' | 'final-only' | 'batch';

/** Legend order: no BN, BN on the last layer only, BN everywhere. */
export const NORMS: readonly Rq4Norm[] = ['none', 'final-only', 'batch'];

// Their colours, in this order, are the palette's (bn.NORM_COLORS, ../charts/palette).

// ---------------------------------------------------------------------------
// The sweep

/**
 * Every (norm, learning rate, seed) of the sweep: `learningRates` for each
 * norm, plus `extraNoBnRates` for 'none' only (no BN needs smaller rates to
 * find its best), in the order given.
 */
export function sweepPoints(opts: {
  norms?: readonly Rq4Norm[];
  learningRates: readonly number[];
  extraNoBnRates?: readonly number[];
  seeds: readonly number[];
}): SweepPoint<Rq4Norm>[] {
  const out: SweepPoint<Rq4Norm>[] = [];
  for (const norm of opts.norms ?? NORMS) {
    const rates = norm === 'none' ? [...opts.learningRates, ...(opts.extraNoBnRates ?? [])] : [...opts.learningRates];
    for (const learningRate of rates) for (const seed of opts.seeds) out.push({ norm, learningRate, seed });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Per norm

/** Per norm: the largest stable rate, and the best rate (the sweep's, bn.sweep.normSummaries). */
export type NormSummary = SweepNormSummary<Rq4Norm>;

export function summarize(
  rows: readonly SweepRow[],
  minAccuracy = DEFAULT_LEARNED_ABOVE,
  norms: readonly Rq4Norm[] = NORMS,
): NormSummary[] {
  return normSummaries(rows as readonly SweepRow<Rq4Norm>[], norms, minAccuracy);
}

// ---------------------------------------------------------------------------
// The recovered share

export interface RecoveredShare {
  /** BN's gain over no BN, acc_batch − acc_none (accuracy as a fraction). */
  gain: number;
  /** Final-only's gain over no BN, acc_final − acc_none. */
  recovered: number;
  /** recovered / gain; NaN when the gain is 0. */
  share: number;
}

/** (acc_final − acc_none) / (acc_batch − acc_none), each at its model's best learning rate. */
export function recoveredShare(accNone: number, accFinalOnly: number, accBatch: number): RecoveredShare {
  const gain = accBatch - accNone;
  const recovered = accFinalOnly - accNone;
  return { gain, recovered, share: gain === 0 ? NaN : recovered / gain };
}

/**
 * The share's standard error from the test set's sampling noise alone
 * (binomial, n test images per accuracy, the three accuracies independent),
 * by the delta method: s = r/g with r = f − a, g = b − a gives
 * ds/da = (r − g)/g², ds/df = 1/g, ds/db = −r/g². Seed-to-seed noise comes
 * on top of it. NaN when the gain is 0.
 */
export function shareStandardError(accNone: number, accFinalOnly: number, accBatch: number, testCount: number): number {
  const { gain: g, recovered: r } = recoveredShare(accNone, accFinalOnly, accBatch);
  if (g === 0 || !(testCount > 0)) return NaN;
  const v = (p: number) => (p * (1 - p)) / testCount;
  return Math.sqrt(((r - g) / (g * g)) ** 2 * v(accNone) + (1 / g) ** 2 * v(accFinalOnly) + (r / (g * g)) ** 2 * v(accBatch));
}

// ---------------------------------------------------------------------------
// The verdict

export interface Rq4Rule {
  /** The recovered share must lie in [lo, hi] (the paper: about 2/3). */
  shareBand: readonly number[];
  /** BN's gain over no BN below this (accuracy as a fraction) is too small to divide by: inconclusive. */
  minGain: number;
  /** Stable: not diverged and final test accuracy above this. */
  minAccuracy: number;
}

export const DEFAULT_RULE: Rq4Rule = { shareBand: [0.4, 0.9], minGain: 0.02, minAccuracy: DEFAULT_LEARNED_ABOVE };

export interface Rq4Verdict {
  /** true: reproduced; false: not reproduced; null: inconclusive. */
  pass: boolean | null;
  /** The recovered share (NaN when it cannot be computed). */
  share: number;
  /** BN's gain over no BN (NaN when it cannot be computed). */
  gain: number;
  /** Test accuracy at the best learning rate, per norm (null: no completed run). */
  accuracy: Record<Rq4Norm, number | null>;
  /** The share's standard error from test-set sampling alone, when `testCount` was given (else NaN). */
  shareStandardError: number;
  shareInBand: boolean | null;
  /** Final-only's largest stable rate above no BN's (no stable rate for no BN counts as below every rate). */
  lrAboveNone: boolean | null;
  /** Final-only's largest stable rate at most BN's. */
  lrAtMostBatch: boolean | null;
  /** One sentence: which checks passed, or why it cannot be decided. */
  reason: string;
  /**
   * With the sweep's rows: every run the verdict reads (each model at its
   * best rate and at every rate from its largest stable one up) converged
   * or diverged; null without rows.
   */
  converged: boolean | null;
  /** The fewest and most steps of those runs; null without rows. */
  steps: { min: number; max: number } | null;
}

const pctPoints = (x: number) => `${(100 * x).toFixed(1)} points`;

/**
 * Reproduced when the recovered share is in the band AND final-only's
 * largest stable learning rate is above no BN's and at most BN's.
 * Inconclusive when a model has no usable run, BN has no stable rate, or
 * BN's gain over no BN is below `minGain`.
 */
export function rq4Verdict(
  summaries: readonly NormSummary[],
  rule: Rq4Rule = DEFAULT_RULE,
  testCount?: number,
  rows?: readonly SweepRow[],
): Rq4Verdict {
  const v = shareVerdict(summaries, rule, testCount);
  if (!rows) return v;
  const { converged, steps, unconverged } = readConvergence(rows, summaries);
  if (!unconverged.length) return { ...v, converged, steps };
  return {
    ...v,
    pass: null,
    converged,
    steps,
    reason: `inconclusive: runs the verdict reads have not converged: ${unconverged.join('; ')} (had they, ${v.reason})`,
  };
}

function shareVerdict(summaries: readonly NormSummary[], rule: Rq4Rule, testCount?: number): Rq4Verdict {
  if (rule.shareBand.length !== 2 || !(rule.shareBand[0] <= rule.shareBand[1]))
    throw new Error(`rq4Verdict: shareBand must be [lo, hi] with lo ≤ hi, got ${JSON.stringify(rule.shareBand)}`);
  const by = (n: Rq4Norm) => summaries.find((s) => s.norm === n);
  const none = by('none');
  const fin = by('final-only');
  const bat = by('batch');
  const accuracy = {
    none: none?.bestTestAccuracy ?? null,
    'final-only': fin?.bestTestAccuracy ?? null,
    batch: bat?.bestTestAccuracy ?? null,
  };
  const base = {
    accuracy,
    shareStandardError: NaN,
    shareInBand: null,
    lrAboveNone: null,
    lrAtMostBatch: null,
    converged: null,
    steps: null,
  };
  const undecided = (reason: string, share = NaN, gain = NaN, se = NaN): Rq4Verdict => ({
    ...base,
    pass: null,
    share,
    gain,
    shareStandardError: se,
    reason,
  });
  if (!none || !fin || !bat) return undecided('the sweep lacks one of the three models');
  if (none.bestTestAccuracy === null || fin.bestTestAccuracy === null || bat.bestTestAccuracy === null) {
    const missing = [none, fin, bat].filter((s) => s.bestTestAccuracy === null).map((s) => s.norm);
    return undecided(`no completed run for ${missing.join(', ')}`);
  }
  const { share, gain } = recoveredShare(none.bestTestAccuracy, fin.bestTestAccuracy, bat.bestTestAccuracy);
  const se =
    testCount === undefined ? NaN : shareStandardError(none.bestTestAccuracy, fin.bestTestAccuracy, bat.bestTestAccuracy, testCount);
  if (gain < rule.minGain)
    return undecided(
      `BN's gain over no BN is ${pctPoints(gain)}, below the ${pctPoints(rule.minGain)} needed to divide by`,
      share,
      gain,
      se,
    );
  if (bat.largestStableLearningRate === null)
    return undecided('BN is stable at no learning rate, so there is no rate to compare against', share, gain, se);
  const shareInBand = share >= rule.shareBand[0] && share <= rule.shareBand[1];
  const finLr = fin.largestStableLearningRate;
  const lrAboveNone = finLr !== null && (none.largestStableLearningRate === null || finLr > none.largestStableLearningRate);
  const lrAtMostBatch = finLr !== null && finLr <= bat.largestStableLearningRate;
  const pass = shareInBand && lrAboveNone && lrAtMostBatch;
  const checks = [
    `share ${share.toFixed(2)} ${shareInBand ? 'in' : 'outside'} [${rule.shareBand.join(', ')}]`,
    `final-only's largest stable lr ${finLr ?? 'none'} ${lrAboveNone ? '>' : 'not >'} no BN's ${none.largestStableLearningRate ?? 'none'}`,
    `and ${lrAtMostBatch ? '≤' : 'not ≤'} BN's ${bat.largestStableLearningRate}`,
  ];
  return {
    pass,
    share,
    gain,
    accuracy,
    shareStandardError: se,
    shareInBand,
    lrAboveNone,
    lrAtMostBatch,
    reason: checks.join('; '),
    converged: null,
    steps: null,
  };
}

// ---------------------------------------------------------------------------
// Chart rows (for bn.dotChart, ../charts/dot)

/** Rows for the summary charts: one per norm, best accuracy and learning rates. */
/** Rows for the best-accuracy dot chart, one per norm (bn.sweep.normSummaryRows). */
export const summaryRows: (summaries: readonly NormSummary[]) => Row[] = normSummaryRows;

/**
 * Rows for the recovered-share chart: on the scale of BN's gain, no BN is 0
 * and BN is 1 by definition, and final-only sits at its share (null, so no
 * bar, when it cannot be computed).
 */
export function shareRows(v: Pick<Rq4Verdict, 'share'>): Row[] {
  return [
    { norm: 'none', share: 0 },
    { norm: 'final-only', share: Number.isFinite(v.share) ? v.share : null },
    { norm: 'batch', share: 1 },
  ];
}
