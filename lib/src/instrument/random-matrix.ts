/**
 * Random-matrix theory for RQ3 of the paper, with no network in it: the
 * singular values of a product A_M…A_1 of independent N×N Gaussian matrices
 * (entries N(0, 1/N)), the Fuss–Catalan law they follow as N → ∞, the
 * Lyapunov exponents at finite N, and how the spread grows with the depth M.
 * The same measurements on the Jacobian of an actual network are in
 * ./jacobian.
 *
 * Plain float64 JavaScript on ml-matrix: the smallest singular values of a
 * deep product lie many orders of magnitude below the largest, and float32
 * (what tfjs computes in) would resolve only about seven of them.
 *
 * Conventions. Matrices act on column vectors. A product of factors
 * [A_1, …, A_M] means A_M·…·A_1, so factors[0] acts first.
 */
import { inverse, Matrix, SingularValueDecomposition } from 'ml-matrix';
import { Rng } from '../util/rng';

const EPS64 = Number.EPSILON;

// ---------------------------------------------------------------------------
// Gaussian products

/** An N×N matrix of i.i.d. N(0, variance) entries (default variance 1/N). */
export function gaussianMatrix(N: number, rng: Rng, variance = 1 / N): Matrix {
  checkPositiveInt(N, 'N');
  if (!(variance > 0)) throw new Error(`gaussianMatrix: variance must be positive, got ${variance}`);
  const std = Math.sqrt(variance);
  const m = new Matrix(N, N);
  // Drawn in float64 straight from rng.normal (normalArray would round to float32).
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) m.set(i, j, rng.normal() * std);
  return m;
}

/** M independent Gaussian factors [A_1, …, A_M], drawn in that order from rng. */
export function gaussianFactors(M: number, N: number, rng: Rng, opts: { variance?: number } = {}): Matrix[] {
  checkPositiveInt(M, 'M');
  const out: Matrix[] = [];
  for (let k = 0; k < M; k++) out.push(gaussianMatrix(N, rng, opts.variance ?? 1 / N));
  return out;
}

/**
 * The product A_M…A_1 of M independent N×N Gaussian matrices with entries
 * N(0, variance), variance 1/N by default (so E‖P x‖² = ‖x‖²: the
 * "variance-preserving" scale). Multiplied incrementally, P_k = A_k·P_{k−1},
 * so only two N×N matrices are alive at a time.
 */
export function gaussianProduct(M: number, N: number, rng: Rng, opts: { variance?: number } = {}): Matrix {
  checkPositiveInt(M, 'M');
  const variance = opts.variance ?? 1 / N;
  let p = gaussianMatrix(N, rng, variance);
  for (let k = 1; k < M; k++) p = gaussianMatrix(N, rng, variance).mmul(p);
  return p;
}

/** factors[M−1]·…·factors[0] (factors[0] acts first). */
export function multiplyChain(factors: readonly Matrix[]): Matrix {
  if (factors.length === 0) throw new Error('multiplyChain: no factors');
  let p = factors[0].clone();
  for (let k = 1; k < factors.length; k++) p = factors[k].mmul(p);
  return p;
}

// ---------------------------------------------------------------------------
// Singular values

export type MatrixLike = Matrix | readonly (readonly number[])[];

/** The singular values of a matrix (ml-matrix's SVD, no vectors), sorted descending. */
export function singularValues(matrix: MatrixLike): Float64Array {
  const m = matrix instanceof Matrix ? matrix : new Matrix(matrix as number[][]);
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.columns; j++) {
      if (!Number.isFinite(m.get(i, j))) throw new Error(`singularValues: entry (${i}, ${j}) is ${m.get(i, j)}; the matrix must be finite`);
    }
  }
  // autoTranspose: the underlying (JAMA) algorithm expects rows ≥ columns.
  const svd = new SingularValueDecomposition(m, {
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
    autoTranspose: true,
  });
  const sv = Float64Array.from(svd.diagonal.slice(0, Math.min(m.rows, m.columns)), Math.abs);
  return sv.sort().reverse();
}

/**
 * Below σ_max·n·ε a singular value computed from the explicit matrix is
 * rounding noise: backward-stable SVD (and forming the product at all) gets
 * each σ only to within about ε·‖P‖ in absolute terms.
 */
export function precisionFloor(sv: ArrayLike<number>, n = sv.length): number {
  return (sv.length ? sv[0] : 0) * n * EPS64;
}

export type ProductMethod = 'direct' | 'two-sided';

