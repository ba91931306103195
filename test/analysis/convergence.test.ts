import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convergence, rq1 } from '../../lib/src/analysis';
import { budgetEpochs } from '../../lib/src/experiments';

const { runConvergence, CONVERGENCE_RULE, moreStepsFromTrend, stepsToReach, slope } = convergence;

/** A synthetic run: `epochs` epoch ends of `perEpoch` steps, loss and accuracy as functions of the step. */
function run(epochs: number, perEpoch: number, loss: (t: number) => number, acc: (t: number) => number, status: 'completed' | 'diverged' = 'completed') {
  const curve = Array.from({ length: epochs }, (_, i) => {
    const step = (i + 1) * perEpoch;
    return { step, trainLoss: loss(step), testAccuracy: acc(step) };
  });
  return { status, totalSteps: epochs * perEpoch, epochs: curve, divergence: status === 'diverged' ? { step: epochs * perEpoch } : null };
}

// A run that levels off: exponential approach with a time constant of 50 steps.
const levels = (t: number) => 0.1 + 2 * Math.exp(-t / 50);
const rises = (t: number) => 0.85 - 0.75 * Math.exp(-t / 50);
// A run still climbing: a slow, steady fall and rise.
const slowLoss = (t: number) => 2.3 - t / 1000;
const slowAcc = (t: number) => 0.1 + t / 2000;
// Test accuracy on a plateau with ±1.5 points of alternating noise.
const noisyFlat = (t: number) => 0.8 + (Math.round(t / 15) % 2 ? 0.015 : -0.015);

describe('convergence rule', () => {
  it('a curve that has levelled off has converged, before the drop and at the end', () => {
    const c = runConvergence(run(40, 30, levels, rises), { drops: [{ at: 0.5 }] });
    assert.equal(c.status, 'converged');
    assert.equal(c.windows.length, 2);
    assert.ok(c.windows.every((w) => w.ok));
    assert.equal(c.moreSteps, null);
    assert.match(c.reason, /^converged in 1200 steps/);
  });

  it('a curve still rising has not converged, says why, and estimates the steps its slowing trend needs', () => {
    // Still rising over the last fifth, but slowing: exponential with a long time constant.
    const c = runConvergence(run(20, 15, (t) => 0.5 + 2 * Math.exp(-t / 400), (t) => 0.85 - 0.75 * Math.exp(-t / 400)), { drops: [] });
    assert.equal(c.status, 'not converged');
    const end = c.windows[0];
    assert.ok(end.lossFall! > CONVERGENCE_RULE.maxLossFall, `loss fell ${end.lossFall}`);
    assert.ok(end.accuracyRise > CONVERGENCE_RULE.maxAccuracyRise);
    assert.match(c.reason, /the training loss still fell .* nats .* the test accuracy still rose/);
    assert.ok(c.moreSteps !== null && c.moreSteps > 0, `an estimate: ${c.moreSteps}`);
    assert.match(c.reason, /the measured trend suggests about \d+ more steps/);
  });

  it('a steady climb that does not slow gets no estimate', () => {
    const c = runConvergence(run(20, 15, slowLoss, slowAcc));
    assert.equal(c.status, 'not converged');
    assert.equal(c.moreSteps, null);
    assert.match(c.reason, /the trend does not slow, so no estimate/);
  });

  it('a diverged run is settled as diverged', () => {
    const c = runConvergence(run(3, 10, () => 1e4, () => 0.1, 'diverged'));
    assert.equal(c.status, 'diverged');
    assert.equal(convergence.isSettled(c), true);
    assert.equal(convergence.isSettled({ status: 'not converged' }), false);
  });

  it('a drop that came while the test accuracy was still rising leaves the run unconverged, however flat its end', () => {
    // Rising steadily until the drop at 50%, flat after it.
    const acc = (t: number) => (t <= 300 ? 0.1 + t / 600 : 0.6);
    const loss = (t: number) => (t <= 300 ? 2 - t / 300 : 1);
    const c = runConvergence(run(40, 15, loss, acc), { drops: [{ at: 0.5 }] });
    assert.equal(c.status, 'not converged');
    assert.equal(c.windows[0].ok, false);
    assert.equal(c.windows[1].ok, true);
    assert.match(c.reason, /before the drop at 50%: the test accuracy still rose/);
  });

  it('noise of a point or two around a plateau is not a rise; a flat loss at memorisation is not a fall', () => {
    const c = runConvergence(run(40, 15, (t) => 0.01 * Math.exp(-t / 600), noisyFlat), { drops: [{ at: 0.5 }] });
    assert.equal(c.status, 'converged', c.reason);
  });

  it('a run too short for 5 evaluations in a window is not judged converged, and says how many steps it needs', () => {
    const c = runConvergence(run(4, 10, levels, rises));
    assert.equal(c.status, 'not converged');
    assert.match(c.reason, /evaluations? in the window, fewer than 5/);
    // 4 gaps of an epoch in a fifth: 20 epochs of 10 steps, 160 more than the 40 it has.
    assert.equal(c.moreSteps, 160);
  });

  it('least squares: slope and its standard error; the trend estimate', () => {
    const s = slope([0, 1, 2, 3], [1, 3, 5, 7]);
    assert.equal(s.slope, 2);
    assert.equal(s.error, 0);
    assert.ok(Number.isNaN(slope([1], [1]).slope));
    // Halving each window from 0.4: 0.2, 0.1, 0.05 → three windows of 100 to reach ≤ 0.05.
    assert.equal(moreStepsFromTrend(0.8, 0.4, 0.05, 100), 300);
    assert.equal(moreStepsFromTrend(0.4, 0.4, 0.05, 100), null);
    assert.equal(moreStepsFromTrend(0.4, 0.01, 0.05, 100), 0);
  });
});

