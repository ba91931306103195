/**
 * The convergence rule's numbers (the rule itself: analysis/convergence).
 * They sit with the experiments' settings because a setting uses them too:
 * the quick profile's plateau schedule drops the rate by the same test the
 * rule later applies to the stretch before the drop.
 */
import type { PlateauSchedule } from '../train/schedule';

export interface ConvergenceRule {
  /** The window, as a fraction of the run's steps: the last fifth. */
  window: number;
  /** Largest fall of the training loss over the last window, in nats. */
  maxLossFall: number;
  /** A rise of the test accuracy over a window up to this always counts as flat (a fraction: 0.01 is 1 point). */
  maxAccuracyRise: number;
  /** A larger rise counts as flat while it is under this many of its standard errors. */
  significance: number;
  /** Fewest epoch ends a window must hold to be judged. */
  minEvaluations: number;
}

/** Fixed before any run of the convergence redesign (see the RQ1 notebook's "Convergence" section). */
export const CONVERGENCE_RULE: ConvergenceRule = {
  window: 0.2,
  maxLossFall: 0.05,
  maxAccuracyRise: 0.01,
  significance: 2,
  minEvaluations: 5,
};

/** A plateau schedule (one drop by `factor` when learning slows, at `at` of the run) that drops by `rule`'s test. */
export function plateauSchedule(o: { factor: number; at: number }, rule: ConvergenceRule = CONVERGENCE_RULE): PlateauSchedule {
  const { window, maxLossFall, maxAccuracyRise, significance, minEvaluations } = rule;
  return { kind: 'plateau', factor: o.factor, at: o.at, window, maxLossFall, maxAccuracyRise, significance, minEvaluations };
}