/**
 * Singular values of factors[M−1]·…·factors[0] (square, invertible factors
 * for 'two-sided'), descending.
 *
 * 'direct' forms the product and takes its SVD: every σ is accurate only to
 * about ε·σ_max in absolute terms, so once the condition number passes
 * ~1e15 (around M ≈ 8–10 for N = 400 Gaussian factors) the small ones are
 * rounding noise.
 *
 * 'two-sided' also forms the inverse product A_1⁻¹…A_M⁻¹ (whose largest
 * singular values are 1/σ_min(P), …, accurate to ε·‖P⁻¹‖) and takes each σ
 * from whichever side resolves it: σ ≥ √(σ_max·σ_min) from P, the rest from
 * P⁻¹. The relative error is then about ε·√κ, i.e. the full spectrum is
 * trustworthy up to κ ≈ 1e25 instead of 1e12. Costs M inversions and a
 * second SVD.
 */
export function productSingularValues(factors: readonly Matrix[], opts: { method?: ProductMethod } = {}): Float64Array {
  const direct = singularValues(multiplyChain(factors));
  if ((opts.method ?? 'direct') === 'direct') return direct;
  const inv = singularValues(multiplyChain(factors.map((f) => inverse(f)).reverse()));
  return mergeTwoSided(direct, inv);
}

function mergeTwoSided(direct: Float64Array, inverseSv: Float64Array): Float64Array {
  const n = direct.length;
  // σ_i(P) = 1/σ_{n+1−i}(P⁻¹); P⁻¹'s largest singular value is the accurate σ_min(P).
  const fromInverse = Float64Array.from({ length: n }, (_, i) => 1 / inverseSv[n - 1 - i]);
  const split = Math.sqrt(direct[0] * fromInverse[n - 1]);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = direct[i] >= split ? direct[i] : fromInverse[i];
  return out.sort().reverse();
}

export interface SpectrumSummary {
  count: number;
  max: number;
  min: number;
  /** max / min: Infinity when min is 0 (e.g. a ReLU Jacobian, whose masked rows are 0). */
  conditionNumber: number;
  median: number;
  /** Mean of σ²: (1/n)·‖A‖_F², the average gain E‖A x‖²/‖x‖² for isotropic x. */
  meanSquare: number;
  /** Mean of σ⁴ (the second moment of the squared singular values). */
  meanFourth: number;
  /** Below this, values from an explicit float64 matrix are rounding noise (see precisionFloor). */
  floor: number;
  /** How many singular values lie above `floor`. */
  numericalRank: number;
  /** Fraction of the singular values below eps. */
  fractionBelow(eps: number): number;
}

/** Summary of singular values (any order). */
export function spectrumSummary(singular: ArrayLike<number>): SpectrumSummary {
  const sv = Float64Array.from(singular).sort().reverse();
  const n = sv.length;
  if (n === 0) throw new Error('spectrumSummary: no singular values');
  let s2 = 0;
  let s4 = 0;
  for (const s of sv) {
    s2 += s * s;
    s4 += s * s * s * s;
  }
  const mid = n >> 1;
  const floor = precisionFloor(sv);
  return {
    count: n,
    max: sv[0],
    min: sv[n - 1],
    conditionNumber: sv[n - 1] > 0 ? sv[0] / sv[n - 1] : Infinity,
    median: n % 2 ? sv[mid] : (sv[mid - 1] + sv[mid]) / 2,
    meanSquare: s2 / n,
    meanFourth: s4 / n,
    floor,
    numericalRank: sv.filter((s) => s > floor).length,
    fractionBelow(eps: number) {
      let c = 0;
      for (const s of sv) if (s < eps) c++;
      return c / n;
    },
  };
}

/** The k-th moment of the squared singular values, (1/n)·Σ σ^{2k}: compare with fussCatalanNumber(M, k). */
export function squaredSingularMoment(sv: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < sv.length; i++) s += Math.pow(sv[i] * sv[i], k);
  return s / sv.length;
}

export interface SpectrumRow {
  M: number;
  /** 0 = largest. */
  index: number;
  singularValue: number;
}

/** Singular values of a fresh N×N Gaussian product of depth M, as plot rows. */
export function productSpectrum(M: number, N: number, rng: Rng, opts: { method?: ProductMethod; variance?: number } = {}): SpectrumRow[] {
  const sv = productSingularValues(gaussianFactors(M, N, rng, opts), opts);
  return Array.from(sv, (singularValue, index) => ({ M, index, singularValue }));
}

