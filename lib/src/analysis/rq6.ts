/**
 * RQ6's analysis: is it batch normalisation, or any normalisation? Three
 * measurements, each with a rule fixed before the runs:
 *
 *   the learning-rate sweep   for BN, layer norm, group norm, Fixup and no
 *                             norm (the shared sweep's runs, ./sweep): is
 *                             each one's largest stable rate within one
 *                             grid step of BN's?
 *   the one-step probe        Fig. 3's relative loss after one step (./rq5)
 *                             for each normaliser at initialisation: do
 *                             layer and group norm tolerate steps as large
 *                             as BN's?
 *   the landscape probe       Santurkar et al. (2018, Fig. 4) along the
 *                             gradient at a few points of training, BN and
 *                             no BN: loss variation and effective
 *                             β-smoothness (../instrument/landscape)
 *
 * `landscapeProbe` touches tensors (the notebook wraps it in bn.measure);
 * the rest are pure functions from rows to the numbers a verdict rests on.
 */
import type { DataSpec } from '../experiments/data';
import { loadData } from '../experiments/data';
import type { ModelSpec } from '../experiments/runs';
import type { SweepPoint } from '../experiments/sweep';
import { landscapeAlongGradient, summarizeLandscape } from '../instrument/landscape';
import { Normaliser, NORMALISER_LABEL } from '../models/norm';
import type { Model } from '../models';
import { groupBy } from '../util/group';
import { buildProbeModel, forEachProbeBatch, ProbeBatches, warmUp } from './probe-batches';
import type { StableStepSummary } from './rq5';
import { DEFAULT_LEARNED_ABOVE, NormSummary, normSummaries, readConvergence, SweepRow } from './sweep';

export type Rq6Normaliser = Exclude<Normaliser, 'final-only'>;

/** Legend order: no normalisation, Fixup's init without one, then the normalisers, BN last. */
export const NORMALISERS: readonly Rq6Normaliser[] = ['none', 'fixup', 'layer', 'group', 'batch'];

/** The normalisers compared with BN in the sweep's findings. */
export const CONTENDERS: readonly Exclude<Rq6Normaliser, 'batch' | 'none'>[] = ['layer', 'group', 'fixup'];

// ---------------------------------------------------------------------------
// The sweep

/** Every (normaliser, learning rate, seed); group norm's points carry `groups`. */
export function sweepPoints(opts: {
  normalisers?: readonly Rq6Normaliser[];
  learningRates: readonly number[];
  seeds: readonly number[];
  groups?: number;
}): SweepPoint<Rq6Normaliser>[] {
  const out: SweepPoint<Rq6Normaliser>[] = [];
  for (const norm of opts.normalisers ?? NORMALISERS)
    for (const learningRate of opts.learningRates)
      for (const seed of opts.seeds)
        out.push(
          norm === 'group' && opts.groups !== undefined ? { norm, learningRate, seed, groups: opts.groups } : { norm, learningRate, seed },
        );
  return out;
}

/** Per normaliser: runs, largest stable rate, best rate and its accuracy. */
export function summarize(
  rows: readonly SweepRow[],
  minAccuracy = DEFAULT_LEARNED_ABOVE,
  normalisers: readonly Rq6Normaliser[] = NORMALISERS,
): NormSummary<Rq6Normaliser>[] {
  return normSummaries(rows as readonly SweepRow<Rq6Normaliser>[], normalisers, minAccuracy);
}

export interface StableRateRule {
  /** Stable: not diverged and final test accuracy above this. */
  minAccuracy: number;
  /** How many steps of the rate grid below BN's largest stable rate still count as "as large as BN's". */
  gridSteps: number;
}

export const DEFAULT_STABLE_RATE_RULE: StableRateRule = { minAccuracy: DEFAULT_LEARNED_ABOVE, gridSteps: 1 };

export interface StableRateVerdict {
  /** true: the contender's largest stable rate is within `gridSteps` of BN's; false: below; null: inconclusive. */
  pass: boolean | null;
  contender: Rq6Normaliser;
  contenderRate: number | null;
  batchRate: number | null;
  noneRate: number | null;
  /** The rate grid, largest first (every rate of the rows). */
  rates: number[];
  /** How many grid steps the contender's largest stable rate lies below BN's (negative: above; null when either has none). */
  stepsBelowBatch: number | null;
  converged: boolean | null;
  steps: { min: number; max: number } | null;
  reason: string;
}

