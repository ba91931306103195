/**
 * RQ1's analysis: does BN mainly enable larger learning rates, and is that
 * where its benefit comes from? (Fig. 1.) Pure functions from the
 * learning-rate sweep's runs to the numbers the verdict rests on — which
 * rates are stable, the largest stable rate and the best accuracy of each
 * model, BN against no BN at a matched small rate — here; Fig. 1's curves
 * as rows in ./rq1-fig1; the one measurement of the notebook, the SGD-noise
 * scale α²/|B|·C at initialisation (C: the variance of the per-example
 * gradient), in ./rq1-noise; "BN converges faster" in ./rq1-speed.
 */
import type { LrSchedule } from '../train/schedule';
import type { EpochBudget, SweepBase } from '../experiments/sweep';
import { PAPER } from '../findings/paper';
import { NORM_LABEL } from '../models/norm';
import { pct } from '../util/format';
import {
  bestCompletedRate,
  bestStableRate,
  DEFAULT_LEARNED_ABOVE,
  isSettledPoint,
  largestStableLearningRate,
  RatePoint,
  ratePoints,
  stepRange,
  SweepRow,
  unconvergedText,
} from './sweep';

// The rest of RQ1's analysis, by subject; bn.rq1 is all of it.
export * from './rq1-fig1';
export * from './rq1-noise';
export * from './rq1-speed';

export type Rq1Norm = 'batch' | 'none';

/** How charts and tables name the two models (the shared sweep's labels). */
export const MODEL_LABEL: Record<Rq1Norm, 'BN' | 'no BN'> = { batch: NORM_LABEL.batch, none: NORM_LABEL.none };

// Their colours are the palette's (bn.MODEL_COLORS, ../charts/palette).

// The sweep's runs, rows and stable rates live in ./sweep (bn.sweep), shared with RQ4.

/** The steps a run is planned to take (a diverged run stops before): for "% of training" axes. */
export function plannedSteps(trainCount: number, train: { epochs: number; batchSize: number; maxSteps?: number }): number {
  const perEpoch = Math.floor(trainCount / train.batchSize);
  if (perEpoch < 1) throw new Error(`plannedSteps: batch ${train.batchSize} is larger than the training set (${trainCount})`);
  return Math.min(train.maxSteps ?? Infinity, perEpoch * train.epochs);
}

// ---------------------------------------------------------------------------
// The sweep's rates per model

/**
 * The rate to show a model at in Fig. 1: its best stable rate; if it is
 * stable nowhere, the completed rate with the best accuracy (so the figure
 * still has a curve to show); null if every run diverged.
 */
export function bestLr(rows: readonly SweepRow[], norm: Rq1Norm, learnedAbove = DEFAULT_LEARNED_ABOVE): number | null {
  return (bestStableRate(rows, norm, learnedAbove) ?? bestCompletedRate(rows, norm))?.learningRate ?? null;
}

export type ModelSummary = {
  model: 'BN' | 'no BN';
  runs: number;
  divergedRuns: number;
  /** Rates where it diverged, largest first. */
  divergedAt: number[];
  largestStableLearningRate: number | null;
  bestLearningRate: number | null;
  bestTestAccuracy: number | null;
};

/** One row per model: the table the notebook shows under the sweep. */
export function summarize(rows: readonly SweepRow[], learnedAbove = DEFAULT_LEARNED_ABOVE): ModelSummary[] {
  return (['batch', 'none'] as const).map((norm) => {
    const points = ratePoints(rows).filter((p) => p.norm === norm);
    const best = bestStableRate(rows, norm, learnedAbove);
    return {
      model: MODEL_LABEL[norm],
      runs: points.reduce((s, p) => s + p.runs, 0),
      divergedRuns: points.reduce((s, p) => s + p.divergedRuns, 0),
      divergedAt: points
        .filter((p) => p.divergedRuns > 0)
        .map((p) => p.learningRate)
        .sort((a, b) => b - a),
      largestStableLearningRate: largestStableLearningRate(rows, norm, learnedAbove),
      bestLearningRate: best?.learningRate ?? null,
      bestTestAccuracy: best?.meanTestAccuracy ?? null,
    };
  });
}