// ---------------------------------------------------------------------------
// The N → ∞ theory: Fuss–Catalan

/**
 * √((M+1)^{M+1}/M^M): the N → ∞ limit of the largest singular value of a
 * depth-M product of N(0, 1/N) matrices (the right end of the Fuss–Catalan
 * support, square-rooted). 2, 3.0792, 3.8634 for M = 1, 3, 5; ≈ √(e(M+1)) for large M.
 */
export function fussCatalanEdge(M: number): number {
  checkPositiveInt(M, 'M');
  // In logs, so that large M does not overflow.
  return Math.exp(0.5 * ((M + 1) * Math.log(M + 1) - M * Math.log(M)));
}

/**
 * FC_M(k) = 1/(Mk+1)·C((M+1)k, k): the N → ∞ limit of the k-th moment of
 * the squared singular values of the depth-M product (Catalan numbers for
 * M = 1). FC_M(1) = 1 (variance preserved), FC_M(2) = M+1 (the spread grows
 * linearly with depth).
 */
export function fussCatalanNumber(M: number, k: number): number {
  if (!Number.isInteger(M) || M < 0) throw new Error(`fussCatalanNumber: M must be an integer ≥ 0, got ${M}`);
  if (!Number.isInteger(k) || k < 0) throw new Error(`fussCatalanNumber: k must be an integer ≥ 0, got ${k}`);
  let binom = 1;
  const n = (M + 1) * k;
  for (let i = 1; i <= k; i++) binom = (binom * (n - k + i)) / i;
  return binom / (M * k + 1);
}

/**
 * The Fuss–Catalan density of x = σ² at parameter u ∈ (0, π/(M+1))
 * (Haagerup & Möller 2013):
 *   x(u) = sin((M+1)u)^{M+1} / (sin u · sin(Mu)^M),
 *   f(x(u)) = sin(u)² · sin(Mu)^{M−1} / (π · sin((M+1)u)^M).
 * u → 0 is the edge x = (M+1)^{M+1}/M^M, u → π/(M+1) is x → 0, where
 * f ~ x^{−M/(M+1)}: the mass piles up at 0. For M = 1 this is the
 * Marchenko–Pastur law (1/2π)·√((4−x)/x).
 */
export function fussCatalanAt(M: number, u: number): { x: number; density: number } {
  const a = Math.sin((M + 1) * u);
  const b = Math.sin(u);
  const c = Math.sin(M * u);
  return { x: Math.pow(a, M + 1) / (b * Math.pow(c, M)), density: (b * b * Math.pow(c, M - 1)) / (Math.PI * Math.pow(a, M)) };
}

export interface FussCatalanPoint {
  /** σ². */
  x: number;
  /** Density of σ² at x. */
  density: number;
  sigma: number;
  /** Density of σ: 2σ·f(σ²). */
  sigmaDensity: number;
}

/** The Fuss–Catalan density on a grid of `points` parameter values, ascending in x (open interval: both ends excluded). */
export function fussCatalanDensity(M: number, opts: { points?: number } = {}): FussCatalanPoint[] {
  checkPositiveInt(M, 'M');
  const points = opts.points ?? 400;
  const out: FussCatalanPoint[] = [];
  const uMax = Math.PI / (M + 1);
  for (let i = 1; i <= points; i++) {
    const { x, density } = fussCatalanAt(M, (uMax * i) / (points + 1));
    const sigma = Math.sqrt(x);
    out.push({ x, density, sigma, sigmaDensity: 2 * sigma * density });
  }
  return out.reverse();
}

// ---------------------------------------------------------------------------
// Finite N, large M: Lyapunov exponents

/** The digamma function ψ(x), x > 0 (recurrence to x ≥ 10, then the asymptotic series: error ≈ 1e-14). */
export function digamma(x: number): number {
  if (!(x > 0)) throw new Error(`digamma: x must be positive, got ${x}`);
  let r = 0;
  while (x < 10) {
    r -= 1 / x;
    x += 1;
  }
  const f = 1 / (x * x);
  return r + Math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))));
}

/**
 * The Lyapunov exponents of products of real N×N Gaussian matrices with
 * N(0, 1/N) entries (Newman 1986): μ_i = ½·[ln(2/N) + ψ((N−i+1)/2)],
 * i = 1…N, descending. At fixed N, (1/M)·ln σ_i(A_M…A_1) → μ_i as M → ∞, so
 * ln κ grows like M·(μ_1 − μ_N) = M·(ψ(N/2) − ψ(1/2))/2: exponentially in
 * depth, ≈ 3.6 nats (1.6 decades) per layer at N = 400. (The N → ∞ limit
 * first gives Fuss–Catalan, whose smallest σ is 0 at every M.)
 */