const rateText = (r: number | null) => (r === null ? 'none' : String(r));

/**
 * "`contender` trains at learning rates as large as BN's": its largest
 * stable rate is BN's or at most `gridSteps` grid steps below it.
 * Inconclusive when BN is stable at no rate; when BN is stable at the
 * grid's largest rate (its limit lies beyond the grid, so a match may be a
 * shared ceiling); when no normalisation is itself within `gridSteps` of
 * BN (the setting does not separate normalised from unnormalised
 * networks); or when a run the verdict reads has not converged (each
 * model's best rate and every rate from its largest stable one up).
 */
export function stableRateVerdict(
  rows: readonly SweepRow[],
  contender: Rq6Normaliser,
  rule: StableRateRule = DEFAULT_STABLE_RATE_RULE,
): StableRateVerdict {
  if (!(Number.isInteger(rule.gridSteps) && rule.gridSteps >= 0))
    throw new Error(`stableRateVerdict: gridSteps must be a non-negative integer, got ${rule.gridSteps}`);
  const summaries = summarize(rows, rule.minAccuracy, [contender, 'batch', 'none']);
  const [c, b, n] = summaries;
  const rates = [...new Set(rows.map((r) => r.learningRate))].sort((x, y) => y - x);
  const index = (r: number | null) => (r === null ? null : rates.indexOf(r));
  const ci = index(c.largestStableLearningRate);
  const bi = index(b.largestStableLearningRate);
  const ni = index(n.largestStableLearningRate);
  const stepsBelowBatch = ci === null || bi === null ? null : ci - bi;
  const { converged, steps, unconverged } = readConvergence(rows, summaries);
  const base = {
    contender,
    contenderRate: c.largestStableLearningRate,
    batchRate: b.largestStableLearningRate,
    noneRate: n.largestStableLearningRate,
    rates,
    stepsBelowBatch,
    converged,
    steps,
  };
  const label = NORMALISER_LABEL[contender];
  const within = (i: number | null) => i !== null && bi !== null && i - bi <= rule.gridSteps;
  const rate = `${label}'s largest stable lr ${rateText(c.largestStableLearningRate)}, BN's ${rateText(b.largestStableLearningRate)}, no BN's ${rateText(n.largestStableLearningRate)}`;
  const undecided = (why: string): StableRateVerdict => ({ ...base, pass: null, reason: `inconclusive: ${why} (${rate})` });
  if (c.runs === 0 || b.runs === 0 || n.runs === 0)
    return undecided(
      `the sweep lacks ${[c, b, n]
        .filter((s) => !s.runs)
        .map((s) => NORMALISER_LABEL[s.norm])
        .join(', ')}`,
    );
  if (bi === null) return undecided('BN is stable at no learning rate');
  if (bi === 0) return undecided(`BN is stable at the grid's largest rate, ${rates[0]}: its limit lies beyond the grid`);
  if (within(ni))
    return undecided(
      `no BN is also within ${rule.gridSteps} grid step(s) of BN: the setting does not separate normalised from unnormalised networks`,
    );
  if (unconverged.length) return undecided(`runs the verdict reads have not converged: ${unconverged.join('; ')}`);
  const pass = within(ci);
  return {
    ...base,
    pass,
    reason: `${rate}: ${label} ${pass ? 'within' : 'more than'} ${rule.gridSteps} grid step(s) ${pass ? 'of' : 'below'} BN's`,
  };
}

// ---------------------------------------------------------------------------
// The one-step probe

export interface StableStepRule {
  /** A contender's largest stable step must be at least BN's ÷ this. */
  factor: number;
}

export interface StableStepVerdict {
  pass: boolean | null;
  /** Each normaliser's stable step estimate ÷ BN's (StableStepSummary.estimate). */
  ratios: Partial<Record<Rq6Normaliser, number>>;
  reason: string;
}

