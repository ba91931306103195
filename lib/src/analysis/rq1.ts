/**
 * RQ1's analysis: does BN mainly enable larger learning rates, and is that
 * where its benefit comes from? (Fig. 1.) Pure functions from the
 * learning-rate sweep's runs to the numbers the verdict rests on — which
 * rates are stable, the largest stable rate and the best accuracy of each
 * model, BN against no BN at a matched small rate, Fig. 1's curves as rows —
 * and the one measurement of the notebook, the SGD-noise scale α²/|B|·C at
 * initialisation (C: the variance of the per-example gradient).
 */
import { Batch, Dataset, toTensors } from '../data';
import { DataSpec, loadData } from '../experiments/data';
import type { TrainSummary } from '../experiments/runs';
import type { EpochBudget, SweepBase } from '../experiments/sweep';
import { PAPER } from '../findings/paper';
import { record } from '../instrument/hooks';
import { buildModel, Model, ModelOptions } from '../models';
import { Norm, NORM_LABEL, NormLabel } from '../models/norm';
import { Rng } from '../util/rng';
import { stepsToReach } from './convergence';
import { bestCompletedRate, bestStableRate, DEFAULT_LEARNED_ABOVE, isSettledPoint, largestStableLearningRate, RatePoint, ratePoints, stepRange, SweepRow, unconvergedText } from './sweep';

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
      divergedAt: points.filter((p) => p.divergedRuns > 0).map((p) => p.learningRate).sort((a, b) => b - a),
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

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`);
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
    ratio: allPoints.filter((p) => (p.norm === 'batch' && lrBn !== null && p.learningRate >= lrBn) || (p.norm === 'none' && lrNoBn !== null && p.learningRate >= lrNoBn)),
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
): { pass: boolean | null; worstGap: number; value: number; converged: boolean | null; steps: { min: number; max: number } | null; note: string } {
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
    note: note + '.' + (unconverged.length ? ` Not converged: ${unconverged.join('; ')}.` : readRows.length ? ' Every run at these rates converged.' : ''),
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

// ---------------------------------------------------------------------------
// Fig. 1: accuracy against % of training

/** What a curve row carries besides its point: the configuration's name, the seed, and any other labels (e.g. lr). */
export type CurveLabels = { config: string; seed: number } & Record<string, string | number>;

export type AccuracyCurveRow = {
  config: string;
  seed: number;
  split: 'train' | 'test';
  /** % of the planned training steps. */
  progress: number;
  accuracy: number;
};

/**
 * Train and test accuracy against % of training, as rows. Train: the
 * mini-batch accuracy (training mode) averaged over a trailing window of
 * recorded steps (default a fifteenth of the run), at most `maxPoints` rows;
 * test: the test accuracy at each epoch's end. `planned` is the run's
 * planned number of steps (a diverged run's curve then ends where it
 * stopped, not at 100%). Every row carries `labels`.
 */
export function accuracyCurveRows<L extends CurveLabels>(
  result: Pick<TrainSummary, 'steps' | 'epochs' | 'totalSteps'>,
  labels: L,
  opts: { planned?: number; window?: number; maxPoints?: number } = {},
): (AccuracyCurveRow & L)[] {
  const planned = opts.planned ?? result.totalSteps;
  if (!(planned > 0)) return [];
  const steps = result.steps.filter((s) => Number.isFinite(s.accuracy));
  const window = Math.max(1, opts.window ?? Math.round(steps.length / 15));
  const stride = Math.max(1, Math.ceil(steps.length / (opts.maxPoints ?? 60)));
  const rows: (AccuracyCurveRow & L)[] = [];
  let sum = 0;
  for (let i = 0; i < steps.length; i++) {
    sum += steps[i].accuracy;
    if (i >= window) sum -= steps[i - window].accuracy;
    const last = i === steps.length - 1;
    if ((i + 1) % stride === 0 || last) {
      rows.push({ ...labels, split: 'train', progress: (100 * steps[i].step) / planned, accuracy: sum / Math.min(i + 1, window) });
    }
  }
  for (const e of result.epochs) rows.push({ ...labels, split: 'test', progress: (100 * e.step) / planned, accuracy: e.testAccuracy });
  return rows;
}

/** One of Fig. 1's four configurations, with the paper's test accuracy for it. */
export type Fig1Config = {
  config: string;
  norm: Rq1Norm;
  lr: number;
  /** The paper's test accuracy (Fig. 1, read off) and a label saying at which rate the paper measured it. */
  paper: number;
  paperLabel: string;
};

/**
 * Fig. 1's configurations: BN at a high, a low and a very low rate, and no
 * BN at `noBnLr` (its best stable rate in our sweep; the paper shows no BN
 * at 1e-4, the rate its figure reports). Named (a)–(d), which is also the
 * order of a chart's panels.
 */
export function fig1Configs(bnLrs: { high: number; low: number; veryLow: number }, noBnLr: number): Fig1Config[] {
  const p = PAPER.rq1;
  const make = (panel: string, norm: Rq1Norm, lr: number, paper: number, paperLr: number): Fig1Config => ({
    config: `(${panel}) ${MODEL_LABEL[norm]}, lr ${lr}`,
    norm,
    lr,
    paper,
    paperLabel: `paper${lr === paperLr ? '' : ` (lr ${paperLr})`}: ${pct(paper)}`,
  });
  return [
    make('a', 'batch', bnLrs.high, p.testAccuracyBnLr0_1.value, 0.1),
    make('b', 'batch', bnLrs.low, p.testAccuracyBnLr0_003.value, 0.003),
    make('c', 'batch', bnLrs.veryLow, p.testAccuracyBnLr0_0001.value, 0.0001),
    make('d', 'none', noBnLr, p.testAccuracyNoBnLr0_0001.value, 0.0001),
  ];
}

/** The paper's number of each Fig. 1 panel, as a labelled rule in that panel (facet field `config`). */
export function fig1References(configs: readonly Fig1Config[]): { label: string; y: number; panel: { config: string } }[] {
  return configs.map((c) => ({ label: c.paperLabel, y: c.paper, panel: { config: c.config } }));
}

/**
 * The paper's Fig. 1 accuracies as diamonds on the sweep chart (x = the
 * rate, y = the accuracy). BN (81%) and no BN (82%) at 1e-4 would print
 * their labels on top of each other, so one label names both.
 */
export function sweepReferences(): { label: string; x: number; y: number }[] {
  const p = PAPER.rq1;
  return [
    { label: `paper, BN: ${pct(p.testAccuracyBnLr0_1.value)}`, x: 0.1, y: p.testAccuracyBnLr0_1.value },
    { label: `paper, BN: ${pct(p.testAccuracyBnLr0_003.value)}`, x: 0.003, y: p.testAccuracyBnLr0_003.value },
    { label: `paper: BN ${pct(p.testAccuracyBnLr0_0001.value)}, no BN ${pct(p.testAccuracyNoBnLr0_0001.value)}`, x: 0.0001, y: p.testAccuracyBnLr0_0001.value },
    { label: '', x: 0.0001, y: p.testAccuracyNoBnLr0_0001.value },
  ];
}

/** What our setting is, against the paper's, in a sentence (for the findings' notes). */
export function settingText(base: SweepBase, sweepSeeds: readonly number[] = [base.seeds[0]], fig1Seeds: readonly number[] = base.seeds): string {
  const m = base.model;
  const d = base.data;
  const images = d.trainSize !== undefined ? `${d.trainSize.toLocaleString('en')} training / ${(d.testSize ?? 0).toLocaleString('en')} test` : 'all';
  const seeds = (s: readonly number[]) => `seed${s.length === 1 ? '' : 's'} ${s.join(', ')}`;
  return (
    `Ours: ResNet-${m.depth} (width ${m.width}) on ${images} ${d.dataset} images${d.downsample ? ` downsampled ${d.downsample}×` : ''}, ${budgetText(base.budget)} at batch ${base.train.batchSize}` +
    `${base.train.augment ? ' with augmentation' : ''}, sweep on ${seeds(sweepSeeds)}, Fig. 1 configurations over ${seeds(fig1Seeds)}. ` +
    `Paper: ResNet-110 on CIFAR-10, trained to convergence, 5 runs.`
  );
}

/** A budget in words: "30 epochs at lr ≥ 0.1, growing as (0.1/lr)^0.5 up to 60". */
export function budgetText(b: EpochBudget): string {
  const e = (n: number) => `${n} epoch${n === 1 ? '' : 's'}`;
  return b.growth === 0 || b.maxEpochs === b.epochs ? e(b.epochs) : `${e(b.epochs)} at lr ≥ ${b.atRate}, growing as (${b.atRate}/lr)^${b.growth} up to ${b.maxEpochs}`;
}

// ---------------------------------------------------------------------------
// The SGD-noise scale α²/|B|·C

/**
 * Running first and second moments of gradient vectors, in float64: the
 * trace of their covariance, Σ_j Var(g_j), with the unbiased (K − 1)
 * denominator, and the squared norm of their mean.
 */
export class GradientMoments {
  private sum: Float64Array | null = null;
  private sumSq: Float64Array | null = null;
  count = 0;

  add(g: ArrayLike<number>): void {
    if (!this.sum) {
      this.sum = new Float64Array(g.length);
      this.sumSq = new Float64Array(g.length);
    }
    if (g.length !== this.sum.length) throw new Error(`GradientMoments: a vector of ${g.length} values after vectors of ${this.sum.length}`);
    const s = this.sum;
    const q = this.sumSq!;
    for (let j = 0; j < g.length; j++) {
      s[j] += g[j];
      q[j] += g[j] * g[j];
    }
    this.count += 1;
  }

  /** Σ_j Var(g_j), unbiased; NaN with fewer than two vectors. */
  traceCovariance(): number {
    const k = this.count;
    if (k < 2 || !this.sum) return NaN;
    let t = 0;
    for (let j = 0; j < this.sum.length; j++) t += Math.max(0, this.sumSq![j] - (this.sum[j] * this.sum[j]) / k);
    return t / (k - 1);
  }

  /** ‖mean g‖². */
  meanSquaredNorm(): number {
    if (!this.sum || this.count === 0) return NaN;
    let t = 0;
    for (let j = 0; j < this.sum.length; j++) t += (this.sum[j] / this.count) ** 2;
    return t;
  }
}

/**
 * C, the variance of the per-example gradient (E‖∇lᵢ − ∇l‖² over the N
 * training examples), from v = tr Cov(g_B), the variance of the gradient of
 * a mini-batch of B examples drawn without replacement:
 * v = C/B · (N − B)/(N − 1), so C = B · v · (N − 1)/(N − B).
 */
export function perExampleVariance(batchVariance: number, batchSize: number, datasetSize: number): number {
  if (!(batchSize >= 1 && batchSize < datasetSize)) throw new Error(`perExampleVariance: need 1 ≤ batch (${batchSize}) < dataset (${datasetSize})`);
  return (batchSize * batchVariance * (datasetSize - 1)) / (datasetSize - batchSize);
}

/** The paper's bound on SGD's noise, E‖α∇l − α∇_SGD‖² ≤ α²/|B| · C. */
export function noiseScale(lr: number, batchSize: number, C: number): number {
  return (lr * lr * C) / batchSize;
}

export type GradientNoise = {
  batchSize: number;
  batches: number;
  datasetSize: number;
  /** tr Cov(g_B): the variance of the mini-batch gradient around its mean. */
  batchGradientVariance: number;
  /** C = E‖∇lᵢ − ∇l‖², from the above. */
  perExampleVariance: number;
  /** ‖E g_B‖²: the signal the noise is measured against. */
  meanGradientSqNorm: number;
  meanLoss: number;
};

function randomBatch(ds: Dataset, size: number, rng: Rng): Batch {
  const per = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const order = rng.permutation(ds.count);
  const images = new Float32Array(size * per);
  const labels = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const j = order[i];
    images.set(ds.images.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = ds.labels[j];
  }
  return { images, labels, size };
}

/**
 * The mini-batch gradient noise of `model` as it is (at initialisation,
 * when called on a fresh model): the loss gradient (no weight decay) of
 * `batches` random mini-batches of `batchSize` examples, each drawn without
 * replacement, BN in training mode on the mini-batch's own statistics (as
 * SGD sees it; the moving statistics are not touched, nor the weights).
 * With BN the examples of a batch interact, so C is defined through the
 * mini-batch gradient's variance rather than through single-example
 * gradients: it is the C for which the noise at this batch size is C/|B|.
 */
export function gradientNoise(model: Model, ds: Dataset, opts: { batchSize: number; batches: number; seed: number }): GradientNoise {
  if (!(opts.batches >= 2)) throw new Error(`gradientNoise: need at least 2 batches, got ${opts.batches}`);
  const rng = new Rng(opts.seed);
  const names = [...model.trainable.keys()];
  const moments = new GradientMoments();
  let lossSum = 0;
  for (let k = 0; k < opts.batches; k++) {
    const { x, y } = toTensors(randomBatch(ds, opts.batchSize, rng), ds.shape, ds.numClasses);
    const rec = record(model, x, y, { params: names });
    try {
      const flat = new Float32Array(names.reduce((s, n) => s + model.trainable.get(n)!.size, 0));
      let at = 0;
      for (const n of names) {
        const v = rec.paramGrads.get(n)!.dataSync();
        flat.set(v, at);
        at += v.length;
      }
      moments.add(flat);
      lossSum += rec.loss;
    } finally {
      rec.dispose();
      x.dispose();
      y.dispose();
    }
  }
  const v = moments.traceCovariance();
  return {
    batchSize: opts.batchSize,
    batches: opts.batches,
    datasetSize: ds.count,
    batchGradientVariance: v,
    perExampleVariance: perExampleVariance(v, opts.batchSize, ds.count),
    meanGradientSqNorm: moments.meanSquaredNorm(),
    meanLoss: lossSum / opts.batches,
  };
}

export type NoiseRow = GradientNoise & {
  model: 'BN' | 'no BN';
  norm: Rq1Norm;
};

/**
 * The gradient noise at initialisation of the sweep's model, with and
 * without BN (the init of `seed`), at each batch size: on the training
 * split of `base.data`. Wrap it in bn.measure; ResNet-20 takes about
 * 0.2 s a batch of 128.
 */
export function gradientNoiseAtInit(
  base: { data: DataSpec; model: SweepBase['model'] },
  opts: { norms?: readonly Rq1Norm[]; batchSizes: readonly number[]; batches: number; seed: number },
): NoiseRow[] {
  const data = loadData(base.data).train;
  const rows: NoiseRow[] = [];
  for (const norm of opts.norms ?? (['batch', 'none'] as const)) {
    const model = buildModel({ ...base.model, norm, seed: opts.seed, inputShape: data.shape, numClasses: data.numClasses } as ModelOptions);
    try {
      for (const batchSize of opts.batchSizes) {
        rows.push({ model: MODEL_LABEL[norm], norm, ...gradientNoise(model, data, { batchSize, batches: opts.batches, seed: opts.seed }) });
      }
    } finally {
      model.dispose();
    }
  }
  return rows;
}

/** C of a model at a batch size (the measurement's row at the batch size nearest to it). */
export function varianceAt(noise: readonly NoiseRow[], norm: Norm, batchSize: number): number | null {
  const own = noise.filter((r) => r.norm === norm);
  if (!own.length) return null;
  return own.reduce((a, b) => (Math.abs(b.batchSize - batchSize) < Math.abs(a.batchSize - batchSize) ? b : a)).perExampleVariance;
}

export type NoiseScaleRow = {
  model: NormLabel;
  learningRate: number;
  seed: number;
  /** α²/|B|·C at the run's learning rate and batch size, C measured at init. */
  noiseScale: number;
  testAccuracy: number | null;
  diverged: boolean;
};

/** Each run's noise scale α²/|B|·C (C of its own model), beside its test accuracy. */
export function noiseScaleRows(rows: readonly SweepRow[], noise: readonly NoiseRow[], batchSize: number): NoiseScaleRow[] {
  const out: NoiseScaleRow[] = [];
  for (const r of rows) {
    const C = varianceAt(noise, r.norm, batchSize);
    if (C === null) continue;
    out.push({ model: r.model, learningRate: r.learningRate, seed: r.seed, noiseScale: noiseScale(r.learningRate, batchSize, C), testAccuracy: r.testAccuracy, diverged: r.diverged });
  }
  return out;
}

/**
 * Rank correlation (Spearman) between noise scale and test accuracy over
 * the completed runs of one model: does more SGD noise go with better
 * accuracy? NaN with fewer than three runs.
 */
export function noiseAccuracyCorrelation(rows: readonly NoiseScaleRow[], model: 'BN' | 'no BN'): number {
  const pts = rows.filter((r) => r.model === model && !r.diverged && r.testAccuracy !== null && Number.isFinite(r.testAccuracy));
  if (pts.length < 3) return NaN;
  const rank = (v: number[]) => {
    const idx = v.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length; ) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
      for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const a = rank(pts.map((p) => p.noiseScale));
  const b = rank(pts.map((p) => p.testAccuracy!));
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(a);
  const mb = mean(b);
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (b[i] - mb) ** 2;
  }
  return da === 0 || db === 0 ? NaN : num / Math.sqrt(da * db);
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

// ---------------------------------------------------------------------------
// Faster convergence: steps to a fixed test accuracy

export interface SpeedRule {
  /** The target: this fraction of the lower of the two models' final mean test accuracies, so both reach it. */
  targetFraction: number;
  /** BN's mean steps to the target ÷ no BN's must be at most this, with every BN seed faster than every no-BN seed. */
  maxRatio: number;
}

export const DEFAULT_SPEED_RULE: SpeedRule = { targetFraction: 0.9, maxRatio: 0.75 };

/** One run's test accuracy at each epoch end, with its steps to the target (for the chart and the table). */
export type SpeedRun = { model: 'BN' | 'no BN'; learningRate: number; seed: number; result: { epochs: readonly Pick<TrainSummary['epochs'][number], 'step' | 'testAccuracy'>[] }; convergence: SweepRow['convergence'] };

export interface SpeedVerdict {
  pass: boolean | null;
  target: number | null;
  /** Per run: steps to the target (null: never reached). */
  runs: { model: 'BN' | 'no BN'; learningRate: number; seed: number; stepsToTarget: number | null }[];
  /** Mean steps to the target, BN ÷ no BN (0 when undefined: the verdict is then inconclusive). */
  value: number;
  converged: boolean | null;
  threshold: string;
  note: string;
}

/** Rows for the chart: test accuracy against steps, per run. */
export function speedCurveRows(runs: readonly SpeedRun[]): { config: string; model: string; seed: number; step: number; testAccuracy: number }[] {
  return runs.flatMap((r) => r.result.epochs.map((e) => ({ config: `${r.model}, lr ${r.learningRate}`, model: r.model, seed: r.seed, step: e.step, testAccuracy: e.testAccuracy })));
}

/**
 * "BN converges faster": BN at its largest stable rate against no BN at its
 * best rate, over seeds, in steps to a test accuracy both reach (the rule's
 * fraction of the lower final mean accuracy). Reproduced when BN's mean is
 * at most `maxRatio` × no BN's and every BN seed is faster than every no-BN
 * seed; not reproduced when BN's mean is no smaller than no BN's;
 * inconclusive otherwise, or when a run has not converged (its final
 * accuracy, and so the target, is not settled) or never reaches the target.
 */
export function speedVerdict(bnRuns: readonly SpeedRun[], noBnRuns: readonly SpeedRun[], rule: SpeedRule = DEFAULT_SPEED_RULE): SpeedVerdict {
  const threshold =
    `target = ${rule.targetFraction} × the lower final mean test accuracy of the two; reproduced if BN's mean steps to it ≤ ${rule.maxRatio} × no BN's and every BN seed is faster than every no-BN seed; ` +
    `not reproduced if BN's mean is no smaller; inconclusive otherwise, or if a run has not converged`;
  const finalAcc = (rs: readonly SpeedRun[]) => {
    const a = rs.map((r) => r.result.epochs[r.result.epochs.length - 1]?.testAccuracy).filter((x): x is number => Number.isFinite(x));
    return a.length === rs.length && a.length ? a.reduce((s, x) => s + x, 0) / a.length : null;
  };
  const accBn = finalAcc(bnRuns);
  const accNoBn = finalAcc(noBnRuns);
  const all = [...bnRuns, ...noBnRuns];
  const converged = all.length ? all.every((r) => r.convergence === 'converged') : null;
  if (accBn === null || accNoBn === null) {
    return { pass: null, target: null, runs: [], value: 0, converged, threshold, note: 'Inconclusive: a model has no completed run to compare.' };
  }
  const target = rule.targetFraction * Math.min(accBn, accNoBn);
  const runs = all.map((r) => ({ model: r.model, learningRate: r.learningRate, seed: r.seed, stepsToTarget: stepsToReach(r.result.epochs, target) }));
  const steps = (m: 'BN' | 'no BN') => runs.filter((r) => r.model === m).map((r) => r.stepsToTarget);
  const sb = steps('BN');
  const sn = steps('no BN');
  const reached = [...sb, ...sn].every((x) => x !== null);
  const mean = (v: (number | null)[]) => (v as number[]).reduce((s, x) => s + x, 0) / v.length;
  const ratio = reached ? mean(sb) / mean(sn) : null;
  const separated = reached && Math.max(...(sb as number[])) < Math.min(...(sn as number[]));
  const decided = converged === true && ratio !== null;
  const pass = !decided ? null : ratio! <= rule.maxRatio && separated ? true : ratio! >= 1 ? false : null;
  const fmtSteps = (v: (number | null)[]) => v.map((x) => (x === null ? 'never' : String(Math.round(x)))).join(', ');
  const unconv = all.filter((r) => r.convergence !== 'converged').map((r) => `${r.model} lr ${r.learningRate} seed ${r.seed} (${r.convergence ?? 'not judged'})`);
  const note =
    `Target ${pct(target)} (${rule.targetFraction} × min(BN ${pct(accBn)}, no BN ${pct(accNoBn)})). Steps to it: BN at lr ${bnRuns[0].learningRate} ${fmtSteps(sb)}; no BN at lr ${noBnRuns[0].learningRate} ${fmtSteps(sn)}` +
    (ratio !== null ? `; mean ratio ${ratio.toFixed(2)}${separated ? ', every BN seed faster' : ', the seeds overlap'}.` : '.') +
    (unconv.length ? ` Inconclusive: not converged: ${unconv.join('; ')}.` : '') +
    (!reached ? ' Inconclusive: a run never reached the target.' : '');
  return { pass, target, runs, value: ratio ?? 0, converged, threshold, note };
}