export function lyapunovExponents(N: number): Float64Array {
  checkPositiveInt(N, 'N');
  return Float64Array.from({ length: N }, (_, i) => 0.5 * (Math.log(2 / N) + digamma((N - i) / 2)));
}

// ---------------------------------------------------------------------------
// Spread against depth

export interface DepthRow {
  M: number;
  seed: number;
  N: number;
  /** Largest singular value. */
  max: number;
  /** fussCatalanEdge(M), its N → ∞ limit. */
  edge: number;
  maxOverEdge: number;
  /** Smallest singular value, as 1/σ_max(A_1⁻¹…A_M⁻¹) (accurate at every M). */
  min: number;
  conditionNumber: number;
  log10ConditionNumber: number;
  /** M·(μ_1 − μ_N)/ln 10: the large-M slope the Lyapunov exponents predict (see lyapunovExponents). */
  log10ConditionLyapunov: number;
  /** σ_max/σ_min from the explicit product's SVD: saturates near 1/ε ≈ 1e15–1e17, to show why min comes from the inverse. */
  directConditionNumber: number;
  median: number;
  meanSquare: number;
  meanFourth: number;
  /** FC_M(2) = M + 1: the N → ∞ mean of σ⁴. */
  fussCatalanMeanFourth: number;
  threshold: number;
  /** Fraction of singular values below `threshold` (from the explicit product, fine while threshold ≫ its floor). */
  fractionBelow: number;
}

/**
 * For each seed, one chain of N(0, 1/N) factors, and at each depth in
 * `depths` the spectrum of the product so far: the largest singular value
 * against the Fuss–Catalan edge, and the condition number against M. The
 * rows of one seed share their first factors (depth M+1 extends depth M),
 * which makes each seed's curve a single realisation of the growth rather
 * than independent draws per M.
 *
 * Cost: per factor an inversion and two products (≈ 0.9 s at N = 400 with
 * ml-matrix), per requested depth two SVDs (≈ 0.4 s each at N = 400, 0.05 s
 * at N = 200). Measured: depths 1…50 (8 of them requested) at N = 400 took
 * 49 s per seed; at N = 100, 1.8 s for two seeds.
 */
export function spectraByDepth(opts: { depths: number[]; N: number; seeds: number[] | number; threshold?: number }): DepthRow[] {
  const { N } = opts;
  checkPositiveInt(N, 'N');
  if (!Array.isArray(opts.depths) || opts.depths.length === 0) throw new Error('spectraByDepth: depths must be a non-empty array');
  for (const M of opts.depths) checkPositiveInt(M, 'depths[]');
  const depths = [...new Set(opts.depths)].sort((a, b) => a - b);
  const seeds = typeof opts.seeds === 'number' ? Array.from({ length: opts.seeds }, (_, i) => i) : opts.seeds;
  const threshold = opts.threshold ?? 0.1;
  const mu = lyapunovExponents(N);
  const slope = (mu[0] - mu[N - 1]) / Math.LN10;
  const rows: DepthRow[] = [];
  for (const seed of seeds) {
    const rng = new Rng(seed);
    let p: Matrix | null = null;
    let pInv: Matrix | null = null;
    let M = 0;
    for (const target of depths) {
      for (; M < target;) {
        const a = gaussianMatrix(N, rng);
        p = p ? a.mmul(p) : a;
        const aInv = inverse(a);
        pInv = pInv ? pInv.mmul(aInv) : aInv;
        M++;
      }
      const sv = singularValues(p!);
      const s = spectrumSummary(sv);
      const min = 1 / singularValues(pInv!)[0];
      const edge = fussCatalanEdge(M);
      rows.push({
        M,
        seed,
        N,
        max: s.max,
        edge,
        maxOverEdge: s.max / edge,
        min,
        conditionNumber: s.max / min,
        log10ConditionNumber: Math.log10(s.max / min),
        log10ConditionLyapunov: M * slope,
        directConditionNumber: s.conditionNumber,
        median: s.median,
        meanSquare: s.meanSquare,
        meanFourth: s.meanFourth,
        fussCatalanMeanFourth: fussCatalanNumber(M, 2),
        threshold,
        fractionBelow: s.fractionBelow(threshold),
      });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------

function checkPositiveInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer, got ${v}`);
}
