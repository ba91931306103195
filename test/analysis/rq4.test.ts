import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SweepRow } from '../../lib/src/analysis/sweep';
import { sweepRowOf } from './helpers';
import {
  NormSummary,
  recoveredShare,
  rq4Verdict,
  shareRows,
  shareStandardError,
  summarize,
  summaryRows,
  sweepPoints,
} from '../../lib/src/analysis/rq4';
import { dotChart, renderSvg } from '../../lib/src/charts';
import { markTexts, countMarks } from '../charts/svg';

type Norm = NormSummary['norm'];
const run = sweepRowOf;

// A sweep shaped like the paper's: no BN diverges above 0.003, final-only above 0.03, BN nowhere.
const sweep: SweepRow[] = [
  run('none', 0.1, null), run('none', 0.03, null), run('none', 0.01, null), run('none', 0.003, 0.12), run('none', 0.001, 0.8), run('none', 0.0001, 0.82), run('none', 0.00003, 0.7),
  run('final-only', 0.1, null), run('final-only', 0.03, 0.88), run('final-only', 0.01, 0.9), run('final-only', 0.003, 0.89), run('final-only', 0.001, 0.86), run('final-only', 0.0001, 0.8),
  run('batch', 0.1, 0.93), run('batch', 0.03, 0.92), run('batch', 0.01, 0.91), run('batch', 0.003, 0.905), run('batch', 0.001, 0.88), run('batch', 0.0001, 0.81),
];

const summary = (norm: Norm, lr: number | null, acc: number | null): NormSummary => ({
  norm, runs: 6, divergedRuns: 0, largestStableLearningRate: lr, bestLearningRate: lr, bestTestAccuracy: acc,
});

describe('RQ4: the sweep', () => {
  it('runs every rate for every norm and the extra small rates for no BN only', () => {
    const pts = sweepPoints({ learningRates: [0.1, 0.01], extraNoBnRates: [0.00003], seeds: [7] });
    assert.deepEqual(pts.map((p) => `${p.norm}@${p.learningRate}#${p.seed}`), ['none@0.1#7', 'none@0.01#7', 'none@0.00003#7', 'final-only@0.1#7', 'final-only@0.01#7', 'batch@0.1#7', 'batch@0.01#7']);
  });
});

describe('RQ4: per norm', () => {
  it('the best rate is the most accurate COMPLETED rate, learned or not; the largest stable rate must have learned', () => {
    const atChance = [run('none', 0.1, null), run('none', 0.01, 0.12), run('none', 0.001, 0.14), ...sweep.filter((r) => r.norm !== 'none')];
    const none = summarize(atChance)[0];
    assert.deepEqual(none, { norm: 'none', runs: 3, divergedRuns: 1, largestStableLearningRate: null, bestLearningRate: 0.001, bestTestAccuracy: 0.14 });
  });

  it('summarises each norm in legend order', () => {
    const s = summarize(sweep);
    assert.deepEqual(s.map((x) => x.norm), ['none', 'final-only', 'batch']);
    assert.deepEqual(s[0], { norm: 'none', runs: 7, divergedRuns: 3, largestStableLearningRate: 0.001, bestLearningRate: 0.0001, bestTestAccuracy: 0.82 });
    assert.equal(s[2].bestTestAccuracy, 0.93);
    assert.deepEqual(summaryRows(s)[1], { norm: 'final-only', bestTestAccuracy: 0.9, bestLearningRate: 0.01, largestStableLearningRate: 0.03 });
  });
});

