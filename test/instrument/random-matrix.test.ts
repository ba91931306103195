import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Matrix, QrDecomposition } from 'ml-matrix';
import {
  digamma,
  fussCatalanAt,
  fussCatalanDensity,
  fussCatalanEdge,
  fussCatalanNumber,
  gaussianFactors,
  gaussianMatrix,
  gaussianProduct,
  lyapunovExponents,
  multiplyChain,
  productSingularValues,
  productSpectrum,
  singularValues,
  spectraByDepth,
  spectrumSummary,
  squaredSingularMoment,
} from '../../lib/src/instrument/random-matrix';
import { Rng } from '../../lib/src/util/rng';

const close = (actual: number, expected: number, rel: number, what = '') =>
  assert.ok(Math.abs(actual / expected - 1) <= rel, `${what}: ${actual} is not within ${rel * 100}% of ${expected}`);
const maxAbsDiff = (a: Matrix, b: Matrix) => a.clone().sub(b).abs().max();

describe('singular values of known products', () => {
  it('of identity and diagonal factors are the sorted products of |diagonals|, by both methods', () => {
    const d1 = [3, -0.5, 2, 1e-3, -7];
    const d2 = [-2, 4, 0.25, 10, 1];
    const factors = [Matrix.eye(5), Matrix.diag(d1), Matrix.eye(5), Matrix.diag(d2)];
    const exact = d1.map((v, i) => Math.abs(v * d2[i])).sort((a, b) => b - a);
    for (const method of ['direct', 'two-sided'] as const) {
      const sv = productSingularValues(factors, { method });
      exact.forEach((e, i) => close(sv[i], e, 1e-12, `${method} σ_${i}`));
    }
    assert.deepEqual(Array.from(singularValues([[0, 2], [-3, 0], [0, 0]])), [3, 2]); // rectangular, descending
    assert.throws(() => singularValues([[1, NaN], [0, 1]]), /entry \(0, 1\) is NaN/);
  });

  it("'two-sided' resolves a product with κ = 1e24 that the explicit product cannot", () => {
    // A_k = O·diag(d_k)·Oᵀ with one orthogonal O: the product is O·diag(Π d_k)·Oᵀ,
    // singular values Π|d_k| from 1e12 down to 1e-12.
    const N = 20;
    const O = new QrDecomposition(gaussianMatrix(N, new Rng(5))).orthogonalMatrix;
    const exact = new Float64Array(N).fill(1);
    const factors = Array.from({ length: 6 }, (_, k) => {
      const d = Array.from({ length: N }, (_, i) => (k % 2 ? -1 : 1) * 10 ** (2 - (4 * i) / (N - 1)));
      d.forEach((v, i) => (exact[i] *= Math.abs(v)));
      return O.mmul(Matrix.diag(d)).mmul(O.transpose());
    });
    exact.sort().reverse();
    const direct = productSingularValues(factors);
    const two = productSingularValues(factors, { method: 'two-sided' });
    // Observed: worst relative error 4e-6 (at the split, ≈ √κ·ε); direct is off by 1.6e6× at σ_min.
    exact.forEach((e, i) => close(two[i], e, 1e-4, `two-sided σ_${i}`));
    assert.ok(direct[N - 1] / exact[N - 1] > 1e3, 'the explicit product cannot see σ_min = 1e-12 below σ_max·ε');
    assert.ok(spectrumSummary(direct).numericalRank < N);
  });

  it('summarises a spectrum', () => {
    const s = spectrumSummary([0.5, 4, 1, 2]);
    assert.equal(s.max, 4);
    assert.equal(s.min, 0.5);
    assert.equal(s.conditionNumber, 8);
    assert.equal(s.median, 1.5);
    assert.equal(s.meanSquare, (0.25 + 16 + 1 + 4) / 4);
    assert.equal(s.fractionBelow(1.5), 0.5);
    assert.equal(spectrumSummary([1, 0]).conditionNumber, Infinity);
    assert.equal(squaredSingularMoment([1, 2], 2), (1 + 16) / 2);
  });
});