// ---------------------------------------------------------------------------
// BN against no BN at the same small rate

export type MatchedGap = {
  lr: number;
  bn: number | null;
  noBn: number | null;
  /** BN − no BN, mean test accuracy (a fraction); null when not decidable. */
  gap: number | null;
  /**
   * Both completed at this rate (no seed diverged) and at least one of them
   * learned: a comparison of two models that are both still at chance says
   * nothing.
   */
  decidable: boolean;
  /** Every run of both models at this rate converged (analysis/convergence): only then does the gap count. */
  converged: boolean;
};

export function matchedGap(rows: readonly SweepRow[], lr: number, learnedAbove = DEFAULT_LEARNED_ABOVE): MatchedGap {
  const pts = ratePoints(rows);
  const at = (norm: Rq1Norm) => pts.find((p) => p.norm === norm && p.learningRate === lr);
  const b = at('batch');
  const n = at('none');
  const bn = b && b.divergedRuns === 0 ? b.meanTestAccuracy : null;
  const noBn = n && n.divergedRuns === 0 ? n.meanTestAccuracy : null;
  const decidable = bn !== null && noBn !== null && (bn > learnedAbove || noBn > learnedAbove);
  const converged = !!b && !!n && isSettledPoint(b) && isSettledPoint(n);
  return { lr, bn, noBn, gap: decidable ? bn! - noBn! : null, decidable, converged };
}

/** The gaps at the given rates (default: every rate both models ran), smallest rate first. */
export function matchedGaps(rows: readonly SweepRow[], lrs?: readonly number[], learnedAbove = DEFAULT_LEARNED_ABOVE): MatchedGap[] {
  const both = (norm: Rq1Norm) => new Set(rows.filter((r) => r.norm === norm).map((r) => r.learningRate));
  const candidates = lrs ?? [...both('batch')].filter((lr) => both('none').has(lr));
  return [...candidates].sort((a, b) => a - b).map((lr) => matchedGap(rows, lr, learnedAbove));
}

/** The matched comparison the verdict uses: the lowest rate both models ran that is decidable; null if none is. */
export function lowestMatched(rows: readonly SweepRow[], learnedAbove = DEFAULT_LEARNED_ABOVE): MatchedGap | null {
  return matchedGaps(rows, undefined, learnedAbove).find((g) => g.decidable) ?? null;
}

// ---------------------------------------------------------------------------
// The verdict

export interface Rq1Rule {
  /** Stable: no seed diverged and mean final test accuracy above this. */
  learnedAbove: number;
  /** BN's largest stable rate must be at least this multiple of no BN's. */
  lrRatioAtLeast: number;
  /** At the matched small rate, BN may beat no BN by at most this (accuracy as a fraction). */
  matchedMargin: number;
}

export const DEFAULT_RULE: Rq1Rule = { learnedAbove: DEFAULT_LEARNED_ABOVE, lrRatioAtLeast: 3, matchedMargin: 0.02 };

export interface Rq1Verdict {
  /** true: reproduced; false: not reproduced; null: inconclusive. */
  pass: boolean | null;
  /** BN's largest stable rate ÷ no BN's; null when either has none. */
  ratio: number | null;
  /**
   * The finding's value, always a finite number (a finding's JSON has no
   * NaN): the ratio, or 0 — a ratio can never be 0 — when there is none.
   */
  value: number;
  largestStable: { bn: number | null; noBn: number | null };
  best: { bn: RatePoint | null; noBn: RatePoint | null };
  matched: MatchedGap | null;
  checks: { ratio: boolean | null; best: boolean | null; matched: boolean | null };
  /**
   * Every run the verdict rests on converged or diverged (true), or some
   * did not converge (false; the checks that rest on them count as
   * undecided); null when no run was judged.
   */
  converged: boolean | null;
  /** The fewest and most steps of the runs it rests on. */
  steps: { min: number; max: number } | null;
  /** The rule in words, with its numbers (the finding's `threshold`). */
  threshold: string;
  /** Every number the verdict rests on, in one paragraph (the finding's `note`). */
  note: string;
}