describe('RQ4: the recovered share', () => {
  it('is (final − none) / (batch − none)', () => {
    const r = recoveredShare(0.82, 0.9, 0.93);
    assert.ok(Math.abs(r.gain - 0.11) < 1e-12);
    assert.ok(Math.abs(r.recovered - 0.08) < 1e-12);
    assert.ok(Math.abs(r.share - 8 / 11) < 1e-12);
    assert.ok(Number.isNaN(recoveredShare(0.8, 0.9, 0.8).share));
    assert.ok(recoveredShare(0.8, 0.7, 0.9).share < 0);
  });

  it('has a delta-method standard error that matches a finite-difference propagation', () => {
    const [a, f, b, n] = [0.82, 0.9, 0.93, 1000];
    const s = (x: number, y: number, z: number) => recoveredShare(x, y, z).share;
    const h = 1e-6;
    const d = [(s(a + h, f, b) - s(a - h, f, b)) / (2 * h), (s(a, f + h, b) - s(a, f - h, b)) / (2 * h), (s(a, f, b + h) - s(a, f, b - h)) / (2 * h)];
    const v = [a, f, b].map((p) => (p * (1 - p)) / n);
    const expected = Math.sqrt(d.reduce((acc, di, i) => acc + di * di * v[i], 0));
    assert.ok(Math.abs(shareStandardError(a, f, b, n) - expected) < 1e-6);
    assert.ok(shareStandardError(a, f, b, 4 * n) < shareStandardError(a, f, b, n));
    assert.ok(Number.isNaN(shareStandardError(0.8, 0.9, 0.8, n)));
  });
});

describe('RQ4: the verdict', () => {
  it('reproduced on a paper-shaped sweep', () => {
    const v = rq4Verdict(summarize(sweep), undefined, 1000);
    assert.equal(v.pass, true);
    assert.ok(Math.abs(v.share - 8 / 11) < 1e-12);
    assert.deepEqual(v.accuracy, { none: 0.82, 'final-only': 0.9, batch: 0.93 });
    assert.ok(v.shareStandardError > 0 && v.shareStandardError < 1);
    assert.match(v.reason, /in \[0\.4, 0\.9\]/);
  });

  it('with the rows: says whether the runs it reads converged, and is inconclusive when one of them has not', () => {
    const v = rq4Verdict(summarize(sweep), undefined, 1000, sweep);
    assert.deepEqual([v.pass, v.converged], [true, true]);
    assert.deepEqual(v.steps, { min: 100, max: 100 });
    // final-only's best rate (0.01) still climbing:
    const pending = sweep.map((r) => (r.norm === 'final-only' && r.learningRate === 0.01 ? sweepRowOf('final-only', 0.01, 0.9, 1, 'not converged') : r));
    const p = rq4Verdict(summarize(pending), undefined, 1000, pending);
    assert.deepEqual([p.pass, p.converged], [null, false]);
    assert.match(p.reason, /have not converged: final-only BN at lr 0.01, seed 1 \(100 steps, about 50 more suggested\)/);
    // a rate it does not read (final-only at 0.0001) changes nothing
    const elsewhere = sweep.map((r) => (r.norm === 'final-only' && r.learningRate === 0.0001 ? sweepRowOf('final-only', 0.0001, 0.8, 1, 'not converged') : r));
    assert.equal(rq4Verdict(summarize(elsewhere), undefined, 1000, elsewhere).pass, true);
  });

  it('not reproduced when the share leaves the band, either way', () => {
    const low = rq4Verdict([summary('none', 0.001, 0.8), summary('final-only', 0.01, 0.81), summary('batch', 0.1, 0.9)]);
    assert.equal(low.pass, false);
    assert.equal(low.shareInBand, false);
    const all = rq4Verdict([summary('none', 0.001, 0.8), summary('final-only', 0.01, 0.9), summary('batch', 0.1, 0.9)]);
    assert.equal(all.pass, false);
    assert.equal(all.share, 1);
  });

  it('not reproduced when final-only is not more stable than no BN, or more stable than BN', () => {
    const same = rq4Verdict([summary('none', 0.01, 0.8), summary('final-only', 0.01, 0.87), summary('batch', 0.1, 0.9)]);
    assert.equal(same.shareInBand, true);
    assert.equal(same.lrAboveNone, false);
    assert.equal(same.pass, false);
    const above = rq4Verdict([summary('none', 0.001, 0.8), summary('final-only', 0.1, 0.87), summary('batch', 0.03, 0.9)]);
    assert.equal(above.lrAtMostBatch, false);
    assert.equal(above.pass, false);
    const unstable = rq4Verdict([summary('none', 0.001, 0.8), summary('final-only', null, 0.87), summary('batch', 0.1, 0.9)]);
    assert.equal(unstable.pass, false);
  });

  it('no stable rate for no BN counts as below every rate', () => {
    const v = rq4Verdict([summary('none', null, 0.8), summary('final-only', 0.01, 0.87), summary('batch', 0.1, 0.9)]);
    assert.equal(v.lrAboveNone, true);
    assert.equal(v.pass, true);
  });

  it('inconclusive when BN gains too little to divide by, or a model has no completed run', () => {
    const small = rq4Verdict([summary('none', 0.001, 0.85), summary('final-only', 0.01, 0.86), summary('batch', 0.1, 0.865)]);
    assert.equal(small.pass, null);
    assert.ok(Math.abs(small.gain - 0.015) < 1e-12);
    assert.match(small.reason, /1\.5 points/);
    assert.equal(rq4Verdict([summary('none', null, null), summary('final-only', 0.01, 0.86), summary('batch', 0.1, 0.9)]).pass, null);
    assert.equal(rq4Verdict([summary('none', 0.001, 0.8), summary('final-only', 0.01, 0.87)]).pass, null);
    assert.equal(rq4Verdict([summary('none', 0.001, 0.8), summary('final-only', 0.01, 0.87), summary('batch', null, 0.9)]).pass, null);
  });

  it('takes its band and minimum gain from the rule', () => {
    const s = [summary('none', 0.001, 0.8), summary('final-only', 0.01, 0.81), summary('batch', 0.1, 0.9)];
    assert.equal(rq4Verdict(s, { shareBand: [0.05, 0.2], minGain: 0.02, minAccuracy: 0.2 }).pass, true);
    assert.equal(rq4Verdict(s, { shareBand: [0.05, 0.2], minGain: 0.2, minAccuracy: 0.2 }).pass, null);
    assert.throws(() => rq4Verdict(s, { shareBand: [0.9, 0.4], minGain: 0.02, minAccuracy: 0.2 }), /shareBand/);
  });
});