describe('Fuss–Catalan theory', () => {
  it('puts the edge at 2, 3.0792, 3.8639 for M = 1, 3, 5, and near √(e(M+1)) for large M', () => {
    assert.equal(fussCatalanEdge(1), 2);
    assert.equal(fussCatalanEdge(3).toFixed(4), '3.0792'); // √(4⁴/3³) = √(256/27)
    assert.equal(fussCatalanEdge(5).toFixed(4), '3.8639'); // √(6⁶/5⁵) = √(46656/3125)
    close(fussCatalanEdge(1000), Math.sqrt(Math.E * 1001), 1e-3, 'large M');
  });

  it('has the Fuss–Catalan numbers as moments: Catalan for M = 1, FC_M(1) = 1, FC_M(2) = M + 1', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((k) => fussCatalanNumber(1, k)), [1, 1, 2, 5, 14, 42]);
    for (const M of [1, 2, 3, 7, 50]) {
      close(fussCatalanNumber(M, 1), 1, 1e-12, `FC_${M}(1)`);
      close(fussCatalanNumber(M, 2), M + 1, 1e-12, `FC_${M}(2)`);
    }
    assert.equal(fussCatalanNumber(2, 3), 12);
    assert.equal(fussCatalanNumber(3, 3), 22);
  });

  it('has a density that is Marchenko–Pastur for M = 1 and integrates to the FC moments', () => {
    for (const x of [0.3, 1, 2.5, 3.9]) {
      // invert x(u) = 4cos²u
      const u = Math.acos(Math.sqrt(x / 4));
      close(fussCatalanAt(1, u).density, Math.sqrt((4 - x) / x) / (2 * Math.PI), 1e-12, `MP at ${x}`);
    }
    for (const M of [1, 3]) {
      // ∫ x^k f(x) dx over the parametrisation, midpoint rule in u (x^{−M/(M+1)} at 0 is integrable).
      const n = 200000;
      const uMax = Math.PI / (M + 1);
      const mom = [0, 0, 0];
      for (let i = 0; i < n; i++) {
        const a = fussCatalanAt(M, (uMax * i) / n).x || fussCatalanEdge(M) ** 2;
        const b = fussCatalanAt(M, (uMax * (i + 1)) / n).x;
        const { x, density } = fussCatalanAt(M, (uMax * (i + 0.5)) / n);
        for (let k = 0; k < 3; k++) mom[k] += x ** k * density * (a - b);
      }
      close(mom[0], 1, 2e-3, `M=${M} mass`);
      close(mom[1], 1, 1e-3, `M=${M} mean`);
      close(mom[2], M + 1, 1e-3, `M=${M} second moment`);
    }
    const grid = fussCatalanDensity(3, { points: 50 });
    assert.equal(grid.length, 50);
    assert.ok(grid.every((p, i) => i === 0 || p.x > grid[i - 1].x), 'ascending in x');
    assert.ok(grid[49].x < fussCatalanEdge(3) ** 2 && grid[0].density > grid[25].density, 'mass piles up near 0');
  });

  it('computes digamma and the Lyapunov exponents of Gaussian products', () => {
    const gamma = 0.5772156649015329;
    close(digamma(1), -gamma, 1e-12, 'ψ(1)');
    close(digamma(0.5), -gamma - 2 * Math.LN2, 1e-12, 'ψ(1/2)');
    close(digamma(100), Math.log(100) - 1 / 200 - 1 / 120000 + 1 / 1.2e10, 1e-12, 'ψ(100)');
    const mu = lyapunovExponents(400);
    assert.ok(mu.every((v, i) => i === 0 || v < mu[i - 1]));
    assert.ok(Math.abs(mu[0]) < 0.01, 'the top exponent is ≈ 0 at the variance-preserving scale');
    close((mu[0] - mu[399]) / Math.LN10, 1.577, 1e-3, 'decades of κ per layer at N = 400');
  });
});

