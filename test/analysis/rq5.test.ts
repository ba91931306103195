import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as rq5 from '../../lib/src/analysis/rq5';
import { initBackend } from '../../lib/src/backend';
import { PointInfo } from '../../lib/src/models';

before(async () => {
  await initBackend({ quiet: true });
});

const close = (a: number, b: number, rel: number, what = '') => assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what}: ${a} vs ${b} (rel ${rel})`);

/** Probe rows from per-batch lists of relative losses on the grid 1e-3, 1e-2, 1e-1, 1. */
const GRID = [1e-3, 1e-2, 1e-1, 1];
const rowsOf = (...batches: number[][]) => batches.flatMap((rs, batch) => rs.map((relativeLoss, i) => ({ batch, stepSize: GRID[i], relativeLoss, loss: relativeLoss * 2 })));

describe('stableStep', () => {
  it('interpolates the crossing of the bound in log–log between the grid steps around it', () => {
    // 0.5 at 1e-2 and 2 at 1e-1: log r is linear in log α with slope log 4 per decade; r = 1 halfway, at 10^-1.5.
    const s = rq5.stableStep([{ stepSize: 1e-3, relativeLoss: 0.9 }, { stepSize: 1e-1, relativeLoss: 2 }, { stepSize: 1e-2, relativeLoss: 0.5 }, { stepSize: 1, relativeLoss: 50 }]);
    assert.equal(s.censored, null);
    assert.equal(s.lastStable, 1e-2);
    assert.equal(s.firstUnstable, 1e-1);
    close(s.step!, 10 ** -1.5, 1e-12, 'crossing');
    // Another bound.
    close(rq5.stableStep([{ stepSize: 1e-2, relativeLoss: 1 }, { stepSize: 1e-1, relativeLoss: 100 }], 10).step!, 10 ** -1.5, 1e-12, 'bound 10');
  });

  it('stops at the first unstable step even if a larger one dips back, and takes the last stable step when the next overflowed', () => {
    const s = rq5.stableStep([{ stepSize: 1e-3, relativeLoss: 0.5 }, { stepSize: 1e-2, relativeLoss: Infinity }, { stepSize: 1e-1, relativeLoss: 0.2 }]);
    assert.deepEqual(s, { step: 1e-3, censored: null, lastStable: 1e-3, firstUnstable: 1e-2 });
    assert.equal(rq5.stableStep([{ stepSize: 1e-3, relativeLoss: 0.5 }, { stepSize: 1e-2, relativeLoss: NaN }]).firstUnstable, 1e-2);
  });

  it('says when the grid does not bracket the crossing, and ignores step 0', () => {
    assert.deepEqual(rq5.stableStep([{ stepSize: 0, relativeLoss: 1 }, { stepSize: 1e-3, relativeLoss: 3 }]), { step: null, censored: 'below', lastStable: null, firstUnstable: 1e-3 });
    assert.deepEqual(rq5.stableStep([{ stepSize: 1e-3, relativeLoss: 0.3 }, { stepSize: 1, relativeLoss: 0.9 }]), { step: null, censored: 'above', lastStable: 1, firstUnstable: null });
    assert.throws(() => rq5.stableStep([]), /no positive step sizes/);
    assert.throws(() => rq5.stableStep([{ stepSize: 1, relativeLoss: 1 }], 0), /bound must be positive/);
  });
});

describe('stableStepOverBatches', () => {
  it('takes the geometric mean over mini-batches, with their range', () => {
    // Crossings at 1e-2 exactly (r = 1 at a grid step counts as unstable: the last stable is 1e-3, r there 0.1 → interpolated 1e-2).
    const s = rq5.stableStepOverBatches(rowsOf([0.1, 1, 5, 9], [0.5, 0.9, 0.9, 9]));
    close(s.low!, 1e-2, 1e-12, 'low');
    // Second batch: between 1e-1 (0.9) and 1 (9): log-fraction log(1/0.9)/log 10.
    const second = 10 ** (-1 + Math.log(1 / 0.9) / Math.log(10));
    close(s.high!, second, 1e-12, 'high');
    close(s.step!, Math.sqrt(1e-2 * second), 1e-12, 'geometric mean');
    assert.equal(s.estimate, s.step);
    assert.equal(s.batches, 2);
  });

  it('is censored when any mini-batch is, with the grid edge as the estimate', () => {
    const s = rq5.stableStepOverBatches(rowsOf([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]));
    assert.equal(s.step, null);
    assert.equal(s.censored, 'above');
    close(s.estimate, 1, 1e-12, 'estimate');
    assert.equal(rq5.stableStepOverBatches(rowsOf([0.1, 0.2, 0.3, 0.4], [2, 3, 4, 5])).censored, 'mixed');
  });
});

describe('relativeLossEnvelope and divergentStep', () => {
  it('gives min, median and max per step, NaN counting as overflow', () => {
    const env = rq5.relativeLossEnvelope(rowsOf([1, 2, 3, 4], [3, 4, 5, NaN], [2, 3, Infinity, 6]));
    assert.deepEqual(env.map((e) => e.stepSize), GRID);
    assert.deepEqual(env[0], { stepSize: 1e-3, min: 1, median: 2, max: 3 });
    assert.deepEqual(env[2], { stepSize: 1e-1, min: 3, median: 5, max: Infinity });
    assert.deepEqual(env[3], { stepSize: 1, min: 4, median: 6, max: Infinity });
    // An even count: the middle two averaged.
    assert.equal(rq5.relativeLossEnvelope(rowsOf([1], [4]))[0].median, 2.5);
  });

  it('finds the smallest step where every mini-batch passes the threshold', () => {
    const rows = rowsOf([0.5, 2e3, 1e6, Infinity], [0.5, 50, 1e7, 1e9]);
    assert.equal(rq5.divergentStep(rows, 1e3), 1e-1);
    assert.equal(rq5.divergentStep(rows, 10), 1e-2);
    assert.equal(rq5.divergentStep(rows, 1e12), null);
  });
});

describe('fig3Verdict', () => {
  const rule = { noBnAbove: 1e3, noBnStep: 1e-2, bnBelow: 10, bnStep: 1e-1 };
  const bn = rowsOf([0.99, 0.8, 2.5, 30], [0.98, 0.7, 3, 20]);

  it('passes when no BN blows up by 1e-2 on every batch and BN stays below 10 up to 1e-1', () => {
    const r = rq5.fig3Verdict(rowsOf([0.5, 5e3, Infinity, Infinity], [0.4, 2e4, 1e9, Infinity]), bn, rule);
    assert.equal(r.pass, true);
    assert.equal(r.noBnMax, 5e3);
    assert.equal(r.noBnBlowUpStep, 1e-2);
    assert.equal(r.bnWorst, 3);
    assert.equal(r.bnMin, 0.75);
    assert.equal(r.bnMinStep, 1e-2);
    assert.equal(r.noBnAtBnMin, (5e3 + 2e4) / 2);
    assert.equal(r.metricStep, 1e-2);
    assert.equal(r.blowUpCensored, false);
  });

  it('gives the largest step probed as the metric when no BN never passes, and says so', () => {
    const r = rq5.fig3Verdict(rowsOf([0.5, 5, 9, 20]), bn, rule);
    assert.equal(r.pass, false);
    assert.equal(r.noBnBlowUpStep, null);
    assert.equal(r.metricStep, 1);
    assert.equal(r.blowUpCensored, true);
  });

  it('fails when one batch of no BN stays tame, or BN passes its bound', () => {
    assert.equal(rq5.fig3Verdict(rowsOf([0.5, 5e3, 1e9, 1e9], [0.4, 20, 1e9, 1e9]), bn, rule).pass, false);
    const r = rq5.fig3Verdict(rowsOf([0.5, 5e3, 1e9, 1e9]), rowsOf([0.9, 0.8, 12, 30]), rule);
    assert.equal(r.pass, false);
    assert.match(r.reason, /BN does not stay below 10/);
  });

  it('is inconclusive when the grid stops short of the rule', () => {
    const short = (rows: ReturnType<typeof rowsOf>) => rows.filter((r) => r.stepSize < 0.05);
    assert.equal(rq5.fig3Verdict(short(rowsOf([0.5, 5e3])), short(bn), rule).pass, null);
  });
});

describe('depthVerdict', () => {
  const d = (depth: number, step: number | null, estimate = step ?? 1): rq5.DepthStable => ({ depth, step, estimate, censored: step === null ? 'above' : null });

  it('passes when the stable step never grows with depth and ends lower', () => {
    const r = rq5.depthVerdict([d(56, 0.01), d(8, 2), d(20, 0.5), d(110, 1e-3)]);
    assert.equal(r.pass, true);
    close(r.ratio, 5e-4, 1e-12, 'ratio');
  });

  it('fails on a rise, and on no change', () => {
    const r = rq5.depthVerdict([d(8, 0.5), d(20, 1), d(56, 0.01)]);
    assert.equal(r.pass, false);
    assert.match(r.reason, /grows at depth 20/);
    assert.equal(rq5.depthVerdict([d(8, 0.5), d(20, 0.5)]).pass, false);
  });

  it('is inconclusive with one depth or a censored one, still giving a ratio from the estimates', () => {
    assert.equal(rq5.depthVerdict([d(8, 1)]).pass, null);
    const r = rq5.depthVerdict([d(8, null, 10), d(56, 0.01)]);
    assert.equal(r.pass, null);
    close(r.ratio, 1e-3, 1e-12, 'ratio');
    assert.match(r.reason, /depth 8 \(above\)/);
  });
});

describe('layers and points', () => {
  it('scales the paper layers of ResNet-110 to another depth', () => {
    assert.deepEqual(rq5.scaledLayers([8, 44, 80], 110), [8, 44, 80]);
    assert.deepEqual(rq5.scaledLayers([8, 44, 80], 56), [4, 22, 41]);
    assert.deepEqual(rq5.scaledLayers([8, 44, 80], 8), [1, 3, 6]);
    assert.deepEqual(rq5.scaledLayers([1, 2], 3, 110), [1]);
  });

  it('picks the nearest point per target, shallower on a tie, each point once', () => {
    const pts: PointInfo[] = [3, 5, 7, 9, 11].map((depth, i) => ({ name: `b${i}`, kind: 'block', depth }));
    assert.deepEqual(rq5.nearestPoints(pts, [8, 10, 1]).map((c) => c.point.depth), [7, 9, 3]);
    // Both targets are nearest to 3: the second gets the next nearest.
    assert.deepEqual(rq5.nearestPoints(pts, [3, 3]).map((c) => c.point.depth), [3, 5]);
    assert.throws(() => rq5.nearestPoints([], [1]), /no points/);
  });
});

describe('capRelativeLoss', () => {
  it('caps large and overflowed values and marks them', () => {
    const capped = rq5.capRelativeLoss([{ relativeLoss: 0.5, x: 1 }, { relativeLoss: 1e9, x: 2 }, { relativeLoss: Infinity, x: 3 }, { relativeLoss: NaN, x: 4 }], 1e8);
    assert.deepEqual(capped, [
      { relativeLoss: 0.5, x: 1, clipped: false },
      { relativeLoss: 1e8, x: 2, clipped: true },
      { relativeLoss: 1e8, x: 3, clipped: true },
      { relativeLoss: 1e8, x: 4, clipped: true },
    ]);
  });
});

describe('collapsedSteps', () => {
  it('lists the steps whose loss after is ln(classes) on every mini-batch', () => {
    const u = Math.log(10);
    const rows = [
      { batch: 0, stepSize: 0.1, relativeLoss: 0.8, loss: u * 1.005 },
      { batch: 1, stepSize: 0.1, relativeLoss: 0.8, loss: u },
      { batch: 0, stepSize: 1, relativeLoss: 0.8, loss: u },
      { batch: 1, stepSize: 1, relativeLoss: 0.8, loss: u * 1.2 },
      { batch: 0, stepSize: 0.01, relativeLoss: 0.8, loss: u },
      { batch: 1, stepSize: 0.01, relativeLoss: 0.8, loss: u },
    ];
    assert.deepEqual(rq5.collapsedSteps(rows, 10), [0.01, 0.1]);
  });
});

describe('anatomySummary and blowUpFraction', () => {
  const row = (layer: number, t: number, channel: number, mean: number, variance: number): rq5.AnatomyRow => ({ layer, point: `p${layer}`, depth: layer, batch: 0, t, channel, mean, variance });
  const rows = [
    row(44, 0, 0, -1, 1), row(44, 0, 1, 0.5, 2),
    row(44, 0.5, 0, -30, 200), row(44, 0.5, 1, 3, 20),
    row(44, 1, 0, 1e4, Infinity), row(44, 1, 1, NaN, 5),
    row(8, 0, 0, 0.1, 1), row(8, 1, 0, 0.2, 3),
  ];

  it('takes the largest |mean| and variance per layer and fraction, not-finite as Infinity', () => {
    const s = rq5.anatomySummary(rows);
    assert.deepEqual(s.map((r) => [r.layer, r.t, r.maxAbsMean, r.maxVariance]), [
      [8, 0, 0.1, 1], [8, 1, 0.2, 3],
      [44, 0, 1, 2], [44, 0.5, 30, 200], [44, 1, Infinity, Infinity],
    ]);
  });

  it('gives long rows for a chart faceted by statistic', () => {
    const long = rq5.anatomyLongRows(rq5.anatomySummary(rows));
    assert.equal(long.length, 10);
    assert.deepEqual(long.slice(0, 2), [
      { layer: 'layer 8', t: 0, statistic: rq5.MAX_ABS_MEAN, value: 0.1 },
      { layer: 'layer 8', t: 0, statistic: rq5.MAX_VARIANCE, value: 1 },
    ]);
  });

  it('finds where the variance first passes factor × its start', () => {
    const s = rq5.anatomySummary(rows);
    assert.equal(rq5.blowUpFraction(s, 44, 50), 0.5);
    assert.equal(rq5.blowUpFraction(s, 44, 1000), 1);
    assert.equal(rq5.blowUpFraction(s, 8, 100), null);
    assert.equal(rq5.blowUpFraction(s, 99), null);
  });
});

describe('the measurements on a tiny ResNet', () => {
  const data = { dataset: 'fashion-mnist' as const, trainSize: 60, testSize: 20, seed: 1 };
  const model = (norm: 'batch' | 'none') => ({ family: 'resnet' as const, depth: 8, width: 2, norm, seed: 1 });
  const batches = { count: 2, size: 16, seed: 3 };

  it('oneStepProbe gives one row per batch and step, is deterministic, leaks no tensors, and warms up when asked', async () => {
    const cfg = { data, model: model('none'), batches, stepSizes: [1e-3, 1e-1, 10] };
    const tensors = tf.memory().numTensors;
    const rows = await rq5.oneStepProbe(cfg);
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(rows.map((r) => [r.batch, r.stepSize]), [[0, 1e-3], [0, 1e-1], [0, 10], [1, 1e-3], [1, 1e-1], [1, 10]]);
    for (const r of rows) {
      assert.ok(r.lossBefore > 0 && Number.isFinite(r.lossBefore));
      if (Number.isFinite(r.loss)) close(r.relativeLoss, r.loss / r.lossBefore, 1e-5, 'relative loss');
    }
    assert.deepEqual(await rq5.oneStepProbe(cfg), rows);
    const warm = await rq5.oneStepProbe({ ...cfg, model: model('batch'), warmup: { steps: 2, learningRate: 1e-3, seed: 1 } });
    const cold = await rq5.oneStepProbe({ ...cfg, model: model('batch') });
    assert.notEqual(warm[0].lossBefore, cold[0].lossBefore);
    assert.equal(tf.memory().numTensors, tensors);
  });

  it('refuses more probe examples than the split has', async () => {
    await assert.rejects(rq5.oneStepProbe({ data, model: model('none'), batches: { count: 5, size: 16, seed: 1 }, stepSizes: [1e-3] }), /need 80 examples, the training split has 60/);
  });

  it('anatomyProbe records the conv (or block) outputs nearest the target layers along the step', async () => {
    const cfg = { data, model: model('none'), batches: { count: 1, size: 16, seed: 1 }, stepSize: 0.1, fractions: [0, 0.5, 1], layers: [1, 5] };
    const tensors = tf.memory().numTensors;
    const rows = await rq5.anatomyProbe(cfg);
    assert.equal(tf.memory().numTensors, tensors);
    // ResNet-8's convs are layers 1 (stem, width 2) to 7; layer 5 is stage 2's second conv (width 4).
    assert.deepEqual([...new Set(rows.map((r) => `${r.layer}:${r.depth}:${r.point}`))], ['1:1:stem/conv', '5:5:stage2/block0/conv2']);
    assert.equal(rows.length, 3 * (2 + 4));
    assert.deepEqual([...new Set(rows.map((r) => r.t))], [0, 0.5, 1]);
    assert.ok(rows.some((r) => r.mean < 0), 'conv outputs are signed');
    // Blocks sit at depths 3, 5, 7: targets 1 and 5 get depths 3 and 5.
    const blocks = await rq5.anatomyProbe({ ...cfg, kind: 'block' });
    assert.deepEqual([...new Set(blocks.map((r) => `${r.layer}:${r.depth}:${r.point}`))], ['1:3:stage1/block0', '5:5:stage2/block0']);
    assert.ok(blocks.every((r) => r.mean >= 0), 'block outputs follow a ReLU');
    assert.equal(tf.memory().numTensors, tensors);
  });
});
