/**
 * The plateau schedule: the rate drops when the test accuracy has stopped
 * rising over the stretch the convergence rule will judge before the drop,
 * and the run then ends at drop / at, so the drop sits where the rule
 * expects it. Synthetic curves for the trigger; a real (tiny) run for the loop.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { channelStats, Dataset, loadFashionMnist, normalize, subset } from '../../lib/src/data';
import { mlp } from '../../lib/src/models';
import { checkSchedule, PlateauSchedule, plateauReached } from '../../lib/src/train/schedule';
import { train } from '../../lib/src/train/loop';
import { CONVERGENCE_RULE, runConvergence, scheduleDrops } from '../../lib/src/analysis/convergence';
import { Rng } from '../../lib/src/util/rng';

const plateau: PlateauSchedule = {
  kind: 'plateau',
  factor: 0.1,
  at: 0.5,
  window: CONVERGENCE_RULE.window,
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

  it('drops once learning has slowed, ends at drop / at, and the rule finds the stretch before the drop flat', async () => {
    const m = mlp({ depth: 1, width: 32, norm: 'batch', inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const cap = 60;
    const r = await train(m, data, { epochs: cap, batchSize: 100, learningRate: 0.05, seed: 1, schedule: plateau });
    m.dispose();
    assert.equal(r.status, 'completed');
    const drop = r.epochs.findIndex((e, i) => i > 0 && e.learningRate < r.epochs[0].learningRate);
    assert.ok(drop > 0, 'the rate dropped');
    // The epoch record carries the rate of its last step: the drop came at the end of the epoch before.
    const dropStep = r.epochs[drop - 1].step;
    assert.ok(r.epochs.length < cap, `it stopped before the cap (${r.epochs.length} epochs)`);
    assert.equal(r.totalSteps, 2 * dropStep, 'the run ends at drop / at');
    for (const e of r.epochs.slice(drop)) assert.ok(Math.abs(e.learningRate - 0.005) < 1e-12, `lr ${e.learningRate}`);
    assert.ok(plateauReached(plateau, r.epochs.slice(0, drop), dropStep), 'the trigger held at the drop');
    const c = runConvergence(r, { drops: scheduleDrops(plateau), rule: CONVERGENCE_RULE });
    const before = c.windows.find((w) => w.name.startsWith('before the drop'))!;
    assert.equal(before.to, dropStep);
    assert.ok(before.ok, before.why);
  });

  it('drops at `at` of the cap at the latest, and then trains the whole cap', async () => {
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