describe('RQ4: charts', () => {
  it('the share rows put no BN at 0 and BN at 1', () => {
    assert.deepEqual(shareRows({ share: 0.6 }), [{ norm: 'none', share: 0 }, { norm: 'final-only', share: 0.6 }, { norm: 'batch', share: 1 }]);
    assert.equal(shareRows({ share: NaN })[1].share, null);
  });

  it('a dot chart renders one dot and one value label per category, and the paper\'s marks', async () => {
    const rows = summaryRows(summarize(sweep));
    const spec = dotChart(rows, {
      x: 'norm', y: 'bestTestAccuracy', note: 'bestLearningRate', notePrefix: ' at lr ', format: '.1%', title: 'best accuracy',
      references: [{ label: 'paper 90.1%', x: 'final-only', y: 0.901 }, { label: 'chance', y: 0.1 }],
    });
    const svg = await renderSvg(spec);
    assert.equal(countMarks(svg, 'dot'), 3);
    assert.deepEqual(markTexts(svg, 'value'), ['82.0% at lr 0.0001', '90.0% at lr 0.01', '93.0% at lr 0.1']);
    assert.ok(svg.includes('paper 90.1%'));
    assert.ok(svg.includes('chance'));
  });

  it('a bar chart of the shares skips a share that cannot be computed, and shades the verdict band', async () => {
    const svg = await renderSvg(dotChart(shareRows({ share: NaN }), {
      x: 'norm', y: 'share', bars: true, band: { from: 0.4, to: 0.9, label: 'verdict band' }, references: [{ label: 'paper ≈ 2/3', x: 'final-only', y: 2 / 3 }],
    }));
    assert.equal(countMarks(svg, 'bar'), 2);
    assert.equal(countMarks(svg, 'band'), 1);
    assert.deepEqual(markTexts(svg, 'band_label'), ['verdict band']);
    assert.ok(svg.includes('paper ≈ 2/3'));
  });
});
