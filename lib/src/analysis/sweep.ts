/**
 * The learning-rate sweep shared by RQ1 and RQ4, analysed: a run as a tidy
 * row, the rows grouped per (norm, learning rate), and which rates are
 * stable. Generic over the norm: RQ1 sweeps 'batch' and 'none', RQ4 adds
 * 'final-only'. The runs themselves (SweepPoint, sweepSpec) are built in
 * ../experiments/sweep.
 */
import type { Row } from '../charts/common';
import type { TrainSummary } from '../experiments/runs';
import type { SweepPoint } from '../experiments/sweep';
import { Normaliser, NORMALISER_LABEL, NormaliserLabel } from '../models/norm';
import type { LrSchedule } from '../train/schedule';
import { ConvergenceRule, ConvergenceStatus, runConvergence, scheduleDrops } from './convergence';

/** Chance is 0.1 on ten classes; a rate must beat this mean test accuracy to count as having learned. */
export const DEFAULT_LEARNED_ABOVE = 0.2;

// A sweep point and its run spec (SweepPoint, sweepSpec) live in
// ../experiments/sweep: the grid builds its runs from them too, and must not
// depend on the analyses.

// ---------------------------------------------------------------------------
// Rows

/** One run as a tidy row (charts and the analyses take these). A type, not an interface, so it is a chart row. */
export type SweepRow<N extends Normaliser = Normaliser> = {
  norm: N;
  /** The norm's name in charts: 'BN', 'no BN', 'final-only BN'. */
  model: NormaliserLabel<N>;
  learningRate: number;
  seed: number;
  diverged: boolean;
  /** Final test accuracy; null when the run diverged. */
  testAccuracy: number | null;
  trainAccuracy: number | null;
  /** The step at which a diverged run passed the divergence loss. */
  divergedAtStep: number | null;
  /** By the convergence rule (analysis/convergence); null when the row was made without the run's curves. */
  convergence: ConvergenceStatus | null;
  /** The steps the run trained (a diverged run's, where it stopped); null without its curves. */
  steps: number | null;
  /** For a run that has not converged, the steps its trend suggests it still needs (null: no estimate). */
  moreSteps: number | null;
};

/**
 * A run as a row. With the run's curves (a TrainSummary) the row says
 * whether it converged, by `rule` and the drops of `schedule` (the base's);
 * without them, `convergence` is null: not judged.
 */
export function sweepRow<N extends Normaliser>(
  p: SweepPoint<N>,
  result: Pick<TrainSummary, 'status' | 'final' | 'divergence'> & Partial<Pick<TrainSummary, 'epochs' | 'totalSteps'>>,
  opts: { schedule?: LrSchedule; rule?: ConvergenceRule } = {},
): SweepRow<N> {
  const diverged = result.status === 'diverged';
  const final = diverged ? null : result.final;
  const c =
    result.epochs && result.totalSteps !== undefined
      ? runConvergence(
          { status: result.status, totalSteps: result.totalSteps, epochs: result.epochs, divergence: result.divergence },
          { drops: scheduleDrops(opts.schedule, { totalSteps: result.totalSteps, epochs: result.epochs }), rule: opts.rule },
        )
      : null;
  return {
    norm: p.norm,
    model: NORMALISER_LABEL[p.norm] as NormaliserLabel<N>,
    learningRate: p.learningRate,
    seed: p.seed,
    diverged,
    testAccuracy: final ? final.testAccuracy : null,
    trainAccuracy: final ? final.trainAccuracy : null,
    divergedAtStep: result.divergence?.step ?? null,
    convergence: c ? c.status : diverged ? 'diverged' : null,
    steps: c ? c.steps : null,
    moreSteps: c ? c.moreSteps : null,
  };
}

/**
 * One row per run (norm, rate, seed): a run reached twice, e.g. through the
 * sweep's grid and again as a Fig. 1 configuration, must count once in a mean.
 */
