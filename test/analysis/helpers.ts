// Fixture rows shared by the analysis tests.
import { sweep } from '../../lib/src/analysis';
import type { Norm } from '../../lib/src/models';

/** A sweep run's row with the given final accuracy; acc null = diverged (at step 3). */
export const sweepRowOf = (norm: Norm, learningRate: number, acc: number | null, seed = 1): sweep.SweepRow =>
  sweep.sweepRow(
    { norm, learningRate, seed },
    acc === null
      ? { status: 'diverged', final: null, divergence: { step: 3, loss: Infinity, reason: 'x' } }
      : { status: 'completed', final: { testAccuracy: acc, trainAccuracy: acc, testLoss: 1, trainLoss: 1 }, divergence: null },
  );
