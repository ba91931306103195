import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as rq2 from '../../lib/src/analysis/rq2';
import { initBackend } from '../../lib/src/backend';
import { markdownTable } from '../../lib/src/display/table';

before(async () => {
  await initBackend({ quiet: true });
});

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);

/** A probe result with the fields the pure functions read; the rest empty. */
function fake(o: { depth: number; norm: string; steps?: number; gradStd: number; stds: number[]; coherence: number; status?: 'ok' | 'diverged' }): rq2.ProbeResult {
  const layer = 'stage2/block0/conv1';
  return {
    model: `resnet${o.depth}-${o.norm}`,
    depth: o.depth,
    norm: o.norm,
    steps: o.steps ?? 0,
    status: o.status ?? 'ok',
    trainLosses: [],
    loss: 2.3,
    moments: o.stds.map((s, i) => ({ point: `b${i}`, depth: 2 * i + 3, channels: 4, meanStd: s, stdP10: s / 2, stdP90: s * 2, meanAbsMean: s / 3, absMeanP10: s / 6, absMeanP90: s })),
    gradients: [{ layer, depth: 7, count: 9, norm: 1, mean: 0, std: o.gradStd, kurtosis: 0, maxAbs: 1 }],
    middle: { layer, depth: 7, std: o.gradStd, kurtosis: 0, maxAbs: 1, shape: [1, 1, 1, 2], sample: [o.gradStd, -o.gradStd] },
    logits: [
      { example: 0, class: 0, grad: -0.5, label: 0 },
      { example: 0, class: 1, grad: 0.5, label: 0 },
    ],
    dominance: { examples: 1, dominantClass: 1, dominantShare: 1, predictedClass: 1, predictionShare: 1 },
    coherence: [
      { layer: 'early', depth: 3, entries: 9, medianRatio: 0.5, meanRatio: 0.5, meanAbsSum: 1, meanSumAbs: 2, aggregateRatio: 0.5 },
      { layer, depth: 7, entries: 9, medianRatio: o.coherence, meanRatio: o.coherence, meanAbsSum: o.coherence, meanSumAbs: 1, aggregateRatio: o.coherence },
    ],
    channelPairs: [{ inChannel: 0, outChannel: 0, meanAbsGrad: 1 }],
    channelPairTopShare: 1,
    seconds: 0,
  };
}

const rule = { minGradStdRatio: 10, minNoBnGrowth: 10, maxBnGrowth: 10 };

