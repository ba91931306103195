/**
 * Has a training run converged? A rule stated before the data and computed
 * from the run's own curves, so that a comparison of runs still climbing is
 * called inconclusive instead of being read as a result. The paper compares
 * runs "trained to convergence"; a finding that rests on runs which have not
 * converged tests nothing.
 *
 * The rule, on the curves the training loop records at every epoch's end
 * (the mean training loss over the epoch's mini-batches, and the test
 * accuracy):
 *
 *  - over the last fifth of training, the training loss falls by at most
 *    `maxLossFall` nats, and the test accuracy no longer rises: it rises by
 *    at most `maxAccuracyRise`, or by less than twice the rise's own
 *    standard error (the test accuracy of a run at a large rate wanders by a
 *    point or two between epochs, and 1,000 test images alone give it a
 *    binomial error of about 1.3 points);
 *  - over the fifth of training before each drop of the learning rate, the
 *    test accuracy no longer rises, in the same sense: the paper drops the
 *    rate "when learning slows", and a drop that comes while the model is
 *    still climbing flattens the curve after it without the run having
 *    converged. The fifth is of the run as planned when the rate dropped
 *    (RateDrop): a run that trains on past its plan keeps the stretch it was
 *    judged on at the drop;
 *  - each such window holds at least `minEvaluations` epoch ends, or the run
 *    is too short to judge (not converged).
 *
 * A fall or a rise is the least-squares slope over the window's epoch ends
 * (and the last one before it) times the window's length in steps, so one
 * noisy evaluation does not decide it; its standard error comes from the
 * fit's residuals. The thresholds were set from the noise of two pilot runs
 * that are not part of any finding (BN at 0.1 and 0.003), before any run a
 * verdict reads. The loss rule is in nats, not relative: a network that
 * memorises a small training set drives its loss towards 0, where halving
 * 0.01 is a large relative fall and no change to what it has learned.
 *
 * A diverged run is settled too: it diverged, and no longer training would
 * change that (the paper: no network ever recovered).
 */
import type { EpochRecord } from '../train/loop';
import { firstDropStep, type LrSchedule, plannedStepsAtDrop } from '../train/schedule';
import { accuracyIsFlat, type Curve, trend } from '../train/trend';
import { CONVERGENCE_RULE, type ConvergenceRule } from '../experiments/convergence-rule';

// The rule's numbers live with the experiments' settings, which the plateau schedule takes them from.
export { CONVERGENCE_RULE, type ConvergenceRule } from '../experiments/convergence-rule';

export type ConvergenceStatus = 'converged' | 'not converged' | 'diverged';

/** One window's measurements. */
export interface WindowCheck {
  /** 'end' (the last fifth) or 'before drop at 50%'. */
  name: string;
  /** Steps [from, to]. */
  from: number;
  to: number;
  evaluations: number;
  /** Fall of the training loss over the window in nats (end window only; null before a drop). */
  lossFall: number | null;
  /** Rise of the test accuracy over the window, and its standard error. */
  accuracyRise: number;
  accuracyRiseError: number;
  ok: boolean;
  /** Why not, in words ('' when ok). */
  why: string;
  /**
   * How many more steps the measured trend suggests this window needs
   * (see moreStepsFromTrend); null when it is ok, or when the trend does not
   * slow down (then no estimate is honest: at least a doubling).
   */
  moreSteps: number | null;
}

export interface RunConvergence {
  status: ConvergenceStatus;
  /** The run's steps (a diverged run's, where it stopped). */
  steps: number;
  windows: WindowCheck[];
  /** The largest of the windows' estimates; null when converged, diverged, or no estimate. */
  moreSteps: number | null;
  /** One sentence: why it has or has not converged, with the numbers. */
  reason: string;
}

// The window's least-squares trends are the training loop's too (the plateau schedule uses them).
export { slope } from '../train/trend';

/**
 * How many more steps a quantity still changing by `now` per window (it
 * changed by `before` over the window before) needs to change by at most
 * `limit` per window, if its change keeps shrinking by the same factor
 * now/before each window: k windows with now · q^k ≤ limit. Null when the
 * change is not shrinking (q > 0.95, or the earlier change not positive).
 */
export function moreStepsFromTrend(before: number, now: number, limit: number, windowSteps: number): number | null {
  if (!(now > limit)) return 0;
  const q = now / before;
  // A change shrinking by less than 5% a window is not slowing in any sense
  // an extrapolation could use (and would give absurd step counts).
  if (!(before > 0) || !(q <= 0.95)) return null;
  return Math.ceil(Math.log(limit / now) / Math.log(q)) * windowSteps;
}

const pts = (x: number) => `${(100 * x).toFixed(1)} points`;

/**
 * A drop of the learning rate: where it came, as a fraction of the run's
 * steps, and the run's length as planned when it came (a fixed schedule
 * plans the whole run; a plateau schedule's drop sits at `at` of the run it
 * plans, see plannedStepsAtDrop). The rule's window before the drop is a
 * fifth of that plan, so it does not grow when a run trains on past it.
 */
export interface RateDrop {
  at: number;
  /** Omitted: the run's own steps (a fixed schedule's drop). */
  plannedSteps?: number;
}

/**
 * The learning-rate drops of a schedule. A plateau schedule's one drop
 * depends on the run: give the run's epochs and steps.
 */
export function scheduleDrops(
  schedule: LrSchedule | undefined,
  run?: { totalSteps: number; epochs: readonly { step: number; learningRate: number }[] },
): RateDrop[] {
  if (schedule?.kind === 'plateau') {
    const d = run ? firstDropStep(run.epochs) : null;
    return d !== null && run!.totalSteps > 0 ? [{ at: d / run!.totalSteps, plannedSteps: plannedStepsAtDrop(schedule, d) }] : [];
  }
  return schedule?.kind === 'step' ? [...schedule.at].sort((a, b) => a - b).map((at) => ({ at })) : [];
}

