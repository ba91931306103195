import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  curveRows,
  excessKurtosis,
  gradientHistogram,
  logitGradientDominance,
  LogitGradientRow,
  logSpace,
  median,
  momentProfile,
  moments,
  quantile,
  sampleValues,
  summarizeCoherence,
  topSingularShare,
} from '../../lib/src/instrument';
import { Rng } from '../../lib/src/util/rng';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

describe('moments and kurtosis', () => {
  it('gives the textbook values on small samples', () => {
    const m = moments([1, 2, 3, 4]);
    assert.equal(m.count, 4);
    assert.equal(m.mean, 2.5);
    close(m.std, Math.sqrt(1.25), 1e-12, 'population std');
    close(m.norm, Math.sqrt(30), 1e-12, 'norm');
    assert.equal(m.maxAbs, 4);
    // Two-point ±1: m2 = m4 = 1, so the excess kurtosis is 1 − 3 = −2, the minimum possible.
    assert.equal(excessKurtosis([-1, 1, -1, 1]), -2);
    // {0 ×8, ±1}: m2 = 2/10, m4 = 2/10, kurtosis 0.2/0.04 − 3 = 2.
    close(excessKurtosis([0, 0, 0, 0, 0, 0, 0, 0, -1, 1]), 2, 1e-12, '0/±1 sample');
    assert.ok(Number.isNaN(excessKurtosis([3, 3, 3])), 'constant data has no kurtosis');
  });

  it('is ≈ 0 for Gaussian, −1.2 for uniform and 3 for Laplace samples', () => {
    const rng = new Rng(7);
    const n = 200000;
    const gauss = rng.normalArray(n);
    const uniform = Float64Array.from({ length: n }, () => rng.next());
    const laplace = Float64Array.from({ length: n }, () => {
      const u = rng.next() - 0.5;
      return -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
    });
    close(excessKurtosis(gauss), 0, 0.05, 'gaussian');
    close(excessKurtosis(uniform), -1.2, 0.02, 'uniform');
    close(excessKurtosis(laplace), 3, 0.25, 'laplace');
  });

  it('keeps its digits when |mean| ≫ std (two-pass central moments)', () => {
    const m = moments([1e6 + 1, 1e6 - 1, 1e6 + 1, 1e6 - 1]);
    assert.equal(m.std, 1);
    assert.equal(m.kurtosis, -2);
  });

  it('median ignores non-finite values', () => {
    assert.equal(median([3, 1, NaN, 2, Infinity]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });
});

describe('gradientHistogram', () => {
  it('counts values into equal bins, the maximum into the last', () => {
    const rows = gradientHistogram([0, 0.1, 0.5, 0.99, 1, 2, 3, 4], { bins: 4, layer: 'L' });
    assert.deepEqual(rows.map((r) => [r.binStart, r.binEnd, r.count]), [[0, 1, 4], [1, 2, 1], [2, 3, 1], [3, 4, 2]]);
    assert.ok(rows.every((r) => r.layer === 'L'));
    assert.equal(rows.reduce((s, r) => s + r.fraction, 0), 1);
  });

  it('leaves out values outside a given range and non-finite ones', () => {
    const rows = gradientHistogram([-5, -1, -0.5, 0, 0.5, 1, 5, NaN, Infinity], { bins: 2, range: [-1, 1] });
    assert.deepEqual(rows.map((r) => r.count), [2, 3]);
    assert.equal(rows[0].fraction, 2 / 7); // of the 7 finite values
  });

  it('gives constant data a unit-wide window and rejects bad options', () => {
    const rows = gradientHistogram([2, 2, 2], { bins: 2 });
    assert.deepEqual(rows.map((r) => [r.binStart, r.binEnd, r.count]), [[1.5, 2, 0], [2, 2.5, 3]]);
    assert.throws(() => gradientHistogram([1], { bins: 0 }), /bins must be a positive integer/);
    assert.throws(() => gradientHistogram([1], { range: [1, 1] }), /hi > lo/);
  });
});

describe('sampleValues', () => {
  it('draws distinct entries, repeatably for a seed, and everything when asked for more', () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => i);
    const a = sampleValues(values, 100, 3);
    assert.equal(new Set(a).size, 100);
    assert.deepEqual(a, sampleValues(values, 100, 3));
    assert.notDeepEqual(a, sampleValues(values, 100, 4));
    assert.equal(sampleValues(values, 5000).length, 1000);
  });
});

describe('topSingularShare', () => {
  it('is 1 for a rank-one matrix and 1/n for the identity', () => {
    close(topSingularShare([[1, 2, 3], [2, 4, 6]]), 1, 1e-9, 'rank one');
    close(topSingularShare([[1, 0, 0], [0, 1, 0], [0, 0, 1]]), 1 / 3, 1e-9, 'identity');
    // diag(3, 1): σ1² / (9 + 1).
    close(topSingularShare([[3, 0], [0, 1]]), 0.9, 1e-9, 'diag(3,1)');
  });
});

