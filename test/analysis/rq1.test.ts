import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { rq1, sweep } from '../../lib/src/analysis';
import type { Dataset } from '../../lib/src/data';
import { lrSweepBase } from '../../lib/src/experiments';
import type { TrainSummary } from '../../lib/src/experiments';
import { record } from '../../lib/src/instrument';
import { mlp, resnet } from '../../lib/src/models';
import { toTensors } from '../../lib/src/data';
import { Rng } from '../../lib/src/util/rng';
import { sweepRowOf } from './helpers';

before(async () => {
  await initBackend({ quiet: true });
});

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);

const row = sweepRowOf;

/** A sweep shaped like the paper's Fig. 1 story. */
function paperLike(): sweep.SweepRow[] {
  return [
    row('batch', 0.1, 0.93),
    row('batch', 0.03, 0.92),
    row('batch', 0.01, 0.915),
    row('batch', 0.003, 0.905),
    row('batch', 0.001, 0.87),
    row('batch', 0.0001, 0.81),
    row('none', 0.1, null),
    row('none', 0.03, null),
    row('none', 0.01, null),
    row('none', 0.003, 0.15), // completed, but did not learn
    row('none', 0.001, 0.85),
    row('none', 0.0001, 0.82),
    row('none', 0.00003, 0.7),
  ];
}

describe('rq1 planned steps', () => {
  it('plannedSteps counts whole batches per epoch, capped by maxSteps', () => {
    assert.equal(rq1.plannedSteps(4000, { epochs: 3, batchSize: 128 }), 93);
    assert.equal(rq1.plannedSteps(4000, { epochs: 3, batchSize: 128, maxSteps: 10 }), 10);
    assert.throws(() => rq1.plannedSteps(100, { epochs: 1, batchSize: 128 }), /larger than the training set/);
  });
});

describe('rq1 rates per model', () => {
  it('the per-model summary: runs, diverged rates, largest stable and best stable rate', () => {
    const rows = paperLike();
    const [bn, none] = rq1.summarize(rows);
    assert.deepEqual(bn, { model: 'BN', runs: 6, divergedRuns: 0, divergedAt: [], largestStableLearningRate: 0.1, bestLearningRate: 0.1, bestTestAccuracy: 0.93 });
    assert.deepEqual(none, { model: 'no BN', runs: 7, divergedRuns: 3, divergedAt: [0.1, 0.03, 0.01], largestStableLearningRate: 0.001, bestLearningRate: 0.001, bestTestAccuracy: 0.85 });
    assert.equal(rq1.summarize([...rows, rows[0]])[0].runs, 6, 'a run listed twice counts once');
  });

  it('bestLr prefers stable rates, falls back to the best completed one, and is null when all diverged', () => {
    assert.equal(rq1.bestLr(paperLike(), 'none'), 0.001);
    assert.equal(rq1.bestLr([row('none', 0.1, null), row('none', 0.01, 0.12), row('none', 0.001, 0.14)], 'none'), 0.001);
    assert.equal(rq1.bestLr([row('none', 0.1, null)], 'none'), null);
  });
});

describe('rq1 matched learning rates', () => {
  it('the gap is BN − no BN where both completed and one learned', () => {
    const g = rq1.matchedGap(paperLike(), 0.0001);
    assert.equal(g.decidable, true);
    close(g.gap!, -0.01, 1e-12, 'gap');
    const diverged = rq1.matchedGap(paperLike(), 0.01);
    assert.deepEqual(diverged, { lr: 0.01, bn: 0.915, noBn: null, gap: null, decidable: false, converged: true });
    const atChance = rq1.matchedGap([row('batch', 0.0001, 0.11), row('none', 0.0001, 0.1)], 0.0001);
    assert.equal(atChance.decidable, false);
    assert.equal(rq1.matchedGap([], 0.1).decidable, false);
  });

  it('matchedGaps runs over the rates both ran, lowest first; lowestMatched takes the lowest decidable one', () => {
    const rows = paperLike();
    assert.deepEqual(
      rq1.matchedGaps(rows).map((g) => g.lr),
      [0.0001, 0.001, 0.003, 0.01, 0.03, 0.1],
    );
    assert.equal(rq1.lowestMatched(rows)!.lr, 0.0001);
    const chanceAtLowest = [...rows.filter((r) => r.learningRate !== 0.0001), row('batch', 0.0001, 0.1), row('none', 0.0001, 0.1)];
    assert.equal(rq1.lowestMatched(chanceAtLowest)!.lr, 0.001);
  });

  it('matchedVerdict passes when every decidable gap is within the margin', () => {
    const rows = paperLike();
    const ok = rq1.matchedVerdict(rq1.matchedGaps(rows, [0.0001]), 0.02);
    assert.equal(ok.pass, true);
    close(ok.worstGap, -0.01, 1e-12, 'worst');
    const bad = rq1.matchedVerdict(rq1.matchedGaps(rows, [0.0001, 0.001]), 0.02); // 0.87 − 0.85 = 0.02: within
    assert.equal(bad.pass, true);
    const worse = rq1.matchedVerdict(rq1.matchedGaps([...rows, row('batch', 0.001, 0.9)], [0.0001, 0.001]), 0.02);
    assert.equal(worse.pass, false);
    assert.match(worse.note, /lr 0.001: BN 90.0%, no BN 85.0% \(\+5.0 points\)/);
    const undecided = rq1.matchedVerdict(rq1.matchedGaps(rows, [0.1]), 0.02);
    assert.deepEqual([undecided.pass, undecided.value], [null, 0]);
    assert.ok(Number.isNaN(undecided.worstGap));
    const atChance = rq1.matchedVerdict(rq1.matchedGaps([row('batch', 0.0001, 0.12), row('none', 0.0001, 0.1)], [0.0001]), 0.02);
    assert.equal(atChance.pass, null);
    close(atChance.value, 0.02, 1e-12, 'raw gap');
    assert.equal(ok.value, ok.worstGap);
  });
});