describe('empirical spectra of Gaussian products', () => {
  // N = 400: each SVD takes ≈ 0.4 s here (ml-matrix, no vectors); the M = 3 product ≈ 0.4 s more.
  const N = 400;
  it('M = 1 at N = 400: σ_max within 2% of the edge 2, and σ² moments ≈ 1, 2, 5', () => {
    const sv = singularValues(gaussianProduct(1, N, new Rng(1)));
    assert.equal(sv.length, N);
    // Observed 1.9794 (0.990·edge); seeds 2, 3 gave 1.9938, 1.9878. Edge fluctuations are O(N^{−2/3}) ≈ 2%.
    const max = sv[0];
    assert.ok(max < 2 * 1.01 && max > 2 * 0.98, `σ_max = ${max}`);
    close(squaredSingularMoment(sv, 1), 1, 0.01, 'mean σ²'); // observed 1.0036
    close(squaredSingularMoment(sv, 2), 2, 0.02, 'mean σ⁴'); // observed 2.013 (finite-N mean 2 + 1/N)
    close(squaredSingularMoment(sv, 3), 5, 0.03, 'mean σ⁶'); // observed 5.04
  });

  it('M = 3 at N = 400: σ_max within 3% of the edge 3.079, and σ² moments ≈ 1, 4, 22', () => {
    const rows = productSpectrum(3, N, new Rng(1));
    assert.equal(rows.length, N);
    assert.deepEqual(Object.keys(rows[0]).sort(), ['M', 'index', 'singularValue']);
    const sv = rows.map((r) => r.singularValue);
    // Observed 3.0445 (0.989·edge); seeds 2, 3 gave 0.974 and 0.998: convergence is slower than for M = 1.
    const ratio = sv[0] / fussCatalanEdge(3);
    assert.ok(ratio < 1.01 && ratio > 0.97, `σ_max/edge = ${ratio}`);
    close(squaredSingularMoment(sv, 1), 1, 0.015, 'mean σ²'); // observed 1.0045
    close(squaredSingularMoment(sv, 2), 4, 0.03, 'mean σ⁴'); // observed 4.025
    close(squaredSingularMoment(sv, 3), 22, 0.06, 'mean σ⁶'); // observed 22.10
  });

  it('builds the product incrementally from the factors, in order', () => {
    const P = gaussianProduct(3, 6, new Rng(2), { variance: 0.5 });
    const F = gaussianFactors(3, 6, new Rng(2), { variance: 0.5 });
    assert.ok(maxAbsDiff(P, F[2].mmul(F[1]).mmul(F[0])) < 1e-12);
    assert.ok(maxAbsDiff(P, multiplyChain(F)) === 0);
  });

  it('the condition number grows exponentially with M, at the Lyapunov rate, past what the explicit product resolves', () => {
    const rows = spectraByDepth({ depths: [1, 2, 5, 10, 20, 40], N: 100, seeds: [0] });
    assert.deepEqual(rows.map((r) => r.M), [1, 2, 5, 10, 20, 40]);
    const logK = rows.map((r) => r.log10ConditionNumber);
    assert.ok(logK.every((v, i) => i === 0 || v > logK[i - 1]), `log10 κ should increase: ${logK}`);
    // At small M both ways of getting σ_min agree; by M = 20 the explicit product saturates at ~1/ε.
    close(rows[0].conditionNumber, rows[0].directConditionNumber, 1e-6, 'κ at M = 1');
    close(rows[1].conditionNumber, rows[1].directConditionNumber, 1e-4, 'κ at M = 2');
    assert.ok(rows[4].directConditionNumber < 1e20 && rows[5].conditionNumber > 1e40);
    // Observed slope 1.34 decades per layer from M = 20 to 40; (ψ(50) − ψ(1/2))/(2 ln 10) = 1.274.
    const slope = (logK[5] - logK[4]) / 20;
    close(slope, rows[5].log10ConditionLyapunov / 40, 0.15, 'log10 κ per layer');
    // The mass near 0 grows with depth; σ_max at N = 100 falls behind the N → ∞ edge for large M.
    const frac = rows.map((r) => r.fractionBelow);
    assert.ok(frac.every((v, i) => i === 0 || v >= frac[i - 1]), `fraction below 0.1: ${frac}`);
    assert.ok(rows[0].maxOverEdge > 0.95 && rows[5].maxOverEdge < 0.8);
  });
});