describe('steps to a target accuracy', () => {
  it('interpolates between the epoch ends around the crossing; null when never reached', () => {
    const e = [{ step: 10, testAccuracy: 0.5 }, { step: 20, testAccuracy: 0.7 }, { step: 30, testAccuracy: 0.9 }];
    assert.equal(stepsToReach(e, 0.8), 25);
    assert.equal(stepsToReach(e, 0.4), 10);
    assert.equal(stepsToReach(e, 0.95), null);
  });

  it('the speed verdict: reproduced when BN is clearly and consistently faster, not when it is slower, inconclusive when a run has not converged', () => {
    const curve = (rate: number) => ({ epochs: Array.from({ length: 20 }, (_, i) => ({ step: (i + 1) * 10, testAccuracy: 0.8 * (1 - Math.exp(-((i + 1) * 10) / rate)) })) });
    const runs = (model: 'BN' | 'no BN', rate: number, conv: 'converged' | 'not converged' = 'converged') =>
      [1, 2].map((seed) => ({ model, learningRate: model === 'BN' ? 0.1 : 0.01, seed, result: curve(rate * (1 + 0.05 * seed)), convergence: conv }));
    const fast = rq1.speedVerdict(runs('BN', 10), runs('no BN', 40));
    assert.equal(fast.pass, true);
    assert.ok(fast.value < 0.75 && fast.value > 0);
    assert.equal(fast.converged, true);
    const slow = rq1.speedVerdict(runs('BN', 40), runs('no BN', 10));
    assert.equal(slow.pass, false);
    const close = rq1.speedVerdict(runs('BN', 35), runs('no BN', 40));
    assert.equal(close.pass, null, 'faster, but not by the rule\'s margin');
    const pending = rq1.speedVerdict(runs('BN', 10, 'not converged'), runs('no BN', 40));
    assert.equal(pending.pass, null);
    assert.match(pending.note, /Inconclusive: not converged: BN lr 0.1 seed 1/);
  });
});

describe('the training budget', () => {
  it('grows as the rate falls, from the base epochs to the cap', () => {
    const b = { epochs: 20, atRate: 0.1, growth: 0.5, maxEpochs: 100 };
    assert.deepEqual([0.3, 0.1, 0.03, 0.01, 0.003, 0.0001].map((lr) => budgetEpochs(b, lr)), [20, 20, 37, 64, 100, 100]);
    assert.equal(budgetEpochs({ ...b, growth: 0 }, 0.001), 20);
    assert.throws(() => budgetEpochs(b, 0), /positive/);
  });
});