export function distinctRuns<R extends Pick<SweepRow, 'norm' | 'learningRate' | 'seed'>>(rows: readonly R[]): R[] {
  const seen = new Set<string>();
  return rows.filter((r) => {
    const id = `${r.norm} ${r.learningRate} ${r.seed}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

// ---------------------------------------------------------------------------
// Per (norm, learning rate)

/** Per (norm, learning rate), over its seeds. */
export interface RatePoint<N extends Normaliser = Normaliser> {
  norm: N;
  learningRate: number;
  runs: number;
  divergedRuns: number;
  /** Mean final test accuracy over the seeds that completed; null if none did. */
  meanTestAccuracy: number | null;
  /** Runs not settled by the convergence rule: not converged, or not judged (no curves). */
  unsettledRuns: number;
  /** The fewest and most steps its runs trained; null without curves. */
  steps: { min: number; max: number } | null;
}

/** Every run converged or diverged: a comparison may rest on this point. */
export function isSettledPoint(p: Pick<RatePoint, 'unsettledRuns'>): boolean {
  return p.unsettledRuns === 0;
}

/**
 * Groups runs by (norm, learning rate); a run listed twice (the same norm,
 * rate and seed, e.g. a sweep run that is also one of Fig. 1's) counts once.
 */
export function ratePoints<N extends Normaliser>(rows: readonly SweepRow<N>[]): RatePoint<N>[] {
  const unique = new Map<string, SweepRow<N>>();
  for (const r of rows) unique.set(`${r.norm}\u0000${r.learningRate}\u0000${r.seed}`, r);
  const groups = new Map<string, SweepRow<N>[]>();
  for (const r of unique.values()) {
    const k = `${r.norm}\u0000${r.learningRate}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const acc = g.map((r) => r.testAccuracy).filter((a): a is number => a !== null && Number.isFinite(a));
    return {
      norm: g[0].norm,
      learningRate: g[0].learningRate,
      runs: g.length,
      divergedRuns: g.filter((r) => r.diverged).length,
      meanTestAccuracy: acc.length ? acc.reduce((s, a) => s + a, 0) / acc.length : null,
      unsettledRuns: g.filter((r) => r.convergence === null || r.convergence === 'not converged').length,
      steps: stepRange(g),
    };
  });
}

/**
 * Stable: no seed diverged AND the model learned — its mean final test
 * accuracy is clearly above chance (> learnedAbove). A rate that neither
 * diverged nor learned (too small to move in the epochs given) is not
 * stable in the sense that matters here.
 */
export function isStable(p: RatePoint, learnedAbove = DEFAULT_LEARNED_ABOVE): boolean {
  return p.divergedRuns === 0 && p.meanTestAccuracy !== null && p.meanTestAccuracy > learnedAbove;
}

/** Completed: no seed diverged and at least one has a test accuracy (it need not have learned). */
export function isCompleted(p: RatePoint): boolean {
  return p.divergedRuns === 0 && p.meanTestAccuracy !== null;
}

/** The largest learning rate at which `norm` is stable; null if it is stable at none. */
export function largestStableLearningRate<N extends Normaliser>(
  rows: readonly SweepRow<N>[],
  norm: N,
  learnedAbove = DEFAULT_LEARNED_ABOVE,
): number | null {
  const rates = ratePoints(rows)
    .filter((p) => p.norm === norm && isStable(p, learnedAbove))
    .map((p) => p.learningRate);
  return rates.length ? Math.max(...rates) : null;
}

/** The point with the highest mean test accuracy; a tie goes to the larger rate. */
function mostAccurate<N extends Normaliser>(points: readonly RatePoint<N>[]): RatePoint<N> | null {
  if (!points.length) return null;
  return points.reduce((best, p) =>
    p.meanTestAccuracy! > best.meanTestAccuracy! || (p.meanTestAccuracy === best.meanTestAccuracy && p.learningRate > best.learningRate)
      ? p
      : best,
  );
}

/** Among the STABLE rates of `norm` (completed and learned), the most accurate (a tie goes to the larger rate); null if none is stable. */
export function bestStableRate<N extends Normaliser>(
  rows: readonly SweepRow<N>[],
  norm: N,
  learnedAbove = DEFAULT_LEARNED_ABOVE,
): RatePoint<N> | null {
  return mostAccurate(ratePoints(rows).filter((p) => p.norm === norm && isStable(p, learnedAbove)));
}

/**
 * Among the COMPLETED rates of `norm` (no seed diverged; it need not have
 * learned), the most accurate (a tie goes to the larger rate); null if every
 * rate had a diverged run.
 */
export function bestCompletedRate<N extends Normaliser>(rows: readonly SweepRow<N>[], norm: N): RatePoint<N> | null {
  return mostAccurate(ratePoints(rows).filter((p) => p.norm === norm && isCompleted(p)));
}

export interface NormSummary<N extends Normaliser = Normaliser> {
  norm: N;
  runs: number;
  divergedRuns: number;
  largestStableLearningRate: number | null;
  bestLearningRate: number | null;
  bestTestAccuracy: number | null;
}

/**
 * Per norm: the largest stable rate, and the best rate — the most accurate
 * among the COMPLETED rates (bestCompletedRate: it need not have learned,
 * so a model that learns nowhere still has an accuracy to compare).
 */