/**
 * "`contenders` tolerate one-step sizes as large as BN's": each one's
 * largest stable step (geometric mean over mini-batches) is at least BN's
 * ÷ `factor`. Inconclusive when BN's is censored (the step grid does not
 * bracket it) or when no normalisation is itself within `factor` of BN
 * (the probe does not separate). A contender stable at every probed step
 * counts at the grid's largest step; one unstable at every step, at its
 * smallest.
 */
export function stableStepVerdict(
  stable: Partial<Record<Rq6Normaliser, StableStepSummary>>,
  contenders: readonly Rq6Normaliser[],
  rule: StableStepRule,
): StableStepVerdict {
  if (!(rule.factor >= 1)) throw new Error(`stableStepVerdict: factor must be ≥ 1, got ${rule.factor}`);
  const b = stable.batch;
  const ratios: Partial<Record<Rq6Normaliser, number>> = {};
  if (b) for (const [k, s] of Object.entries(stable) as [Rq6Normaliser, StableStepSummary][]) ratios[k] = s.estimate / b.estimate;
  const text = (Object.entries(ratios) as [Rq6Normaliser, number][])
    .filter(([k]) => k !== 'batch')
    .map(([k, r]) => `${NORMALISER_LABEL[k]} ${r.toPrecision(2)}×`)
    .join(', ');
  const missing = ['batch', 'none', ...contenders].filter((k) => !stable[k as Rq6Normaliser]);
  if (missing.length) return { pass: null, ratios, reason: `inconclusive: no probe for ${missing.join(', ')}` };
  if (b!.censored !== null)
    return { pass: null, ratios, reason: `inconclusive: BN's stable step is censored (${b!.censored} the step grid)` };
  if (ratios.none! >= 1 / rule.factor)
    return {
      pass: null,
      ratios,
      reason: `inconclusive: no BN's stable step is also within ${rule.factor}× of BN's (${text}): the probe does not separate`,
    };
  const failing = contenders.filter((k) => ratios[k]! < 1 / rule.factor);
  return {
    pass: failing.length === 0,
    ratios,
    reason: `stable step ÷ BN's: ${text}; ${failing.length ? `${failing.map((k) => NORMALISER_LABEL[k]).join(', ')} below` : 'all contenders at or above'} 1/${rule.factor}`,
  };
}

// ---------------------------------------------------------------------------
// The landscape probe (Santurkar et al., Fig. 4)

export interface LandscapeConfig {
  data: DataSpec;
  model: ModelSpec;
  /** The training the checkpoints come from: SGD at this rate, batch size and seed (momentum 0.9, weight decay 1e-4). */
  learningRate: number;
  batchSize: number;
  seed: number;
  /** Steps of training before each probe (0: at initialisation); each checkpoint retrains from the same seed. */
  checkpoints: number[];
  batches: ProbeBatches;
  /** Step sizes along the gradient as multiples of `learningRate`. */
  stepScales: number[];
}

/** A type, not an interface, so that charts take it as a row. */
export type LandscapeProbeRow = {
  checkpoint: number;
  batch: number;
  stepSize: number;
  loss: number;
  lossBefore: number;
  gradientChange: number;
  betaSmoothness: number;
};

/**
 * The landscape along the gradient at each checkpoint: the model trained
 * `checkpoint` steps (a fresh build and the same seeded data order each
 * time, so checkpoint s is exactly step s of one run), then probed on each
 * probe batch at step sizes stepScales × learningRate.
 */