describe('logSpace', () => {
  it('spaces evenly in log10', () => {
    const v = logSpace(-5, 0, 6);
    [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1].forEach((e, i) => close(v[i], e, e * 1e-12));
  });
});

describe('summaries of rows', () => {
  it('quantile interpolates linearly and ignores non-finite values', () => {
    assert.equal(quantile([3, 1, 2, NaN], 0.5), 2);
    assert.equal(quantile([0, 10], 0.1), 1);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it('momentProfile averages std and |mean| over channels per point, in first-seen order, with their 10th and 90th percentiles', () => {
    const p = momentProfile([
      { point: 'a', depth: 3, channel: 0, mean: -1, std: 1 },
      { point: 'a', depth: 3, channel: 1, mean: 3, std: 3 },
      { point: 'b', depth: 5, channel: 0, mean: 2, std: 10 },
    ]);
    assert.deepEqual(p.map((r) => [r.point, r.depth, r.channels]), [['a', 3, 2], ['b', 5, 1]]);
    assert.equal(p[0].meanStd, 2);
    assert.equal(p[0].meanAbsMean, 2);
    close(p[0].stdP10, 1.2, 1e-12, 'p10');
    close(p[0].stdP90, 2.8, 1e-12, 'p90');
    close(p[0].absMeanP10, 1.2, 1e-12, '|mean| p10');
    assert.equal(p[1].stdP10, 10);
    assert.equal(p[1].absMeanP90, 2);
  });

  it('summarizeCoherence gives median, mean and the aggregate ratio', () => {
    const row = (sum: number, absSum: number) => ({ layer: 'c', depth: 3, kernelRow: 0, kernelCol: 0, inChannel: 0, outChannel: 0, sum, absSum, ratio: absSum > 0 ? Math.abs(sum) / absSum : NaN });
    const [s] = summarizeCoherence([row(-1, 1), row(0.5, 2), row(0, 4), row(0, 0)]);
    assert.equal(s.entries, 4);
    assert.equal(s.medianRatio, 0.25); // of 1, 0.25, 0 (the all-zero entry has no ratio)
    assert.equal(s.meanRatio, 1.25 / 3);
    assert.equal(s.meanAbsSum, 1.5 / 4);
    assert.equal(s.meanSumAbs, 7 / 4);
    assert.equal(s.aggregateRatio, 1.5 / 7);
  });

  it('logitGradientDominance finds the class most examples push against, not the label', () => {
    // 4 examples, 3 classes; every example puts most wrong-class mass on class 2
    // except the one labelled 2.
    const probs = [
      [0.1, 0.1, 0.8, 0],
      [0.2, 0.1, 0.7, 1],
      [0.1, 0.1, 0.8, 1],
      [0.3, 0.6, 0.1, 2],
    ];
    const B = probs.length;
    const rows: LogitGradientRow[] = probs.flatMap((p, example) =>
      [0, 1, 2].map((c) => ({ example, class: c, label: p[3], prob: p[c], grad: (p[c] - (c === p[3] ? 1 : 0)) / B })),
    );
    const d = logitGradientDominance(rows);
    assert.equal(d.examples, 4);
    assert.equal(d.dominantClass, 2);
    assert.equal(d.dominantShare, 0.75);
    assert.equal(d.predictedClass, 2);
    assert.equal(d.predictionShare, 0.75);
  });
});

describe('curveRows', () => {
  const result = {
    steps: [
      { step: 1, epoch: 1, learningRate: 0.1, loss: 2.3, accuracy: 0.1 },
      { step: 2, epoch: 1, learningRate: 0.1, loss: 2.1, accuracy: 0.2 },
    ],
    epochs: [{ epoch: 1, step: 2, learningRate: 0.1, trainLoss: 2.2, trainAccuracy: 0.15, testLoss: 2.0, testAccuracy: 0.25, seconds: 1 }],
  };

  it('turns steps and epochs into one row per metric, with the labels on every row', () => {
    const rows = curveRows(result, { norm: 'batch', lr: 0.1 });
    assert.equal(rows.length, 2 * 3 + 5);
    assert.deepEqual(rows[0], { norm: 'batch', lr: 0.1, curve: 'steps', step: 1, epoch: 1, metric: 'loss', value: 2.3 });
    assert.deepEqual(rows.find((r) => r.curve === 'epochs' && r.metric === 'testAccuracy'), { norm: 'batch', lr: 0.1, curve: 'epochs', step: 2, epoch: 1, metric: 'testAccuracy', value: 0.25 });
    assert.equal(curveRows(result, {}, { which: 'epochs' }).length, 5);
    assert.equal(curveRows(result, {}, { which: 'steps' }).length, 6);
  });

  it('refuses a label that would overwrite a column', () => {
    assert.throws(() => curveRows(result, { metric: 'x' }), /label metric would overwrite/);
  });
});