describe('rq2 pure pieces', () => {
  // quantile, momentProfile, channelPairMap and channelPairShare are the instrument's (test/instrument).

  it('headline statistics: std growth, gradient-std ratio, middle-layer coherence', () => {
    const noBn = fake({ depth: 110, norm: 'none', gradStd: 2, stds: [0.1, 1, 30], coherence: 0.4 });
    const bn = fake({ depth: 110, norm: 'batch', gradStd: 0.01, stds: [1, 2, 3], coherence: 0.02 });
    close(rq2.stdGrowth(noBn), 300, 1e-9, 'growth');
    close(rq2.gradientStdRatio(noBn, bn), 200, 1e-9, 'ratio');
    assert.equal(rq2.middleCoherence(bn), 0.02);
    assert.ok(Number.isNaN(rq2.stdGrowth({ ...bn, moments: bn.moments.slice(0, 1) })));
    const s = rq2.summaryRows([noBn, bn]);
    assert.deepEqual(s.map((r) => [r.network, r.norm]), [['ResNet-110', 'no BN'], ['ResNet-110', 'BN']]);
    assert.equal(s[1].coherence, 0.02);
  });

  it('chart rows carry network and norm labels', () => {
    const rs = [fake({ depth: 20, norm: 'batch', gradStd: 1, stds: [1, 2], coherence: 0.1 })];
    const m = rq2.momentRows(rs);
    assert.equal(m.length, 4);
    assert.deepEqual(Object.keys(m[0]).sort(), ['hi', 'layer', 'lo', 'network', 'norm', 'statistic', 'value', 'when']);
    assert.equal(m[0].norm, 'BN');
    assert.equal(m[0].when, 'at init');
    assert.equal(rq2.momentRows([{ ...rs[0], steps: 10 }])[0].when, 'after 10 steps');
    assert.deepEqual(rq2.trainLossRows([{ ...rs[0], trainLosses: [5, 4] }]).map((r) => [r.step, r.loss]), [[1, 5], [2, 4]]);
    assert.deepEqual(rq2.coherenceDepthRows(rs), [{ depth: 20, norm: 'BN', when: 'at init', ratio: 0.1 }]);
    assert.deepEqual(rq2.gradientRows(rs).map((r) => r.standardized), [1, -1]);
    assert.equal(rq2.logitRows(rs).length, 2);
    assert.equal(rq2.channelPairRows(rs)[0].norm, 'BN');
    assert.equal(rq2.table1Rows(rs).length, 2);
    assert.equal(rq2.gradientDepthRows(rs)[0].std, 1);
  });

  it('ratioRows pairs no BN with BN at the same depth and steps', () => {
    const rs = [
      fake({ depth: 56, norm: 'batch', gradStd: 0.1, stds: [1, 2], coherence: 0.1 }),
      fake({ depth: 56, norm: 'none', gradStd: 1, stds: [1, 20], coherence: 0.5 }),
      fake({ depth: 20, norm: 'none', gradStd: 1, stds: [1, 2], coherence: 0.5 }), // no BN partner
      fake({ depth: 56, norm: 'none', steps: 10, gradStd: 1, stds: [1, 2], coherence: 0.5 }),
      fake({ depth: 56, norm: 'batch', steps: 10, gradStd: 0.5, stds: [1, 2], coherence: 0.5 }),
    ];
    const r = rq2.ratioRows(rs);
    assert.deepEqual(r.map((x) => [x.depth, x.steps]), [[56, 0], [56, 10]]);
    close(r[0].gradStdRatio, 10, 1e-9, 'ratio');
    close(r[1].gradStdRatio, 2, 1e-9, 'ratio after steps');
    assert.equal(r[0].noBnGrowth, 20);
  });

  it('the verdict passes only when every check passes, and is inconclusive when one cannot be decided', () => {
    const bn = fake({ depth: 110, norm: 'batch', gradStd: 0.01, stds: [1, 2, 3], coherence: 0.02 });
    const noBn = fake({ depth: 110, norm: 'none', gradStd: 2, stds: [0.1, 1, 30], coherence: 0.4 });
    const ok = rq2.rq2Verdict(noBn, bn, rule);
    assert.equal(ok.passes, true);
    close(ok.gradStdRatio, 200, 1e-9, 'ratio');
    assert.equal(ok.checks.length, 4);

    assert.equal(rq2.rq2Verdict({ ...noBn, middle: { ...noBn.middle, std: 0.05 } }, bn, rule).passes, false, 'ratio 5 < 10');
    assert.equal(rq2.rq2Verdict(noBn, fake({ depth: 110, norm: 'batch', gradStd: 0.01, stds: [1, 20], coherence: 0.02 }), rule).passes, false, 'BN grows 20×');
    assert.equal(rq2.rq2Verdict(fake({ depth: 110, norm: 'none', gradStd: 2, stds: [1, 5], coherence: 0.4 }), bn, rule).passes, false, 'no BN grows only 5×');
    assert.equal(rq2.rq2Verdict(fake({ depth: 110, norm: 'none', gradStd: 2, stds: [0.1, 30], coherence: 0.01 }), bn, rule).passes, false, 'coherence lower without BN');

    assert.equal(rq2.rq2Verdict(undefined, bn, rule).passes, null);
    assert.equal(rq2.rq2Verdict({ ...noBn, status: 'diverged' }, bn, rule).passes, null);
    assert.equal(rq2.rq2Verdict({ ...noBn, middle: { ...noBn.middle, std: NaN } }, bn, rule).passes, null);
    // A failed check outweighs an undecided one.
    assert.equal(rq2.rq2Verdict({ ...noBn, middle: { ...noBn.middle, std: NaN }, coherence: [] }, { ...bn, moments: bn.moments.map((m, i) => ({ ...m, meanStd: 10 ** (2 * i) })) }, rule).passes, false);
    assert.deepEqual(rq2.checkRows(ok).map((c) => c.pass), ['✅', '✅', '✅', '✅']);
  });

  it('magnitudeExtent spans whole decades from the smallest group\'s low quantile to the largest |g|, and what it must include', () => {
    const a = fake({ depth: 20, norm: 'batch', gradStd: 1, stds: [1, 2], coherence: 0.1 });
    const b = fake({ depth: 20, norm: 'none', gradStd: 1, stds: [1, 2], coherence: 0.1 });
    a.middle.sample = [0.002, -0.003, 0.01, 0.02, 0];
    b.middle.sample = [1e-30, 0.5, -3, 2];
    assert.deepEqual(rq2.magnitudeExtent([a], { lowQuantile: 0 }), [1e-3, 1e-1]);
    assert.deepEqual(rq2.magnitudeExtent([a], { lowQuantile: 0, include: [4] }), [1e-3, 10]);
    // Medians 0.0065 (a) and 1.25 (b): b's dead-path 1e-30 does not stretch the axis; its 3 sets the top.
    assert.deepEqual(rq2.magnitudeExtent([a, b], { lowQuantile: 0.5 }), [1e-3, 10]);
    assert.deepEqual(rq2.magnitudeExtent([a, b], { lowQuantile: 0 }), [1e-30, 10]);
    assert.deepEqual(rq2.magnitudeExtent([{ ...a, middle: { ...a.middle, sample: [] } }]), [1e-6, 1]);
  });

  it('probeSpec and probeName describe a probe from the parameters', () => {
    const P: rq2.Params = {
      data: { dataset: 'fashion-mnist', testSize: 8 }, batch: 8, depths: [8], width: 4, init: { scheme: 'xavier', distribution: 'uniform' }, seed: 3,
      coherenceAt: [0.5], stepsDepth: 8, steps: { count: 2, learningRate: 1e-4, batchSize: 8, seed: 1, momentum: 0.9, weightDecay: 1e-4 }, rule,
    };
    const s0 = rq2.probeSpec(P, 8, 'none');
    assert.deepEqual(s0.model, { family: 'resnet', depth: 8, width: 4, norm: 'none', init: P.init, seed: 3 });
    assert.equal('steps' in s0, false, 'no steps key at init, so the stored config stays minimal');
    assert.equal(rq2.probeName(s0), 'rq2 probe resnet8-none');
    assert.equal(rq2.probeName(rq2.probeSpec(P, 8, 'batch', P.steps)), 'rq2 probe resnet8-batch after 2 steps');
  });

  it('findingNote gives the numbers behind the checks and what the steps changed', () => {
    const bn = fake({ depth: 110, norm: 'batch', gradStd: 0.01, stds: [1, 2, 4], coherence: 0.02 });
    const noBn = fake({ depth: 110, norm: 'none', gradStd: 2, stds: [0.1, 1, 30], coherence: 0.4 });
    const v = rq2.rq2Verdict(noBn, bn, rule);
    const note = rq2.findingNote(v, { noBn, bn }, { noBn: { ...noBn, steps: 10, middle: { ...noBn.middle, std: 0.02 } }, bn: { ...bn, steps: 10 }, learningRate: 1e-4 });
    assert.match(note, /grows 300× .* 4× with BN/);
    assert.match(note, /After 10 SGD steps at lr 0\.0001: gradient-std ratio 2,/);
    assert.doesNotMatch(note, /Failed/);
    const diverged = rq2.findingNote(v, { noBn, bn }, { noBn: { ...noBn, steps: 10, status: 'diverged' }, bn: { ...bn, steps: 10 } });
    assert.match(diverged, /the no BN network diverged/);
    const failed = rq2.rq2Verdict({ ...noBn, middle: { ...noBn.middle, std: 0.05 } }, bn, rule);
    assert.match(rq2.findingNote(failed, {}, {}), /^Failed: gradient std ratio/);
  });

  it('its tables are showTable\'s with column titles, numbers as fmt writes them', () => {
    const t = markdownTable(rq2.table1Rows([fake({ depth: 20, norm: 'none', gradStd: 1, stds: [1, 2], coherence: 0.25 })]), rq2.TABLE1);
    assert.deepEqual(t.split('\n'), [
      '| network | norm | conv layer | depth | mean \\|Σd\\| | mean Σ\\|d\\| | \\|Σd\\| / Σ\\|d\\| |',
      '| --- | --- | --- | ---: | ---: | ---: | ---: |',
      '| ResNet-20 | no BN | early | 3 | 1 | 2 | 0.5 |',
      '| ResNet-20 | no BN | stage2/block0/conv1 | 7 | 0.25 | 1 | 0.25 |',
    ]);
    const s = markdownTable(rq2.summaryRows([fake({ depth: 20, norm: 'batch', gradStd: 0.000012345, stds: [1, 2], coherence: 0.25 })]), rq2.SUMMARY_TABLE);
    assert.match(s.split('\n')[2], /^\| ResNet-20 \| BN \| at init \| 2\.3 \| 1\.23e-5 \| 0 \| 2 \|/);
  });
});