describe('rq1 verdict', () => {
  it('reproduced on the paper-like sweep, with the numbers in the note', () => {
    const v = rq1.rq1Verdict(paperLike());
    assert.equal(v.pass, true);
    assert.equal(v.ratio, 100);
    assert.deepEqual(v.checks, { ratio: true, best: true, matched: true });
    assert.match(v.note, /Largest stable lr: BN 0.1, no BN 0.001 \(ratio 100×, passes ≥ 3×\)/);
    assert.match(v.note, /At lr 0.0001 .*BN − no BN −1.0 points/);
    assert.match(v.threshold, /≥ 3× no BN's/);
  });

  it('not reproduced when the rates are within 3×', () => {
    const rows = paperLike().map((r) => (r.norm === 'none' && r.learningRate >= 0.01 ? row('none', r.learningRate, 0.8) : r));
    const v = rq1.rq1Verdict(rows);
    assert.equal(v.ratio, 1);
    assert.equal(v.checks.ratio, false);
    assert.equal(v.pass, false);
  });

  it('a ratio of exactly 3 (0.03 against 0.01) passes despite floating point', () => {
    const v = rq1.rq1Verdict([row('batch', 0.03, 0.9), row('batch', 0.0001, 0.5), row('none', 0.01, 0.6), row('none', 0.0001, 0.5)]);
    assert.equal(v.checks.ratio, true);
  });

  it('not reproduced when BN is clearly better at the matched small rate, or not better at its best', () => {
    const better = paperLike().map((r) => (r.norm === 'batch' && r.learningRate === 0.0001 ? row('batch', 0.0001, 0.86) : r));
    const v = rq1.rq1Verdict(better);
    assert.equal(v.checks.matched, false);
    assert.equal(v.pass, false);
    const worse = paperLike().map((r) => (r.norm === 'none' && r.learningRate === 0.001 ? row('none', 0.001, 0.95) : r));
    const w = rq1.rq1Verdict(worse);
    assert.equal(w.checks.best, false);
    assert.equal(w.pass, false);
  });

  it('inconclusive when a model learned at no rate, or no matched rate is decidable', () => {
    const none = paperLike().map((r) => (r.norm === 'none' ? row('none', r.learningRate, r.testAccuracy === null ? null : 0.1) : r));
    const v = rq1.rq1Verdict(none);
    assert.equal(v.pass, null);
    assert.equal(v.ratio, null);
    assert.match(v.note, /Inconclusive: no BN learned at no learning rate.*the value is 0/);
    assert.equal(v.value, 0);
    assert.equal(rq1.rq1Verdict(paperLike()).value, 100);
    const chance = [row('batch', 0.1, 0.1), row('none', 0.1, 0.1)];
    assert.equal(rq1.rq1Verdict(chance).pass, null);
    assert.equal(rq1.rq1Verdict([]).pass, null);
  });

  it('inconclusive, never not reproduced, when a run a check reads has not converged; the note names it and its suggested steps', () => {
    // BN clearly better at the matched rate would fail check 3, but those runs are still climbing.
    const rows = paperLike().map((r) => (r.learningRate === 0.0001 ? row(r.norm, 0.0001, r.norm === 'batch' ? 0.86 : r.testAccuracy, 1, 'not converged') : r));
    const v = rq1.rq1Verdict(rows);
    assert.equal(v.checks.matched, null);
    assert.equal(v.pass, null);
    assert.equal(v.converged, false);
    assert.match(v.note, /have not converged: BN at lr 0.0001, seed 1 \(100 steps, about 50 more suggested\); no BN at lr 0.0001, seed 1/);
    // An unconverged run at a rate no check reads changes nothing.
    const elsewhere = paperLike().map((r) => (r.norm === 'batch' && r.learningRate === 0.003 ? row('batch', 0.003, 0.905, 1, 'not converged') : r));
    const w = rq1.rq1Verdict(elsewhere);
    assert.deepEqual([w.pass, w.converged], [true, true]);
    assert.deepEqual(w.steps, { min: 100, max: 100 });
  });

  it('matchedVerdict: a rate counts only when its runs converged; a failing rate that counts is not reproduced', () => {
    const rows = paperLike();
    const pending = rows.map((r) => (r.norm === 'none' && r.learningRate === 0.001 ? row('none', 0.001, 0.85, 1, 'not converged') : r));
    const p = rq1.matchedVerdict(rq1.matchedGaps(pending, [0.0001, 0.001]), 0.02, pending);
    assert.deepEqual([p.pass, p.converged], [null, false]);
    assert.match(p.note, /lr 0.001: does not count \(not every run converged/);
    const failing = pending.map((r) => (r.norm === 'batch' && r.learningRate === 0.0001 ? row('batch', 0.0001, 0.9) : r));
    assert.equal(rq1.matchedVerdict(rq1.matchedGaps(failing, [0.0001, 0.001]), 0.02, failing).pass, false);
    const ok = rq1.matchedVerdict(rq1.matchedGaps(rows, [0.0001, 0.001]), 0.02, rows);
    assert.deepEqual([ok.pass, ok.converged], [true, true]);
    assert.match(ok.note, /Every run at these rates converged/);
  });

  it('the paper column quotes Fig. 1', () => {
    assert.match(rq1.paperText(), /BN at lr 0.1 ≈ 93.0%.*no BN at 1e-4 ≈ 82.0%/);
  });
});

describe('rq1 Fig. 1 curves', () => {
  const result: Pick<TrainSummary, 'steps' | 'epochs' | 'totalSteps'> = {
    totalSteps: 6,
    steps: [1, 2, 3, 4, 5, 6].map((step) => ({ step, epoch: step <= 3 ? 1 : 2, learningRate: 0.1, loss: 1, accuracy: step / 10 })),
    epochs: [
      { epoch: 1, step: 3, learningRate: 0.1, trainLoss: 1, trainAccuracy: 0.2, testLoss: 1, testAccuracy: 0.25, seconds: 1 },
      { epoch: 2, step: 6, learningRate: 0.1, trainLoss: 1, trainAccuracy: 0.5, testLoss: 1, testAccuracy: 0.55, seconds: 1 },
    ],
  };

  it('train: a trailing mean of the mini-batch accuracy; test: one point per epoch; x in % of the planned steps', () => {
    const rows = rq1.accuracyCurveRows(result, { config: 'BN, lr 0.1', seed: 1, lr: 'lr 0.1' }, { window: 2 });
    assert.ok(rows.every((r) => r.lr === 'lr 0.1'));
    const train = rows.filter((r) => r.split === 'train');
    assert.deepEqual(train.map((r) => +r.accuracy.toFixed(10)), [0.1, 0.15, 0.25, 0.35, 0.45, 0.55]);
    assert.equal(train[5].progress, 100);
    assert.deepEqual(rows.filter((r) => r.split === 'test').map((r) => [r.progress, r.accuracy]), [[50, 0.25], [100, 0.55]]);
    assert.ok(rows.every((r) => r.config === 'BN, lr 0.1' && r.seed === 1));
  });

  it('train rows on a grid of maxPoints over the planned steps, always with the last step; a run that stopped early ends short of 100%', () => {
    const rows = rq1.accuracyCurveRows(result, { config: 'c', seed: 1 }, { window: 1, maxPoints: 4, planned: 12 });
    const train = rows.filter((r) => r.split === 'train');
    assert.deepEqual(train.map((r) => r.progress), [25, 50]);
    // Two seeds that stopped at different steps (8 and 11 of 12 planned) share
    // the grid's x, so a mean over seeds pairs like with like; each ends at its own last step.
    const run = (n: number) => ({ totalSteps: n, epochs: [], steps: Array.from({ length: n }, (_, i) => ({ step: i + 1, epoch: 1, learningRate: 0.1, loss: 1, accuracy: 0.5 })) });
    const xs = (n: number) => rq1.accuracyCurveRows(run(n), { config: 'c', seed: n }, { window: 1, maxPoints: 4, planned: 12 }).map((r) => r.progress);
    assert.deepEqual(xs(8), [25, 50, 200 / 3]);
    assert.deepEqual(xs(11), [25, 50, 75, 275 / 3]);
    assert.deepEqual(rq1.accuracyCurveRows({ ...result, totalSteps: 0, steps: [], epochs: [] }, { config: 'c', seed: 1 }), []);
  });

  it('Fig. 1 configurations carry the paper\'s accuracy, saying when the paper measured it at another rate', () => {
    const c = rq1.fig1Configs({ high: 0.1, low: 0.003, veryLow: 0.0001 }, 0.001);
    assert.deepEqual(c.map((x) => [x.config, x.norm, x.lr, x.paper]), [
      ['(a) BN, lr 0.1', 'batch', 0.1, 0.93],
      ['(b) BN, lr 0.003', 'batch', 0.003, 0.905],
      ['(c) BN, lr 0.0001', 'batch', 0.0001, 0.81],
      ['(d) no BN, lr 0.001', 'none', 0.001, 0.82],
    ]);
    assert.equal(c[0].paperLabel, 'paper: 93.0%');
    assert.equal(c[3].paperLabel, 'paper (lr 0.0001): 82.0%');
    assert.deepEqual(rq1.fig1References(c)[1], { label: 'paper: 90.5%', y: 0.905, panel: { config: '(b) BN, lr 0.003' } });
    const refs = rq1.sweepReferences();
    assert.equal(refs.length, 4);
    assert.equal(refs.filter((r) => r.label !== '').length, 3);
  });

  it('rounded keeps tables readable', () => {
    assert.deepEqual(rq1.rounded([{ a: 0.123456, b: 'x', c: null, d: 0, e: NaN, f: [1] }]), [{ a: 0.123, b: 'x', c: null, d: 0, e: NaN, f: [1] }]);
    assert.deepEqual(rq1.rounded([{ a: 123456 }], 2), [{ a: 120000 }]);
  });

  it('settingText says what our setting is and what the paper\'s was', () => {
    assert.equal(
      rq1.settingText(lrSweepBase('quick')),
      'Ours: ResNet-14 (width 8) on 2,000 training / 1,000 test fashion-mnist images downsampled 2×, at most 60 epochs at lr ≥ 0.1, growing as (0.1/lr)^0.5 up to 200, the rate dropped 10× when learning slows and the run stopped once it converged (both by the convergence rule) at batch 128, sweep on seed 1, Fig. 1 configurations over seeds 1, 2. Paper: ResNet-110 on CIFAR-10, trained to convergence, 5 runs.',
    );
    assert.match(rq1.settingText(lrSweepBase('paper')), /ResNet-110 \(width 16\) on all cifar10 images, 160 epochs at lr ≥ 0.1, growing as \(0.1\/lr\)\^0.5 up to 640 at batch 128 with augmentation/);
    assert.match(rq1.settingText(lrSweepBase('paper'), [1, 2, 3, 4, 5]), /sweep on seeds 1, 2, 3, 4, 5, Fig\. 1 configurations over seeds 1, 2, 3, 4, 5\./);
  });
});

describe('rq1 gradient noise', () => {
  it('GradientMoments: the trace of the covariance (unbiased) and the squared norm of the mean', () => {
    const m = new rq1.GradientMoments();
    m.add([1, 0]);
    m.add([3, 2]);
    m.add([2, 4]);
    // per coordinate: var(1,3,2) = 1, var(0,2,4) = 4
    close(m.traceCovariance(), 5, 1e-12, 'trace');
    close(m.meanSquaredNorm(), 4 + 4, 1e-12, '‖mean‖²');
    assert.throws(() => m.add([1]), /a vector of 1 values after vectors of 2/);
    assert.ok(Number.isNaN(new rq1.GradientMoments().traceCovariance()));
  });

  it('perExampleVariance inverts the without-replacement formula; noiseScale is α²C/|B|', () => {
    // N = 5 scalars 0..4: σ² = 2; a mean of B = 2 drawn without replacement has variance σ²/B·(N−B)/(N−1) = 0.75.
    close(rq1.perExampleVariance(0.75, 2, 5), 2, 1e-12, 'C');
    assert.throws(() => rq1.perExampleVariance(1, 5, 5), /need 1 ≤ batch/);
    close(rq1.noiseScale(0.1, 128, 256), 0.02, 1e-15, 'noise');
  });

  it('gradientNoise recovers the per-example gradient variance of a model without BN', () => {
    const N = 40;
    const shape: [number, number, number] = [2, 2, 1];
    const rng = new Rng(7);
    const ds: Dataset = {
      name: 'synthetic',
      split: 'train',
      images: rng.normalArray(N * 4),
      labels: Uint8Array.from({ length: N }, (_, i) => i % 3),
      count: N,
      shape,
      numClasses: 3,
      classNames: ['a', 'b', 'c'],
    };
    const model = mlp({ depth: 1, width: 6, norm: 'none', inputShape: shape, numClasses: 3, seed: 3 });
    try {
      // The exact C: the variance of the N single-example gradients (1/N).
      const names = [...model.trainable.keys()];
      const per: Float64Array[] = [];
      for (let i = 0; i < N; i++) {
        const { x, y } = toTensors({ images: ds.images.slice(i * 4, i * 4 + 4), labels: Int32Array.of(ds.labels[i]), size: 1 }, shape, 3);
        const rec = record(model, x, y, { params: names });
        per.push(Float64Array.from(names.flatMap((n) => Array.from(rec.paramGrads.get(n)!.dataSync()))));
        rec.dispose();
        x.dispose();
        y.dispose();
      }
      const mean = per[0].map((_, j) => per.reduce((s, g) => s + g[j], 0) / N);
      const exact = per.reduce((s, g) => s + g.reduce((t, v, j) => t + (v - mean[j]) ** 2, 0), 0) / N;
      const est = rq1.gradientNoise(model, ds, { batchSize: 8, batches: 800, seed: 1 });
      assert.equal(est.datasetSize, N);
      close(est.perExampleVariance / exact, 1, 0.12, 'C estimate / exact');
      close(est.meanGradientSqNorm, mean.reduce((s, v) => s + v * v, 0), 0.2 * exact / 8, '‖mean g‖²');
      assert.ok(est.meanLoss > 0);
    } finally {
      model.dispose();
    }
  });

  it('gradientNoise leaves the weights and BN moving statistics as they were', () => {
    const shape: [number, number, number] = [8, 8, 1];
    const rng = new Rng(2);
    const ds: Dataset = { name: 's', split: 'train', images: rng.normalArray(32 * 64), labels: Uint8Array.from({ length: 32 }, (_, i) => i % 10), count: 32, shape, numClasses: 10, classNames: Array.from({ length: 10 }, (_, i) => String(i)) };
    const model = resnet({ depth: 8, width: 2, norm: 'batch', inputShape: shape, numClasses: 10, seed: 1 });
    try {
      const before = new Map([...model.trainable, ...model.state].map(([k, v]) => [k, Array.from(v.dataSync())]));
      const r = rq1.gradientNoise(model, ds, { batchSize: 8, batches: 3, seed: 1 });
      assert.ok(r.batchGradientVariance > 0 && Number.isFinite(r.perExampleVariance));
      for (const [k, v] of [...model.trainable, ...model.state]) assert.deepEqual(Array.from(v.dataSync()), before.get(k), k);
      assert.throws(() => rq1.gradientNoise(model, ds, { batchSize: 8, batches: 1, seed: 1 }), /at least 2 batches/);
    } finally {
      model.dispose();
    }
  });

  it('noiseScaleRows gives each run the C of its own model at the nearest batch size; the correlation ranks them', () => {
    const noise = [
      { model: 'BN', norm: 'batch', batchSize: 32, perExampleVariance: 50 },
      { model: 'BN', norm: 'batch', batchSize: 128, perExampleVariance: 100 },
      { model: 'no BN', norm: 'none', batchSize: 128, perExampleVariance: 1000 },
    ] as rq1.NoiseRow[];
    assert.equal(rq1.varianceAt(noise, 'batch', 100), 100);
    assert.equal(rq1.varianceAt(noise, 'batch', 40), 50);
    assert.equal(rq1.varianceAt([], 'batch', 128), null);
    const rows = rq1.noiseScaleRows([row('batch', 0.1, 0.9), row('batch', 0.01, 0.8), row('batch', 0.001, 0.7), row('none', 0.1, null)], noise, 128);
    close(rows[0].noiseScale, (0.01 * 100) / 128, 1e-15, 'BN 0.1');
    close(rows[3].noiseScale, (0.01 * 1000) / 128, 1e-15, 'no BN 0.1');
    assert.equal(rows[3].diverged, true);
    close(rq1.noiseAccuracyCorrelation(rows, 'BN'), 1, 1e-12, 'spearman');
    assert.ok(Number.isNaN(rq1.noiseAccuracyCorrelation(rows, 'no BN')));
  });
});
