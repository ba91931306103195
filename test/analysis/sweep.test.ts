import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sweep } from '../../lib/src/analysis';
import { budgetEpochs, lrSweepBase, PROFILES, sweepSpec } from '../../lib/src/experiments';
import { NORM_LABEL } from '../../lib/src/models/norm';
import { canonicalJson } from '../../lib/src/store';
import { sweepRowOf } from './helpers';

const row = sweepRowOf;

// Shaped like the paper: no BN diverges above 0.003 (and does not learn at 0.003), final-only above 0.03, BN nowhere.
const paperLike: sweep.SweepRow[] = [
  row('none', 0.1, null), row('none', 0.03, null), row('none', 0.01, null), row('none', 0.003, 0.12), row('none', 0.001, 0.8), row('none', 0.0001, 0.82), row('none', 0.00003, 0.7),
  row('final-only', 0.1, null), row('final-only', 0.03, 0.88), row('final-only', 0.01, 0.9), row('final-only', 0.003, 0.89), row('final-only', 0.001, 0.86), row('final-only', 0.0001, 0.8),
  row('batch', 0.1, 0.93), row('batch', 0.03, 0.92), row('batch', 0.01, 0.91), row('batch', 0.003, 0.905), row('batch', 0.001, 0.88), row('batch', 0.0001, 0.81),
];

describe('sweep: run specs', () => {
  it('is the shared base with only norm, learning rate, seed and the rate\'s budget set, for every profile and norm', () => {
    for (const profile of PROFILES) {
      const base = lrSweepBase(profile);
      for (const norm of ['batch', 'none', 'final-only'] as const) {
        const s = sweepSpec(base, { norm, learningRate: 0.003, seed: 2 });
        assert.deepEqual(s.data, base.data);
        assert.deepEqual(s.model, { ...base.model, norm, seed: 2 });
        assert.deepEqual(s.train, { ...base.train, epochs: budgetEpochs(base.budget, 0.003), learningRate: 0.003, seed: 2 });
      }
    }
  });

  it('keys as both notebooks build it: the base spread, then the budget, norm, learning rate and seed (the store keys on everything but the label)', () => {
    for (const profile of PROFILES) {
      const base = lrSweepBase(profile);
      for (const norm of ['batch', 'none', 'final-only'] as const) {
        const { label, ...keyed } = sweepSpec(base, { norm, learningRate: 0.01, seed: 1 });
        // How both notebooks built it: the base's objects spread, then norm/learningRate and seed.
        const before = { data: base.data, model: { ...base.model, norm, seed: 1 }, train: { ...base.train, epochs: budgetEpochs(base.budget, 0.01), learningRate: 0.01, seed: 1 } };
        assert.equal(JSON.stringify(keyed), JSON.stringify(before));
        assert.equal(canonicalJson(keyed), canonicalJson(before));
        assert.equal(label, `${NORM_LABEL[norm]}, lr 0.01, seed 1`);
      }
    }
  });
});

