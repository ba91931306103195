/**
 * The plateau schedule: the rate drops when the test accuracy has stopped
 * rising over the stretch the convergence rule will judge before the drop,
 * and the run ends, at drop / at or later, once the rule holds: a run that
 * stops before its cap has converged by the rule. Synthetic curves for the
 * triggers; a real (tiny) run for the loop.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { channelStats, Dataset, loadFashionMnist, normalize, subset } from '../../lib/src/data';
import { mlp } from '../../lib/src/models';
import { checkSchedule, firstDropStep, PlateauSchedule, plateauConverged, plateauReached } from '../../lib/src/train/schedule';
import { train } from '../../lib/src/train/loop';
import { CONVERGENCE_RULE, runConvergence, scheduleDrops } from '../../lib/src/analysis/convergence';
import { Rng } from '../../lib/src/util/rng';

const plateau: PlateauSchedule = {
  kind: 'plateau',
  factor: 0.1,
  at: 0.5,
  window: CONVERGENCE_RULE.window,
  maxLossFall: CONVERGENCE_RULE.maxLossFall,
  maxAccuracyRise: CONVERGENCE_RULE.maxAccuracyRise,
  significance: CONVERGENCE_RULE.significance,
  minEvaluations: CONVERGENCE_RULE.minEvaluations,
};
const curve = (acc: (epoch: number) => number, epochs: number, perEpoch = 10) =>
  Array.from({ length: epochs }, (_, i) => ({ step: (i + 1) * perEpoch, trainLoss: 1, testAccuracy: acc(i + 1) }));

describe('plateau schedule: when it drops', () => {
  it('not while the test accuracy still rises', () => {
    const c = curve((e) => 0.1 + 0.02 * e, 30);
    assert.equal(plateauReached(plateau, c, 300), false);
  });
  it('once it is flat over the last window / at of the steps', () => {
    // Rises for 10 epochs, then flat: at epoch 30 the last 40% (epochs 18–30) is flat.
    const c = curve((e) => (e < 10 ? 0.1 + 0.07 * e : 0.8), 30);
    assert.equal(plateauReached(plateau, c, 300), true);
    // At epoch 12 the last 40% (from epoch 7.2) still holds the rise.
    assert.equal(plateauReached(plateau, c.slice(0, 12), 120), false);
  });
  it('not with fewer epoch ends in the window than the rule needs', () => {
    const c = curve(() => 0.8, 6);
    assert.equal(plateauReached(plateau, c, 60), false, '6 epochs: the window holds 3 ends');
  });
  it('stops only from drop / at on, once the last fifth and the fifth before the drop are flat', () => {
    // Flat at 0.8 from epoch 10, the loss flat too: drop after epoch 20.
    const c = curve((e) => (e < 10 ? 0.1 + 0.07 * e : 0.8), 60);
    assert.equal(plateauConverged(plateau, c.slice(0, 39), 390, 200), false, 'before drop / at');
    assert.equal(plateauConverged(plateau, c.slice(0, 40), 400, 200), true);
    // The loss still falling 0.1 nats a fifth: not yet.
    const falling = c.map((e) => ({ ...e, trainLoss: 2 - e.step / 400 }));
    assert.equal(plateauConverged(plateau, falling.slice(0, 40), 400, 200), false);
  });
  it('keeps the stretch before the drop it was judged on when the run trains on past drop / at', () => {
    // Rises steeply for 10 epochs, then flat: the drop after epoch 17 (the
    // last 40% of 17 epochs, from 10.2 on, is flat). The loss keeps falling
    // 0.1 nats every 10 epochs until epoch 70, then stays: the run trains on
    // to 80 epochs, far past its plan of 34.
    const c = curve((e) => (e < 10 ? 0.1 + 0.07 * e : 0.8), 90).map((e) => ({ ...e, trainLoss: 2 - Math.min(e.step, 700) / 1000 }));
    assert.equal(plateauReached(plateau, c.slice(0, 17), 170), true);
    assert.equal(plateauConverged(plateau, c.slice(0, 60), 600, 170), false, 'the loss still falls');
    // At epoch 90 the last fifth (72–90) is flat; the stretch before the drop
    // is still epochs 10.2–17, not a fifth of 90 (epochs −1–17, the steep start).
    assert.equal(plateauConverged(plateau, c, 900, 170), true);
    const drops = scheduleDrops(plateau, { totalSteps: 900, epochs: c.map((e) => ({ ...e, learningRate: e.step <= 170 ? 0.1 : 0.01 })) });
    assert.deepEqual(drops, [{ at: 170 / 900, plannedSteps: 340 }]);
    const judged = runConvergence({ status: 'completed', totalSteps: 900, epochs: c }, { drops });
    assert.equal(judged.status, 'converged', judged.reason);
    const before = judged.windows.find((w) => w.name.startsWith('before the drop'))!;
    assert.deepEqual([before.from, before.to], [102, 170]);
    // Judged on a fifth of the final 900 steps, the stretch reaches into the
    // rise and the run could never pass, however long it trained.
    const grown = runConvergence({ status: 'completed', totalSteps: 900, epochs: c }, { drops: [{ at: 170 / 900 }] });
    assert.equal(grown.status, 'not converged');
    assert.match(grown.reason, /before the drop at 19%: the test accuracy still rose/);
  });
  it('rejects a malformed schedule with the field named', () => {
    assert.throws(() => checkSchedule({ ...plateau, at: 1.5 }), /at must be a fraction/);
    assert.throws(() => checkSchedule({ ...plateau, window: 0.7 }), /window must be in/);
    assert.throws(() => checkSchedule({ ...plateau, minEvaluations: 1 }), /minEvaluations/);
  });
});

describe('plateau schedule in the training loop', () => {
  let data: { train: Dataset; test: Dataset };
  before(async () => {
    await initBackend({ quiet: true });
    const rng = new Rng(0);
    const tr = subset(loadFashionMnist({ split: 'train' }), 500, rng);
    const te = subset(loadFashionMnist({ split: 'test' }), 200, rng);
    const stats = channelStats(tr);
    data = { train: normalize(tr, stats), test: normalize(te, stats) };
  });

  it('drops once learning has slowed, stops once the rule holds, and the rule then calls the run converged', async () => {
    const m = mlp({ depth: 1, width: 32, norm: 'batch', inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const cap = 80;
    const r = await train(m, data, { epochs: cap, batchSize: 100, learningRate: 0.05, seed: 1, schedule: plateau });
    m.dispose();
    assert.equal(r.status, 'completed');
    const dropStep = firstDropStep(r.epochs);
    assert.ok(dropStep !== null, 'the rate dropped');
    const drop = r.epochs.findIndex((e) => e.step === dropStep) + 1;
    assert.ok(r.epochs.length < cap, `it stopped before the cap (${r.epochs.length} epochs)`);
    assert.ok(r.totalSteps >= 2 * dropStep!, 'the run ends at drop / at or later');
    for (const e of r.epochs.slice(drop)) assert.ok(Math.abs(e.learningRate - 0.005) < 1e-12, `lr ${e.learningRate}`);
    assert.ok(plateauReached(plateau, r.epochs.slice(0, drop), dropStep!), 'the trigger held at the drop');
    const drops = scheduleDrops(plateau, r);
    assert.deepEqual(drops, [{ at: dropStep! / r.totalSteps, plannedSteps: 2 * dropStep! }]);
    const c = runConvergence(r, { drops, rule: CONVERGENCE_RULE });
    assert.equal(c.status, 'converged', c.reason);
    assert.equal(c.windows.find((w) => w.name.startsWith('before the drop'))!.to, dropStep);
  });

  it('drops at `at` of the cap at the latest, and stops at the cap', async () => {
    const m = mlp({ depth: 1, width: 32, norm: 'batch', inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    // minEvaluations above the epochs there are: the trigger can never fire.
    const r = await train(m, data, { epochs: 8, batchSize: 100, learningRate: 0.05, seed: 1, schedule: { ...plateau, minEvaluations: 50 } });
    m.dispose();
    assert.equal(r.totalSteps, 8 * 5);
    assert.deepEqual(
      r.epochs.map((e) => e.learningRate),
      [0.05, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005].map((x, i) => (i < 4 ? 0.05 : 0.05 * 0.1)),
    );
  });
});