describe('rq2 probe', () => {
  it('measures a small ResNet at init and after steps, leaving no tensors behind', async () => {
    const data = { dataset: 'fashion-mnist' as const, trainSize: 64, testSize: 32, seed: 1 };
    const model = { family: 'resnet' as const, depth: 8, width: 4, norm: 'none' as const, seed: 1 };
    await rq2.probe({ data, batch: 16, model }); // warm up: loads data, compiles kernels
    const before = tf.memory().numTensors;
    const r = await rq2.probe({ data, batch: 16, model, histogramSample: 50 });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(r.status, 'ok');
    assert.equal(r.model, 'resnet8-none');
    assert.equal(r.steps, 0);
    assert.equal(r.moments.length, 3, 'one row per block');
    assert.equal(r.gradients.length, 7, 'every conv');
    assert.equal(r.middle.sample.length, 50);
    assert.deepEqual(r.middle.shape.slice(0, 2), [3, 3]);
    assert.equal(r.logits.length, 16 * 10);
    assert.equal(r.channelPairs.length, r.middle.shape[2] * r.middle.shape[3]);
    assert.ok(r.coherence.length >= 2 && r.coherence.some((c) => c.layer === r.middle.layer));
    assert.ok(Number.isFinite(r.loss) && r.loss > 0);
    // Rebuilt from its seed: the same probe gives the same numbers.
    const again = await rq2.probe({ data, batch: 16, model, histogramSample: 50 });
    assert.equal(again.middle.std, r.middle.std);

    const trained = await rq2.probe({ data, batch: 16, model: { ...model, norm: 'batch' }, steps: { count: 3, learningRate: 0.01, batchSize: 16, seed: 1 } });
    assert.equal(trained.steps, 3);
    assert.equal(trained.trainLosses.length, 3);
    assert.equal(trained.status, 'ok');
  });
});