/** Comparisons at a threshold ignore floating-point dust: 0.87 − 0.85 is 0.02, 0.03 / 0.01 is 3. */
const EPS = 1e-9;

const points = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)} points`;
const lrText = (x: number | null) => (x === null ? 'none' : String(x));

export function thresholdText(rule: Rq1Rule): string {
  return (
    `reproduced if BN's largest stable lr ≥ ${rule.lrRatioAtLeast}× no BN's AND BN's best test accuracy > no BN's ` +
    `AND at the lowest lr both ran (and one learned) BN − no BN ≤ ${(100 * rule.matchedMargin).toFixed(0)} points; ` +
    `stable = no seed diverged and mean test accuracy > ${rule.learnedAbove}; ` +
    `inconclusive if a model is stable at no lr, no matched lr is decidable, or a run a check reads has not converged (nor diverged)`
  );
}

/**
 * Reproduced when BN's largest stable learning rate is at least
 * `lrRatioAtLeast` × no BN's, BN's best test accuracy beats no BN's, and at
 * the lowest rate both ran BN is no better than no BN by more than
 * `matchedMargin`. Inconclusive when either model is stable at no rate, or
 * no matched rate is decidable (too few runs learned to decide).
 */
export function rq1Verdict(rows: readonly SweepRow[], rule: Rq1Rule = DEFAULT_RULE): Rq1Verdict {
  const lrBn = largestStableLearningRate(rows, 'batch', rule.learnedAbove);
  const lrNoBn = largestStableLearningRate(rows, 'none', rule.learnedAbove);
  const bestBn = bestStableRate(rows, 'batch', rule.learnedAbove);
  const bestNoBn = bestStableRate(rows, 'none', rule.learnedAbove);
  const matched = lowestMatched(rows, rule.learnedAbove);
  const ratio = lrBn !== null && lrNoBn !== null ? lrBn / lrNoBn : null;
  const allPoints = ratePoints(rows);
  // What each check reads: the ratio, every rate of a model from its largest
  // stable one up (stable there, unstable above); the best accuracy, each
  // model's best rate; the matched check, both models at the matched rate.
  const reads = {
    ratio: allPoints.filter(
      (p) =>
        (p.norm === 'batch' && lrBn !== null && p.learningRate >= lrBn) ||
        (p.norm === 'none' && lrNoBn !== null && p.learningRate >= lrNoBn),
    ),
    best: [bestBn, bestNoBn].filter((p): p is RatePoint => p !== null),
    matched: matched ? allPoints.filter((p) => p.learningRate === matched.lr && (p.norm === 'batch' || p.norm === 'none')) : [],
  };
  const settled = (ps: readonly RatePoint[]) => ps.every(isSettledPoint);
  const raw = {
    ratio: ratio === null ? null : ratio >= rule.lrRatioAtLeast * (1 - EPS),
    best: bestBn && bestNoBn ? bestBn.meanTestAccuracy! > bestNoBn.meanTestAccuracy! : null,
    matched: matched ? matched.gap! <= rule.matchedMargin + EPS : null,
  };
  const checks = {
    ratio: settled(reads.ratio) ? raw.ratio : null,
    best: settled(reads.best) ? raw.best : null,
    matched: settled(reads.matched) ? raw.matched : null,
  };
  const undecided = checks.ratio === null || checks.best === null || checks.matched === null;
  const pass = undecided ? null : checks.ratio! && checks.best! && checks.matched!;
  const read = [...reads.ratio, ...reads.best, ...reads.matched];
  const readRows = rows.filter((r) => read.some((p) => p.norm === r.norm && p.learningRate === r.learningRate));
  const unconverged = unconvergedText(rows, read);
  const converged = readRows.length ? unconverged.length === 0 : null;
  const why: string[] = [];
  if (lrBn === null) why.push('BN learned at no learning rate');
  if (lrNoBn === null) why.push('no BN learned at no learning rate');
  if (!matched) why.push('at no learning rate did both models complete with at least one of them learning');
  if (unconverged.length) why.push(`runs the checks read have not converged: ${unconverged.join('; ')}`);
  const note = [
    `Largest stable lr: BN ${lrText(lrBn)}, no BN ${lrText(lrNoBn)}${ratio !== null ? ` (ratio ${+ratio.toPrecision(3)}×, ${raw.ratio ? 'passes' : 'fails'} ≥ ${rule.lrRatioAtLeast}×)` : ''}.`,
    `Best test accuracy: BN ${pct(bestBn?.meanTestAccuracy)} at lr ${lrText(bestBn?.learningRate ?? null)}, no BN ${pct(bestNoBn?.meanTestAccuracy)} at lr ${lrText(bestNoBn?.learningRate ?? null)}` +
      (raw.best === null ? '.' : ` (${raw.best ? 'BN better' : 'BN not better'}).`),
    matched
      ? `At lr ${matched.lr} (the lowest both ran): BN ${pct(matched.bn)}, no BN ${pct(matched.noBn)}, BN − no BN ${points(matched.gap!)} (${raw.matched ? 'within' : 'beyond'} ${(100 * rule.matchedMargin).toFixed(0)} points).`
      : '',
    converged ? 'Every run these checks read converged or diverged.' : '',
    why.length ? `Inconclusive: ${why.join('; ')}${ratio === null ? ' (so the value is 0: there is no ratio)' : ''}.` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return {
    pass,
    ratio,
    value: ratio ?? 0,
    largestStable: { bn: lrBn, noBn: lrNoBn },
    best: { bn: bestBn, noBn: bestNoBn },
    matched,
    checks,
    converged,
    steps: stepRange(readRows),
    threshold: thresholdText(rule),
    note,
  };
}

/**
 * The matched-rate check on its own, at the given rates (e.g. 0.01 and
 * 0.003): a rate counts when both models completed, one learned, and every
 * run of both at that rate converged. Not reproduced when BN − no BN >
 * margin at a rate that counts; reproduced when at least one rate counts,
 * all that count pass, and no rate has runs that have not converged;
 * inconclusive otherwise. `worstGap` is the largest gap among the
 * rates that count (NaN if none); `value`, for the finding, is always
 * finite: that gap, else the largest gap where both at least completed
 * (it decides nothing, the verdict says so), else 0.
 */
export function matchedVerdict(
  gaps: readonly MatchedGap[],
  margin: number,
  rows: readonly SweepRow[] = [],
): {
  pass: boolean | null;
  worstGap: number;
  value: number;
  converged: boolean | null;
  steps: { min: number; max: number } | null;
  note: string;
} {
  const counts = gaps.filter((g) => g.decidable && g.converged);
  const worstGap = counts.length ? Math.max(...counts.map((g) => g.gap!)) : NaN;
  const raw = gaps.filter((g) => g.bn !== null && g.noBn !== null).map((g) => g.bn! - g.noBn!);
  const value = counts.length ? worstGap : raw.length ? Math.max(...raw) : 0;
  const fails = counts.some((g) => g.gap! > margin + EPS);
  // A rate whose runs are still changing may yet become decidable, or change its gap: it blocks "reproduced".
  const pending = gaps.some((g) => !g.converged);
  const pass = fails ? false : counts.length === 0 || pending ? null : true;
  const at = gaps.flatMap((g) => (['batch', 'none'] as const).map((norm) => ({ norm, learningRate: g.lr })));
  const readRows = rows.filter((r) => at.some((p) => p.norm === r.norm && p.learningRate === r.learningRate));
  const unconverged = unconvergedText(rows, at);
  const note = gaps
    .map((g) =>
      g.decidable && g.converged
        ? `lr ${g.lr}: BN ${pct(g.bn)}, no BN ${pct(g.noBn)} (${points(g.gap!)})`
        : `lr ${g.lr}: does not count (${g.decidable ? 'not every run converged' : 'not decidable'}; BN ${pct(g.bn)}, no BN ${pct(g.noBn)})`,
    )
    .join('; ');
  return {
    pass,
    worstGap,
    value,
    converged: readRows.length ? unconverged.length === 0 : null,
    steps: stepRange(readRows),
    note:
      note +
      '.' +
      (unconverged.length ? ` Not converged: ${unconverged.join('; ')}.` : readRows.length ? ' Every run at these rates converged.' : ''),
  };
}

/** The paper's Fig. 1 numbers, as the finding's `paper` column. */
export function paperText(): string {
  const p = PAPER.rq1;
  return (
    `Fig. 1 (read off): BN at lr 0.1 ≈ ${pct(p.testAccuracyBnLr0_1.value)}, 0.003 ≈ ${pct(p.testAccuracyBnLr0_003.value)}, 1e-4 ≈ ${pct(p.testAccuracyBnLr0_0001.value)}; ` +
    `no BN at 1e-4 ≈ ${pct(p.testAccuracyNoBnLr0_0001.value)} (larger rates diverge without BN)`
  );
}

/** What our setting is, against the paper's, in a sentence (for the findings' notes). */
export function settingText(
  base: SweepBase,
  sweepSeeds: readonly number[] = [base.seeds[0]],
  fig1Seeds: readonly number[] = base.seeds,
): string {
  const m = base.model;
  const d = base.data;
  const images =
    d.trainSize !== undefined ? `${d.trainSize.toLocaleString('en')} training / ${(d.testSize ?? 0).toLocaleString('en')} test` : 'all';
  const seeds = (s: readonly number[]) => `seed${s.length === 1 ? '' : 's'} ${s.join(', ')}`;
  return (
    `Ours: ResNet-${m.depth} (width ${m.width}) on ${images} ${d.dataset} images${d.downsample ? ` downsampled ${d.downsample}×` : ''}, ${budgetText(base.budget, base.train.schedule)} at batch ${base.train.batchSize}` +
    `${base.train.augment ? ' with augmentation' : ''}, sweep on ${seeds(sweepSeeds)}, Fig. 1 configurations over ${seeds(fig1Seeds)}. ` +
    `Paper: ResNet-110 on CIFAR-10, trained to convergence, 5 runs.`
  );
}

/**
 * A budget in words: "30 epochs at lr ≥ 0.1, growing as (0.1/lr)^0.5 up to 60";
 * with a plateau schedule the budget is a cap, and the words say so.
 */
export function budgetText(b: EpochBudget, schedule?: LrSchedule): string {
  const e = (n: number) => `${n} epoch${n === 1 ? '' : 's'}`;
  const epochs =
    b.growth === 0 || b.maxEpochs === b.epochs
      ? e(b.epochs)
      : `${e(b.epochs)} at lr ≥ ${b.atRate}, growing as (${b.atRate}/lr)^${b.growth} up to ${b.maxEpochs}`;
  return schedule?.kind === 'plateau'
    ? `at most ${epochs}, the rate dropped ${1 / schedule.factor}× when learning slows and the run stopped once it converged (both by the convergence rule)`
    : epochs;
}

/**
 * Rows for console.table with every number rounded to `digits` significant
 * digits (a table of raw doubles is hard to read); other values as they are.
 */
export function rounded(rows: readonly object[], digits = 3): Record<string, unknown>[] {
  return rows.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, typeof v === 'number' && Number.isFinite(v) && v !== 0 ? +v.toPrecision(digits) : v]),
    ),
  );
}
