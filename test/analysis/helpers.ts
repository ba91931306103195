// Fixture rows shared by the analysis tests.
import { sweep } from '../../lib/src/analysis';
import type { ConvergenceStatus } from '../../lib/src/analysis/convergence';
import type { Normaliser } from '../../lib/src/models';

/**
 * A sweep run's row with the given final accuracy; acc null = diverged (at
 * step 3). Without curves the row is not judged by the convergence rule, so
 * it says how the run is to count: converged by default (`not converged`
 * for the tests of what an unconverged run does to a verdict).
 */
export const sweepRowOf = (norm: Normaliser, learningRate: number, acc: number | null, seed = 1, convergence: 'converged' | 'not converged' = 'converged'): sweep.SweepRow => {
  const r = sweep.sweepRow(
    { norm, learningRate, seed },
    acc === null
      ? { status: 'diverged', final: null, divergence: { step: 3, loss: Infinity, reason: 'x' } }
      : { status: 'completed', final: { testAccuracy: acc, trainAccuracy: acc, testLoss: 1, trainLoss: 1 }, divergence: null },
  );
  const status: ConvergenceStatus = acc === null ? 'diverged' : convergence;
  return { ...r, convergence: status, steps: 100, moreSteps: status === 'not converged' ? 50 : null };
};
