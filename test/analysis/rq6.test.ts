import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StableStepSummary } from '../../lib/src/analysis/rq5';
import {
  landscapeSummaries,
  landscapeVerdict,
  LandscapeProbeRow,
  LandscapeSummaryRow,
  Rq6Normaliser,
  stableRateVerdict,
  stableStepVerdict,
  summarize,
  sweepPoints,
} from '../../lib/src/analysis/rq6';
import { SweepRow } from '../../lib/src/analysis/sweep';
import { lrSweepBase, sweepSpec } from '../../lib/src/experiments/sweep';
import { sweepRowOf as run } from './helpers';

// Rates 10 … 0.1 in half-decade steps. BN learns up to 3; no BN only at 0.1;
// GN up to 1 (one step below BN), LN up to 0.3 (two), Fixup diverges above 0.1.
const rows = (over: (n: Rq6Normaliser, lr: number) => number | null | undefined = () => undefined): SweepRow[] => {
  const acc: Record<Rq6Normaliser, (lr: number) => number | null> = {
    batch: (lr) => (lr >= 10 ? 0.1 : 0.8),
    none: (lr) => (lr > 0.1 ? 0.1 : 0.77),
    group: (lr) => (lr > 1 ? 0.1 : 0.78),
    layer: (lr) => (lr > 0.3 ? 0.1 : 0.6),
    fixup: (lr) => (lr > 0.1 ? null : 0.79),
  };
  const out: SweepRow[] = [];
  for (const n of ['batch', 'none', 'group', 'layer', 'fixup'] as const)
    for (const lr of n === 'batch' ? [10, 3, 1, 0.3, 0.1] : [3, 1, 0.3, 0.1]) {
      const a = over(n, lr);
      out.push(run(n, lr, a === undefined ? acc[n](lr) : a));
    }
  return out;
};