describe('sweep: rows and rate points', () => {
  it('a run becomes a row; a diverged run has no accuracy', () => {
    const p = { norm: 'none' as const, learningRate: 0.1, seed: 1 };
    assert.deepEqual(sweep.sweepRow(p, { status: 'diverged', final: null, divergence: { step: 5, loss: 1e4, reason: 'loss' } }), {
      ...p, model: 'no BN', diverged: true, testAccuracy: null, trainAccuracy: null, divergedAtStep: 5, convergence: 'diverged', steps: null, moreSteps: null,
    });
    const done = sweep.sweepRow({ ...p, norm: 'final-only' }, { status: 'completed', final: { testAccuracy: 0.8, trainAccuracy: 0.85, testLoss: 0.5, trainLoss: 0.4 }, divergence: null });
    assert.deepEqual([done.model, done.testAccuracy, done.trainAccuracy, done.diverged, done.divergedAtStep], ['final-only BN', 0.8, 0.85, false, null]);
    assert.equal(done.convergence, null, 'without its curves a run is not judged');
  });

  it('one diverged seed makes a rate unstable; the mean is over the seeds that completed; a run listed twice counts once', () => {
    const rows = [row('batch', 0.1, 0.9, 1), row('batch', 0.1, null, 2), row('batch', 0.03, 0.8, 1), row('batch', 0.03, 0.7, 2), row('batch', 0.03, 0.7, 2)];
    const pts = sweep.ratePoints(rows);
    assert.equal(pts.length, 2);
    assert.deepEqual(pts.find((p) => p.learningRate === 0.1), { norm: 'batch', learningRate: 0.1, runs: 2, divergedRuns: 1, meanTestAccuracy: 0.9, unsettledRuns: 0, steps: { min: 100, max: 100 } });
    const p003 = pts.find((p) => p.learningRate === 0.03)!;
    assert.equal(p003.runs, 2);
    assert.ok(Math.abs(p003.meanTestAccuracy! - 0.75) < 1e-12);
    assert.equal(sweep.largestStableLearningRate(rows, 'batch'), 0.03);
  });

  it('stable: did not diverge and learned (mean test accuracy > 0.2 by default); completed: did not diverge', () => {
    const pts = sweep.ratePoints([row('none', 0.1, null), row('none', 0.01, 0.15), row('none', 0.001, 0.5)]);
    const at = (lr: number) => pts.find((p) => p.learningRate === lr)!;
    assert.equal(sweep.DEFAULT_LEARNED_ABOVE, 0.2);
    assert.deepEqual([sweep.isStable(at(0.1)), sweep.isStable(at(0.01)), sweep.isStable(at(0.001)), sweep.isStable(at(0.001), 0.6)], [false, false, true, false]);
    assert.deepEqual([sweep.isCompleted(at(0.1)), sweep.isCompleted(at(0.01)), sweep.isCompleted(at(0.001))], [false, true, true]);
  });
});

describe('sweep: stable and best rates', () => {
  it('the largest stable rate skips diverged rates and rates at chance', () => {
    assert.equal(sweep.largestStableLearningRate(paperLike, 'none'), 0.001); // 0.003 completed at 12%: not above 0.2
    assert.equal(sweep.largestStableLearningRate(paperLike, 'none', 0.1), 0.003);
    assert.equal(sweep.largestStableLearningRate(paperLike, 'final-only'), 0.03);
    assert.equal(sweep.largestStableLearningRate(paperLike, 'batch'), 0.1);
    assert.equal(sweep.largestStableLearningRate([row('none', 0.1, null)], 'none'), null);
  });

  it('bestStableRate: the most accurate stable rate; bestCompletedRate: the most accurate rate that did not diverge, learned or not', () => {
    assert.deepEqual(sweep.bestStableRate(paperLike, 'none'), { norm: 'none', learningRate: 0.0001, runs: 1, divergedRuns: 0, meanTestAccuracy: 0.82, unsettledRuns: 0, steps: { min: 100, max: 100 } });
    assert.equal(sweep.bestCompletedRate(paperLike, 'final-only')!.learningRate, 0.01);
    const atChance = [row('none', 0.1, null), row('none', 0.01, 0.12), row('none', 0.001, 0.14)];
    assert.equal(sweep.bestStableRate(atChance, 'none'), null);
    assert.equal(sweep.bestCompletedRate(atChance, 'none')!.learningRate, 0.001);
    assert.equal(sweep.bestStableRate([row('batch', 0.1, null)], 'batch'), null);
    assert.equal(sweep.bestCompletedRate([row('batch', 0.1, null)], 'batch'), null);
  });

  it('a tie in best accuracy goes to the larger rate', () => {
    const tie = [row('batch', 0.01, 0.8), row('batch', 0.1, 0.8)];
    assert.equal(sweep.bestStableRate(tie, 'batch')!.learningRate, 0.1);
    assert.equal(sweep.bestCompletedRate(tie, 'batch')!.learningRate, 0.1);
  });
});

describe('distinctRuns', () => {
  it('keeps the first row of each (norm, rate, seed), so a run reached through the grid and again through Fig. 1 counts once in a mean', () => {
    const a = row('batch', 0.1, 0.9, 1);
    const rows = sweep.distinctRuns([a, row('batch', 0.1, 0.8, 2), row('none', 0.1, null, 1), { ...a }]);
    assert.equal(rows.length, 3);
    assert.equal(rows[0], a);
    assert.equal(sweep.ratePoints(rows).find((p) => p.norm === 'batch')!.runs, 2);
  });
});
