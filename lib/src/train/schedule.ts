/**
 * Learning-rate schedules, as functions of the fraction of training done, so
 * a schedule means the same thing for a 2-epoch smoke run and a 160-epoch
 * paper run. The paper drops the rate when learning slows; its figures show a
 * drop at 50% of training. 'plateau' does both: it drops when learning has
 * slowed, and the drop still sits at a fixed fraction of the run.
 */
import { accuracyIsFlat, Curve, trend, windowPasses } from './trend';

/**
 * Training to the convergence rule. One drop by `factor` "when learning
 * slows": at the first epoch end at which the test accuracy has stopped
 * rising over the stretch the rule will check before the drop, taking the
 * drop to sit at `at` of the run (that stretch is then the last `window / at`
 * of the steps so far). After the drop the run trains to at least drop / at,
 * then stops at the first epoch end at which the whole rule holds: the last
 * fifth flat in loss and accuracy, and the stretch before the drop (a fifth
 * of the run as planned at the drop, drop / at) still flat. The run's `epochs` is a cap: at `at` of it
 * the rate drops whether or not learning has slowed, and at the cap the run
 * ends whether or not it has converged (and the rule will say so). The
 * rule's fields are copied into the schedule so that a run's spec, and so
 * its key in the run store, records the rule its training followed.
 */
export interface PlateauSchedule {
  kind: 'plateau';
  factor: number;
  /** Where the drop sits, as a fraction of the run: 0.5 as in the paper's figures. */
  at: number;
  /** The convergence rule's window, a fraction of the run. */
  window: number;
  maxLossFall: number;
  maxAccuracyRise: number;
  significance: number;
  minEvaluations: number;
}

export type LrSchedule =
  | { kind: 'constant' }
  /** Multiply by `factor` at each fraction of training in `at` (e.g. [0.5, 0.75]). */
  | { kind: 'step'; at: number[]; factor: number }
  | PlateauSchedule;

export function checkSchedule(s: LrSchedule): void {
  if (s.kind === 'constant') return;
  if (s.kind === 'step') {
    if (!(s.factor > 0 && s.factor <= 1)) throw new Error(`step schedule: factor must be in (0, 1], got ${s.factor}`);
    for (const a of s.at)
      if (!(a > 0 && a < 1)) throw new Error(`step schedule: drop points are fractions of training in (0, 1), got ${a}`);
    return;
  }
  if (s.kind === 'plateau') {
    const p = s as PlateauSchedule;
    if (!(p.factor > 0 && p.factor <= 1)) throw new Error(`plateau schedule: factor must be in (0, 1], got ${p.factor}`);
    if (!(p.at > 0 && p.at < 1)) throw new Error(`plateau schedule: at must be a fraction of training in (0, 1), got ${p.at}`);
    if (!(p.window > 0 && p.window <= p.at)) throw new Error(`plateau schedule: window must be in (0, at], got ${p.window}`);
    if (!(p.maxLossFall >= 0) || !(p.maxAccuracyRise >= 0) || !(p.significance >= 0))
      throw new Error(
        `plateau schedule: maxLossFall, maxAccuracyRise and significance must be ≥ 0, got ${p.maxLossFall}, ${p.maxAccuracyRise} and ${p.significance}`,
      );
    if (!(Number.isInteger(p.minEvaluations) && p.minEvaluations >= 2))
      throw new Error(`plateau schedule: minEvaluations must be an integer ≥ 2, got ${p.minEvaluations}`);
    return;
  }
  throw new Error(
    `unknown learning-rate schedule ${JSON.stringify(s)}; use {kind: 'constant'}, {kind: 'step', at, factor} or {kind: 'plateau', factor, at, window, maxLossFall, maxAccuracyRise, significance, minEvaluations}`,
  );
}

/**
 * The learning rate after `progress` ∈ [0, 1] of training. A plateau
 * schedule's drop depends on the curve; the training loop decides it
 * (plateauReached) and passes `dropped`.
 */
export function learningRateAt(base: number, schedule: LrSchedule, progress: number, dropped = false): number {
  if (schedule.kind === 'constant') return base;
  if (schedule.kind === 'plateau') return dropped ? base * schedule.factor : base;
  let lr = base;
  for (const a of schedule.at) if (progress >= a) lr *= schedule.factor;
  return lr;
}

/**
 * Whether a plateau schedule drops now, at an epoch end `step` steps in
 * (`curve`: the epoch ends so far): the test accuracy over the last
 * window / at of the steps, the stretch the convergence rule will judge
 * before a drop here, is flat by the rule's test, with at least
 * minEvaluations epoch ends in it.
 */
export function plateauReached(s: PlateauSchedule, curve: Curve, step: number): boolean {
  const from = step - s.window * plannedStepsAtDrop(s, step);
  const t = trend(curve, from, step);
  return t.n >= s.minEvaluations && Number.isFinite(t.accuracyRise) && accuracyIsFlat(t.accuracyRise, t.accuracyRiseError, s);
}

/**
 * The run's planned length when a plateau schedule dropped its rate after
 * `dropStep`: the drop sits at `at` of the run. The stretch the rule judges
 * before the drop is a fifth of this, whatever length the run then reaches:
 * the stretch plateauReached found flat. (Were it a fifth of the run's final
 * length, a run that needs longer after its drop would have that stretch
 * reach back into its steep start, and more training could never make it
 * pass.) A drop at a fixed fraction plans the whole run, the same thing.
 */
export function plannedStepsAtDrop(s: Pick<PlateauSchedule, 'at'>, dropStep: number): number {
  return dropStep / s.at;
}

/**
 * Whether a plateau-scheduled run, which dropped its rate after `dropStep`,
 * has converged by the rule at an epoch end `step` steps in (and so stops):
 * at least dropStep / at steps in, the last fifth passes (loss and
 * accuracy), and so does the stretch before the drop (a fifth of the run as
 * planned at the drop: plannedStepsAtDrop).
 */
export function plateauConverged(s: PlateauSchedule, curve: Curve, step: number, dropStep: number): boolean {
  const planned = plannedStepsAtDrop(s, dropStep);
  if (step < Math.round(planned)) return false;
  const w = s.window * step;
  const before = s.window * planned;
  return windowPasses(trend(curve, step - w, step), s, true) && windowPasses(trend(curve, dropStep - before, dropStep), s, false);
}

/** The step after which a run's rate first fell below its first epoch's (its first drop), from its epoch curve; null if it never did. */
export function firstDropStep(epochs: readonly { step: number; learningRate: number }[]): number | null {
  const i = epochs.findIndex((e) => e.learningRate < epochs[0].learningRate);
  return i > 0 ? epochs[i - 1].step : null;
}