export function normSummaries<N extends Normaliser>(
  rows: readonly SweepRow<N>[],
  norms: readonly N[],
  minAccuracy = DEFAULT_LEARNED_ABOVE,
): NormSummary<N>[] {
  return norms.map((norm) => {
    const points = ratePoints(rows).filter((p) => p.norm === norm);
    const best = bestCompletedRate(rows, norm);
    return {
      norm,
      runs: points.reduce((s, p) => s + p.runs, 0),
      divergedRuns: points.reduce((s, p) => s + p.divergedRuns, 0),
      largestStableLearningRate: largestStableLearningRate(rows, norm, minAccuracy),
      bestLearningRate: best?.learningRate ?? null,
      bestTestAccuracy: best?.meanTestAccuracy ?? null,
    };
  });
}

/** Rows for a best-accuracy dot chart (bn.dotChart), one per norm. */
export function normSummaryRows(summaries: readonly NormSummary[]): Row[] {
  return summaries.map((s) => ({
    norm: s.norm,
    bestTestAccuracy: s.bestTestAccuracy,
    bestLearningRate: s.bestLearningRate,
    largestStableLearningRate: s.largestStableLearningRate,
  }));
}

/** The fewest and most steps of some runs (rows without curves are left out); null when none has a count. */
export function stepRange(rows: readonly Pick<SweepRow, 'steps'>[]): { min: number; max: number } | null {
  const steps = rows.map((r) => r.steps).filter((n): n is number => n !== null);
  return steps.length ? { min: Math.min(...steps), max: Math.max(...steps) } : null;
}

/** Per (model, learning rate): how many runs converged, diverged or did not converge, in how many steps, and what the others' trends suggest. */
export function convergenceTable(rows: readonly SweepRow[]): {
  model: string;
  'learning rate': number;
  runs: number;
  converged: number;
  diverged: number;
  'not converged': number;
  steps: string;
  'more steps suggested': string;
}[] {
  const groups = new Map<string, SweepRow[]>();
  for (const r of distinctRuns(rows)) {
    const k = `${r.model}\u0000${r.learningRate}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const not = g.filter((r) => r.convergence === 'not converged' || r.convergence === null);
    const range = stepRange(g);
    return {
      model: g[0].model,
      'learning rate': g[0].learningRate,
      runs: g.length,
      converged: g.filter((r) => r.convergence === 'converged').length,
      diverged: g.filter((r) => r.convergence === 'diverged').length,
      'not converged': not.length,
      steps: range ? (range.min === range.max ? String(range.max) : `${range.min}–${range.max}`) : '—',
      'more steps suggested': not.length ? not.map((r) => (r.moreSteps === null ? 'no estimate' : `~${r.moreSteps}`)).join(', ') : '',
    };
  });
}

/** The runs at these (norm, rate) points that have not converged, in words: which seed, and how many more steps its trend suggests. */
export function unconvergedText(rows: readonly SweepRow[], points: readonly { norm: Normaliser; learningRate: number }[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (!points.some((p) => p.norm === r.norm && p.learningRate === r.learningRate)) continue;
    if (r.convergence === 'converged' || r.convergence === 'diverged') continue;
    const more =
      r.convergence === null
        ? 'not judged: no curves'
        : r.moreSteps === null
          ? `${r.steps} steps, trend not slowing`
          : `${r.steps} steps, about ${r.moreSteps} more suggested`;
    out.push(`${r.model} at lr ${r.learningRate}, seed ${r.seed} (${more})`);
  }
  return out;
}

/**
 * Whether the runs a per-norm verdict reads have converged: each summary's
 * best rate (its accuracy) and every rate from its largest stable one up
 * (stable there, unstable above). `converged` is null when no row is read.
 */
export function readConvergence(
  rows: readonly SweepRow[],
  summaries: readonly Pick<NormSummary, 'norm' | 'bestLearningRate' | 'largestStableLearningRate'>[],
): { converged: boolean | null; steps: { min: number; max: number } | null; unconverged: string[] } {
  const reads = summaries.flatMap((s) =>
    rows
      .filter(
        (r) =>
          r.norm === s.norm &&
          (r.learningRate === s.bestLearningRate ||
            (s.largestStableLearningRate !== null && r.learningRate >= s.largestStableLearningRate)),
      )
      .map((r) => ({ norm: r.norm, learningRate: r.learningRate })),
  );
  const readRows = rows.filter((r) => reads.some((p) => p.norm === r.norm && p.learningRate === r.learningRate));
  const unconverged = unconvergedText(rows, reads);
  return { converged: readRows.length ? unconverged.length === 0 : null, steps: stepRange(readRows), unconverged };
}