describe('RQ6: the sweep', () => {
  it("runs every rate for every normaliser; only group norm's points carry groups, and sweepSpec builds them", () => {
    const pts = sweepPoints({ normalisers: ['group', 'fixup'], learningRates: [1, 0.1], seeds: [2], groups: 4 });
    assert.deepEqual(pts, [
      { norm: 'group', learningRate: 1, seed: 2, groups: 4 },
      { norm: 'group', learningRate: 0.1, seed: 2, groups: 4 },
      { norm: 'fixup', learningRate: 1, seed: 2 },
      { norm: 'fixup', learningRate: 0.1, seed: 2 },
    ]);
    const base = lrSweepBase('smoke');
    const gn = sweepSpec(base, pts[0]);
    assert.equal(gn.model.norm, 'group');
    assert.equal((gn.model as { groups?: number }).groups, 4);
    assert.match(gn.label ?? '', /GN \(4 groups\), lr 1, seed 2/);
    // A point without groups keeps the key it had before groups existed: no `groups` field at all.
    assert.ok(!('groups' in sweepSpec(base, { norm: 'batch', learningRate: 1, seed: 2 }).model));
    assert.throws(() => sweepSpec(base, { norm: 'batch', learningRate: 1, seed: 2, groups: 4 }), /groups is group norm's option/);
  });

  it("summarises each normaliser's largest stable and best rate", () => {
    const s = summarize(rows());
    assert.deepEqual(
      s.map((x) => [x.norm, x.largestStableLearningRate, x.bestLearningRate]),
      [
        ['none', 0.1, 0.1],
        ['fixup', 0.1, 0.1],
        ['layer', 0.3, 0.3],
        ['group', 1, 1],
        ['batch', 3, 3],
      ],
    );
  });
});

describe("RQ6: as large a stable rate as BN's", () => {
  it('within one grid step of BN passes, two steps below fails, stable at none fails', () => {
    const r = rows();
    const gn = stableRateVerdict(r, 'group');
    assert.equal(gn.pass, true, gn.reason);
    assert.equal(gn.stepsBelowBatch, 1);
    assert.deepEqual(gn.rates, [10, 3, 1, 0.3, 0.1]);
    assert.equal(gn.converged, true);
    const ln = stableRateVerdict(r, 'layer');
    assert.equal(ln.pass, false, ln.reason);
    assert.equal(ln.stepsBelowBatch, 2);
    assert.match(ln.reason, /more than 1 grid step\(s\) below BN's/);
    assert.equal(stableRateVerdict(r, 'fixup').pass, false);
    // Nothing learns for Fixup: stable at none, below every rate.
    const none = stableRateVerdict(
      rows((n) => (n === 'fixup' ? null : undefined)),
      'fixup',
    );
    assert.equal(none.pass, false);
    assert.equal(none.contenderRate, null);
    // A stricter rule (no step allowed) fails group norm.
    assert.equal(stableRateVerdict(r, 'group', { minAccuracy: 0.2, gridSteps: 0 }).pass, false);
  });

  it("is inconclusive when BN is stable at the grid's top, at no rate, when no BN is as stable, or when a read run has not converged", () => {
    const top = stableRateVerdict(
      rows((n) => (n === 'batch' ? 0.8 : undefined)),
      'group',
    );
    assert.equal(top.pass, null);
    assert.match(top.reason, /BN is stable at the grid's largest rate, 10/);
    const never = stableRateVerdict(
      rows((n) => (n === 'batch' ? 0.1 : undefined)),
      'group',
    );
    assert.equal(never.pass, null);
    assert.match(never.reason, /BN is stable at no learning rate/);
    const same = stableRateVerdict(
      rows((n, lr) => (n === 'none' && lr <= 1 ? 0.7 : undefined)),
      'group',
    );
    assert.equal(same.pass, null);
    assert.match(same.reason, /does not separate/);
    // GN at 1 (its largest stable rate) still rising: what the verdict reads has not converged.
    const r = rows().map((x) => (x.norm === 'group' && x.learningRate === 1 ? run('group', 1, 0.78, 1, 'not converged') : x));
    const open = stableRateVerdict(r, 'group');
    assert.equal(open.pass, null);
    assert.equal(open.converged, false);
    assert.match(open.reason, /GN at lr 1, seed 1 \(100 steps, about 50 more suggested\)/);
    // An unconverged run the verdict does not read (GN at 0.1, below its largest stable rate and not its best) does not matter.
    const r2 = rows().map((x) => (x.norm === 'group' && x.learningRate === 0.1 ? run('group', 0.1, 0.5, 1, 'not converged') : x));
    assert.equal(stableRateVerdict(r2, 'group').pass, true);
    assert.throws(() => stableRateVerdict(rows(), 'group', { minAccuracy: 0.2, gridSteps: 0.5 }), /gridSteps/);
  });
});

describe("RQ6: one step as large as BN's", () => {
  const s = (estimate: number, censored: StableStepSummary['censored'] = null): StableStepSummary => ({
    step: censored ? null : estimate,
    estimate,
    low: null,
    high: null,
    batches: 3,
    censored,
  });
  it('passes when every contender reaches BN ÷ factor, fails when one does not', () => {
    const ok = stableStepVerdict({ batch: s(1), none: s(0.01), layer: s(0.5), group: s(0.4) }, ['layer', 'group'], { factor: 3.2 });
    assert.equal(ok.pass, true, ok.reason);
    assert.equal(ok.ratios.layer, 0.5);
    const bad = stableStepVerdict({ batch: s(1), none: s(0.01), layer: s(0.5), group: s(0.2) }, ['layer', 'group'], { factor: 3.2 });
    assert.equal(bad.pass, false);
    assert.match(bad.reason, /GN below 1\/3.2/);
    // Stable at every probed step counts at the grid's edge, so it matches.
    assert.equal(
      stableStepVerdict({ batch: s(1), none: s(0.01), layer: s(100, 'above'), group: s(1) }, ['layer', 'group'], { factor: 3.2 }).pass,
      true,
    );
  });
  it('is inconclusive when BN is censored, no BN is within the factor, or a probe is missing', () => {
    assert.equal(
      stableStepVerdict({ batch: s(100, 'above'), none: s(0.01), layer: s(1), group: s(1) }, ['layer', 'group'], { factor: 3.2 }).pass,
      null,
    );
    const same = stableStepVerdict({ batch: s(1), none: s(2), layer: s(1), group: s(1) }, ['layer', 'group'], { factor: 3.2 });
    assert.equal(same.pass, null);
    assert.match(same.reason, /does not separate/);
    assert.equal(stableStepVerdict({ batch: s(1), none: s(0.01), layer: s(1) }, ['layer', 'group'], { factor: 3.2 }).pass, null);
    assert.throws(() => stableStepVerdict({}, ['layer'], { factor: 0.5 }), /factor/);
  });
});

describe('RQ6: the landscape (Santurkar et al.)', () => {
  const probe = (checkpoint: number, batch: number, losses: number[], betas: number[]): LandscapeProbeRow[] =>
    losses.map((loss, i) => ({
      checkpoint,
      batch,
      stepSize: 0.1 * (i + 1),
      loss,
      lossBefore: 2,
      gradientChange: betas[i] * 0.1 * (i + 1),
      betaSmoothness: betas[i],
    }));
  it('summarises each (checkpoint, batch): loss range with θ, largest β', () => {
    const s = landscapeSummaries([...probe(0, 0, [1.5, 3], [2, 5]), ...probe(10, 0, [1.9, 1.8], [1, 1])]);
    assert.equal(s.length, 2);
    assert.deepEqual([s[0].lossVariation, s[0].betaSmoothness], [1.5, 5]);
    assert.ok(Math.abs(s[1].lossVariation - 0.2) < 1e-12);
  });
  const row = (checkpoint: number, lossVariation: number, betaSmoothness: number): LandscapeSummaryRow => ({
    checkpoint,
    batch: 0,
    lossVariation,
    gradientChange: 0,
    betaSmoothness,
  });
  it('reproduced when both medians of BN ÷ no BN are below 1, not when both are at or above, inconclusive when they disagree', () => {
    const none = [row(0, 2, 10), row(1, 2, 10), row(2, 2, 10)];
    const v = landscapeVerdict([row(0, 1, 1), row(1, 1, 20), row(2, 3, 2)], none);
    assert.equal(v.pass, true, v.reason);
    assert.equal(v.lossVariationRatio, 0.5);
    assert.equal(v.betaSmoothnessRatio, 0.2);
    assert.equal(v.pairs, 3);
    assert.equal(landscapeVerdict([row(0, 4, 10), row(1, 4, 20), row(2, 4, 30)], none).pass, false);
    const mixed = landscapeVerdict([row(0, 1, 20), row(1, 1, 20), row(2, 1, 20)], none);
    assert.equal(mixed.pass, null);
    assert.match(mixed.reason, /disagree/);
    // Only pairs probed for both count; none → inconclusive.
    assert.equal(landscapeVerdict([row(5, 1, 1)], none).pass, null);
  });
});
