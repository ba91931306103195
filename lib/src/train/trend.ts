/**
 * Trends of a run's curves over a window of steps, by least squares: the
 * one place both the convergence rule (analysis/convergence) and the
 * plateau schedule (./schedule, applied by the training loop as it trains)
 * measure "still rising", so a run's rate drops exactly when the rule would
 * later call the stretch before the drop flat.
 */
import type { EpochRecord } from './loop';

export type Curve = Pick<EpochRecord, 'step' | 'trainLoss' | 'testAccuracy'>[];

/** Least-squares slope of y against x and its standard error (from the residuals; NaN with fewer than three points). */
export function slope(xs: readonly number[], ys: readonly number[]): { slope: number; error: number } {
  const n = xs.length;
  if (n < 2) return { slope: NaN, error: NaN };
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  if (den === 0) return { slope: NaN, error: NaN };
  const b = num / den;
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (ys[i] - my - b * (xs[i] - mx)) ** 2;
  return { slope: b, error: n > 2 ? Math.sqrt(rss / (n - 2) / den) : NaN };
}

/** The epoch ends in [from, to], plus the last one before `from` (the window's starting value). */
export function inWindow(curve: Curve, from: number, to: number): Curve {
  const inside = curve.filter((e) => e.step >= from && e.step <= to);
  const before = curve.filter((e) => e.step < from).pop();
  return before ? [before, ...inside] : inside;
}

/** Fall of the loss and rise of the accuracy (with its standard error) over [from, to], by least squares; NaN when too few points. */
export function trend(
  curve: Curve,
  from: number,
  to: number,
): { n: number; lossFall: number; accuracyRise: number; accuracyRiseError: number } {
  const w = inWindow(curve, from, to);
  const xs = w.map((e) => e.step);
  const acc = slope(
    xs,
    w.map((e) => e.testAccuracy),
  );
  return {
    n: w.length,
    lossFall:
      -slope(
        xs,
        w.map((e) => e.trainLoss),
      ).slope *
      (to - from),
    accuracyRise: acc.slope * (to - from),
    accuracyRiseError: acc.error * (to - from),
  };
}

/** What counts as "the test accuracy no longer rises" (the convergence rule's fields of the same names). */
export interface FlatnessTest {
  maxAccuracyRise: number;
  significance: number;
}

/** A rise up to maxAccuracyRise is flat; a larger one is flat while under `significance` standard errors. */
export function accuracyIsFlat(rise: number, error: number, t: FlatnessTest): boolean {
  return rise <= t.maxAccuracyRise || rise < t.significance * error;
}

/** The convergence rule's test of one window, on its trend (the rule's fields of the same names). */
export interface WindowTest extends FlatnessTest {
  maxLossFall: number;
  minEvaluations: number;
}

/**
 * Whether a window passes the rule: enough epoch ends, the test accuracy
 * flat, and (`withLoss`, the last fifth) the training loss no longer falling
 * by more than maxLossFall nats.
 */
export function windowPasses(t: ReturnType<typeof trend>, rule: WindowTest, withLoss: boolean): boolean {
  if (t.n < rule.minEvaluations || !Number.isFinite(t.accuracyRise)) return false;
  if (withLoss && t.lossFall > rule.maxLossFall) return false;
  return accuracyIsFlat(t.accuracyRise, t.accuracyRiseError, rule);
}