export async function landscapeProbe(cfg: LandscapeConfig): Promise<LandscapeProbeRow[]> {
  for (const s of cfg.checkpoints)
    if (!(Number.isInteger(s) && s >= 0)) throw new Error(`landscapeProbe: checkpoints must be non-negative integers, got ${s}`);
  const data = loadData(cfg.data);
  const stepSizes = cfg.stepScales.map((k) => k * cfg.learningRate);
  const rows: LandscapeProbeRow[] = [];
  const probeAt = (model: Model, checkpoint: number) =>
    forEachProbeBatch(data.train, cfg.batches, (x, y, batch) => {
      const l = landscapeAlongGradient(model, x, y, { stepSizes });
      for (const r of l.rows) rows.push({ checkpoint, batch, lossBefore: l.lossBefore, ...r });
    });
  // One warm-up to the last checkpoint, probed on the way: the probe leaves
  // the weights as it found them, so each checkpoint sees the model that
  // training from scratch to it would give (test/analysis/rq6.test.ts
  // checks this against a warm-up per checkpoint), at the cost of one
  // warm-up instead of the sum of them.
  const wanted = [...new Set(cfg.checkpoints)].sort((a, b) => a - b);
  const model = buildProbeModel(data, cfg.model);
  try {
    if (wanted[0] === 0) probeAt(model, 0);
    const last = wanted[wanted.length - 1];
    if (last > 0)
      await warmUp(model, data, { steps: last, learningRate: cfg.learningRate, seed: cfg.seed }, cfg.batchSize, (step) => {
        if (wanted.includes(step)) probeAt(model, step);
      });
  } finally {
    model.dispose();
  }
  // In the checkpoints' given order, as before.
  const order = new Map(cfg.checkpoints.map((c, i) => [c, i] as const));
  rows.sort((a, b) => order.get(a.checkpoint)! - order.get(b.checkpoint)!);
  return rows;
}

/** A type, not an interface, so that charts take it as a row. */
export type LandscapeSummaryRow = {
  checkpoint: number;
  batch: number;
  lossVariation: number;
  gradientChange: number;
  betaSmoothness: number;
};

/** Santurkar et al.'s numbers per (checkpoint, probe batch). */
export function landscapeSummaries(rows: readonly LandscapeProbeRow[]): LandscapeSummaryRow[] {
  return [...groupBy(rows, (r) => `${r.checkpoint}/${r.batch}`).values()].map((rs) => {
    const { checkpoint, batch, lossBefore } = rs[0];
    return { checkpoint, batch, ...summarizeLandscape({ lossBefore, gradientNorm: NaN, rows: rs }) };
  });
}

export interface LandscapeVerdict {
  pass: boolean | null;
  /** Medians over (checkpoint, batch) pairs of BN's value ÷ no BN's. */
  lossVariationRatio: number;
  betaSmoothnessRatio: number;
  pairs: number;
  reason: string;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * "BN makes the landscape smoother" (Santurkar et al.): over the (checkpoint,
 * probe batch) pairs both networks were probed at, the median of BN ÷ no BN
 * is below 1 for the loss variation AND for the effective β-smoothness.
 * Not reproduced when both medians are ≥ 1; inconclusive when they
 * disagree, or no pair has finite ratios.
 */
export function landscapeVerdict(batch: readonly LandscapeSummaryRow[], none: readonly LandscapeSummaryRow[]): LandscapeVerdict {
  const ratios = (k: 'lossVariation' | 'betaSmoothness') =>
    batch
      .map((b) => {
        const n = none.find((r) => r.checkpoint === b.checkpoint && r.batch === b.batch);
        return n ? b[k] / n[k] : NaN;
      })
      .filter((r) => !Number.isNaN(r));
  const lv = ratios('lossVariation');
  const bs = ratios('betaSmoothness');
  if (!lv.length || !bs.length)
    return {
      pass: null,
      lossVariationRatio: NaN,
      betaSmoothnessRatio: NaN,
      pairs: 0,
      reason: 'inconclusive: no (checkpoint, batch) pair with a ratio',
    };
  const l = median(lv);
  const s = median(bs);
  const text = `median BN ÷ no BN: loss variation ${l.toPrecision(2)}, β-smoothness ${s.toPrecision(2)} over ${Math.min(lv.length, bs.length)} pairs`;
  const pass = l < 1 && s < 1 ? true : l >= 1 && s >= 1 ? false : null;
  return {
    pass,
    lossVariationRatio: l,
    betaSmoothnessRatio: s,
    pairs: Math.min(lv.length, bs.length),
    reason:
      pass === null ? `inconclusive: the two measures disagree (${text})` : `${text}: BN ${pass ? 'smoother' : 'not smoother'} by both`,
  };
}

/** Rows for the best-accuracy dot chart, one per normaliser. */
export { normSummaryRows as summaryRows } from './sweep';