/**
 * Judges one run by the rule. `drops` are the schedule's drops of the rate
 * (scheduleDrops(spec.train.schedule, run)).
 */
export function runConvergence(
  run: { status: 'completed' | 'diverged'; totalSteps: number; epochs: Curve; divergence?: { step: number } | null },
  opts: { drops?: readonly RateDrop[]; rule?: ConvergenceRule } = {},
): RunConvergence {
  const rule = opts.rule ?? CONVERGENCE_RULE;
  const T = run.totalSteps;
  if (run.status === 'diverged') {
    return { status: 'diverged', steps: T, windows: [], moreSteps: null, reason: `diverged at step ${run.divergence?.step ?? T}` };
  }
  const W = rule.window * T;
  const windows: WindowCheck[] = [];
  // `width`: the window's steps (a fifth of the run, or of its plan at a drop).
  const judge = (name: string, end: number, width: number, withLoss: boolean) => {
    const from = end - width;
    const now = trend(run.epochs, from, end);
    const prev = trend(run.epochs, from - width, from);
    const evaluations = now.n;
    const why: string[] = [];
    let moreSteps: number | null = 0;
    const add = (est: number | null) => {
      moreSteps = moreSteps === null || est === null ? null : Math.max(moreSteps, est);
    };
    if (evaluations < rule.minEvaluations || !Number.isFinite(now.accuracyRise)) {
      why.push(`${evaluations} evaluation${evaluations === 1 ? '' : 's'} in the window, fewer than ${rule.minEvaluations}`);
      // Too short to tell: the run needs enough steps for the window to hold
      // minEvaluations epoch ends (the window's first value included).
      const perEpoch = run.epochs[0]?.step ?? T;
      add(Math.max(0, Math.ceil(((rule.minEvaluations - 1) * perEpoch) / rule.window) - T));
    } else {
      if (withLoss && now.lossFall > rule.maxLossFall) {
        why.push(`the training loss still fell ${now.lossFall.toFixed(3)} nats (limit ${rule.maxLossFall})`);
        add(moreStepsFromTrend(prev.lossFall, now.lossFall, rule.maxLossFall, width));
      }
      if (!accuracyIsFlat(now.accuracyRise, now.accuracyRiseError, rule)) {
        why.push(
          `the test accuracy still rose ${pts(now.accuracyRise)} ± ${pts(now.accuracyRiseError)} (flat: ≤ ${pts(rule.maxAccuracyRise)} or < ${rule.significance} standard errors)`,
        );
        add(moreStepsFromTrend(prev.accuracyRise, now.accuracyRise, rule.maxAccuracyRise, width));
      }
    }
    const ok = why.length === 0;
    windows.push({
      name,
      from: Math.round(from),
      to: Math.round(end),
      evaluations,
      lossFall: withLoss && Number.isFinite(now.lossFall) ? now.lossFall : null,
      accuracyRise: now.accuracyRise,
      accuracyRiseError: now.accuracyRiseError,
      ok,
      why: ok ? '' : `${name}: ${why.join(', and ')}`,
      moreSteps: ok ? null : moreSteps,
    });
  };
  for (const d of opts.drops ?? [])
    judge(`before the drop at ${Math.round(100 * d.at)}%`, d.at * T, rule.window * (d.plannedSteps ?? T), false);
  judge('over the last fifth', T, W, true);
  const failed = windows.filter((w) => !w.ok);
  if (!failed.length) {
    const end = windows[windows.length - 1];
    return {
      status: 'converged',
      steps: T,
      windows,
      moreSteps: null,
      reason: `converged in ${T} steps (last fifth: loss fell ${end.lossFall!.toFixed(3)} nats, test accuracy rose ${pts(end.accuracyRise)})`,
    };
  }
  // A window before a drop that needs k more steps needs them before the
  // drop: the run, whose drop sits at a fraction d, then needs k / d more.
  const estimates = failed.map((w) => {
    if (w.moreSteps === null) return null;
    const d = w.to / T;
    return Math.ceil(w.moreSteps / d);
  });
  const moreSteps = estimates.some((e) => e === null) ? null : Math.max(...(estimates as number[]));
  const hint =
    moreSteps === null
      ? 'the trend does not slow, so no estimate (at least a doubling)'
      : `the measured trend suggests about ${moreSteps} more steps`;
  return {
    status: 'not converged',
    steps: T,
    windows,
    moreSteps,
    reason: `not converged after ${T} steps: ${failed.map((w) => w.why).join('; ')}; ${hint}`,
  };
}

/** Settled: converged, or diverged (no longer training would change that). */
export function isSettled(c: Pick<RunConvergence, 'status'>): boolean {
  return c.status !== 'not converged';
}

/**
 * The first step at which the test accuracy reaches `target`, interpolated
 * linearly between the epoch ends around the crossing (from step 0 at the
 * first epoch's value, the first evaluation being the earliest we know);
 * null if it never does.
 */
export function stepsToReach(epochs: readonly Pick<EpochRecord, 'step' | 'testAccuracy'>[], target: number): number | null {
  for (let i = 0; i < epochs.length; i++) {
    const e = epochs[i];
    if (e.testAccuracy < target) continue;
    if (i === 0) return e.step;
    const p = epochs[i - 1];
    return p.step + ((target - p.testAccuracy) / (e.testAccuracy - p.testAccuracy)) * (e.step - p.step);
  }
  return null;
}
