import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Matrix } from 'ml-matrix';
import { initBackend } from '../../lib/src/backend';
import { autodiffJacobian, networkJacobian, networkJacobianSpectrum, networkWeights, weightsFromMlp } from '../../lib/src/instrument/jacobian';
import { fussCatalanEdge, multiplyChain } from '../../lib/src/instrument/random-matrix';
import { mlp } from '../../lib/src/models';
import { Rng } from '../../lib/src/util/rng';

before(async () => {
  await initBackend({ quiet: true });
});

const close = (actual: number, expected: number, rel: number, what = '') =>
  assert.ok(Math.abs(actual / expected - 1) <= rel, `${what}: ${actual} is not within ${rel * 100}% of ${expected}`);
const maxAbsDiff = (a: Matrix, b: Matrix) => a.clone().sub(b).abs().max();
const randomBatch = (B: number, n: number, seed: number) => {
  const rng = new Rng(seed);
  return Array.from({ length: B }, () => Float64Array.from({ length: n }, () => rng.normal()));
};

describe('Jacobians of an MLP at initialisation', () => {
  it("draws exactly the hidden kernels of lib/src/models' mlp (transposed)", () => {
    for (const init of [{ scheme: 'he', distribution: 'normal' }, { scheme: 'xavier', distribution: 'uniform' }] as const) {
      const m = mlp({ depth: 3, width: 5, norm: 'batch', inputShape: [1, 1, 5], numClasses: 2, init, seed: 7 });
      const stack = weightsFromMlp(m);
      const mine = networkWeights({ depth: 3, width: 5, init, seed: 7 });
      stack.weights.forEach((w, i) => assert.equal(maxAbsDiff(w, mine[i]), 0, `${init.scheme} layer ${i + 1}`));
      assert.equal(stack.bn?.length, 3);
      m.dispose();
    }
  });

  it('of a linear net is the product of its weight matrices', () => {
    const W = networkWeights({ depth: 4, width: 7, init: 'xavier', seed: 1 });
    const { jacobian } = networkJacobian(W, randomBatch(1, 7, 2)[0], 0, { activation: 'linear' });
    assert.ok(maxAbsDiff(jacobian, multiplyChain(W)) < 1e-14);
  });

  it('of a ReLU net matches tf.grad on a tiny net, with and without BN (frozen statistics)', async () => {
    const W = networkWeights({ depth: 3, width: 6, init: 'he', seed: 3 });
    const batch = randomBatch(16, 6, 9);
    for (const norm of ['none', 'batch'] as const) {
      const { jacobian } = networkJacobian(W, batch, 2, { activation: 'relu', norm });
      const auto = await autodiffJacobian(W, batch, 2, { activation: 'relu', norm });
      // tf is float32: observed 1e-8 (none) and 8e-8 (batch) against entries of order 0.1–1.
      assert.ok(maxAbsDiff(jacobian, auto) < 1e-5 * jacobian.abs().max() + 1e-6, `${norm}: ${maxAbsDiff(jacobian, auto)}`);
      assert.ok(jacobian.abs().max() > 0.01, 'not trivially zero');
    }
  });

  it("BN's training-mode coupling: one layer matches the per-unit formula, and frozen statistics converge as O(1/B)", async () => {
    // One linear BN layer: ∂y_b/∂x_b = diag((1 − (1 + x̂_b²)/B)/√(v + ε))·W.
    const [W] = networkWeights({ depth: 1, width: 5, init: 'he', seed: 2 });
    const B = 8;
    const batch = randomBatch(B, 5, 3);
    const exact = await autodiffJacobian([W], batch, 0, { activation: 'linear', norm: 'batch', bnMode: 'train' });
    const z = new Matrix(batch.map((r) => Array.from(r))).mmul(W.transpose());
    const formula = W.clone();
    for (let j = 0; j < 5; j++) {
      const col = z.getColumn(j);
      const mu = col.reduce((a, b) => a + b) / B;
      const v = col.reduce((a, b) => a + (b - mu) ** 2, 0) / B + 1e-5;
      const xhat = (col[0] - mu) / Math.sqrt(v);
      formula.mulRow(j, (1 - (1 + xhat * xhat) / B) / Math.sqrt(v));
    }
    assert.ok(maxAbsDiff(exact, formula) < 1e-5, `${maxAbsDiff(exact, formula)}`);

    // Deep: the frozen-statistics Jacobian is the training-mode block up to O(M/B).
    // Observed relative Frobenius gaps (depth 5, width 16): 0.46, 0.13, 0.032 at B = 8, 32, 128.
    const W5 = networkWeights({ depth: 5, width: 16, init: 'he', seed: 4 });
    const gap = async (b: number) => {
      const data = randomBatch(b, 16, b);
      const frozen = networkJacobian(W5, data, 0, { activation: 'relu', norm: 'batch' }).jacobian;
      const train = await autodiffJacobian(W5, data, 0, { activation: 'relu', norm: 'batch', bnMode: 'train' });
      return frozen.clone().sub(train).norm() / frozen.norm();
    };
    const [g8, g128] = [await gap(8), await gap(128)];
    assert.ok(g128 < 0.06 && g8 > 4 * g128, `gaps ${g8} (B = 8), ${g128} (B = 128)`);
  });

  it('keeps mean σ² at the init scale: 1 for linear Xavier and ReLU He, 2^M for linear He, 2^−M for ReLU Xavier', () => {
    const o = { depth: 8, width: 128, seed: 1 };
    const ms = (activation: 'linear' | 'relu', init: 'he' | 'xavier') => networkJacobianSpectrum({ ...o, activation, init }).summary.meanSquare;
    close(ms('linear', 'xavier'), 1, 0.1, 'linear xavier');
    close(ms('linear', 'he'), 2 ** 8, 0.1, 'linear he');
    const reluHe = ms('relu', 'he');
    const reluXavier = ms('relu', 'xavier');
    assert.ok(reluHe > 0.6 && reluHe < 1.6, `relu he ${reluHe}`);
    close(reluXavier / reluHe, 2 ** -8, 1e-6, 'relu xavier = relu he · 2^−M'); // same draws ×1/√2 per layer (up to float32 rounding)
    // A ReLU Jacobian is rank-deficient: its rows for inactive last-layer units are zero.
    const r = networkJacobianSpectrum({ ...o, activation: 'relu', init: 'he' });
    const activeLast = r.layers[7].activeFraction * 128;
    assert.ok(r.summary.numericalRank <= activeLast && r.summary.conditionNumber > 1e10);
    assert.ok(Number.isFinite(r.nonzeroSummary.conditionNumber));
  });

  it('with BN (frozen statistics): removes the init scale, but ReLU + BN gains 1/√(1 − 1/π) per layer', () => {
    const o = { depth: 8, width: 128, seed: 1, norm: 'batch' as const };
    const he = networkJacobianSpectrum({ ...o, activation: 'linear', init: 'he' });
    const xavier = networkJacobianSpectrum({ ...o, activation: 'linear', init: 'xavier' });
    // BN is scale-invariant: He and Xavier (same draws, ×√2) give one Jacobian (up to ε = 1e-5).
    he.singularValues.slice(0, 50).forEach((s, i) => close(s, xavier.singularValues[i], 1e-4, `σ_${i}`));
    he.layers.forEach((l) => close(l.bnScale!, Math.SQRT1_2, 0.1, `He bnScale, layer ${l.layer}`));
    close(he.summary.meanSquare, 1, 0.3, 'linear + BN mean σ²');
    // …but it does not undo the Fuss–Catalan spread (FC_8(2)/FC_8(1)² = 9).
    assert.ok(he.summary.meanFourth / he.summary.meanSquare ** 2 > 5);
    // ReLU: BN subtracts the ReLU output's mean, whose variance share is 1/(2π) of E y² = 1/2,
    // so after layer 1 it multiplies by 1/√(2·(1/2 − 1/(2π))) = 1/√(1 − 1/π) ≈ 1.211 (He),
    // and mean σ² grows ≈ 1.47× per layer: BN's gradient explosion (Yang et al. 2019).
    const relu = networkJacobianSpectrum({ ...o, activation: 'relu', init: 'he' });
    relu.layers.slice(1).forEach((l) => close(l.bnScale!, 1 / Math.sqrt(1 - 1 / Math.PI), 0.05, `ReLU bnScale, layer ${l.layer}`));
    assert.ok(relu.layers[7].cumulativeMeanSquare > 4 * relu.layers[1].cumulativeMeanSquare);
  });

  it('rejects bad input', () => {
    const W = networkWeights({ depth: 2, width: 3, init: 'he', seed: 0 });
    assert.throws(() => networkJacobian(W, [[1, 2]], 0, { activation: 'relu' }), /inputs have 2 features, the first layer takes 3/);
    assert.throws(() => networkJacobian(W, [[1, 2, 3]], 0, { activation: 'relu', norm: 'batch' }), /at least 2 examples/);
    assert.throws(() => fussCatalanEdge(0), /M must be a positive integer/);
  });
});
