/**
 * Random-matrix spectra for RQ3 of the paper: the singular values of a
 * product A_M…A_1 of independent N×N Gaussian matrices (entries N(0, 1/N)),
 * the Fuss–Catalan law they follow as N → ∞, how the spread grows with the
 * depth M, and the same measurements on the input–output Jacobian of an
 * actual deep linear or ReLU MLP at He or Xavier initialisation, with and
 * without BN.
 *
 * Everything except `autodiffJacobian` is plain float64 JavaScript on
 * ml-matrix: the smallest singular values of a deep product lie many orders
 * of magnitude below the largest, and float32 (what tfjs computes in) would
 * resolve only about seven of them.
 *
 * Conventions. Matrices act on column vectors: a layer is h ↦ φ(W h + b)
 * with W of shape [out, in] (the transpose of the [in, out] kernels that
 * lib/src/models stores). A product of factors [A_1, …, A_M] means
 * A_M·…·A_1, so factors[0] acts first.
 */
import * as tf from '@tensorflow/tfjs-core';
import { inverse, Matrix, SingularValueDecomposition } from 'ml-matrix';
import { initStd, InitOptions, InitScheme } from '../models/layers';
import type { Model } from '../models/model';
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
  const svd = new SingularValueDecomposition(m, { computeLeftSingularVectors: false, computeRightSingularVectors: false, autoTranspose: true });
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
      for (; M < target; ) {
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
// Jacobians of an actual network

export type Activation = 'linear' | 'relu';

/** The parameters of a stack of dense layers, column convention (W: [out, in]). */
export interface DenseStack {
  weights: Matrix[];
  /** Per layer, or absent for zero biases (as at initialisation). */
  biases?: (Float64Array | null)[];
  /** BN's γ and β per layer, when the stack has BN after every dense layer (absent: γ = 1, β = 0, as at initialisation). */
  bn?: { gamma: Float64Array; beta: Float64Array }[];
}

/**
 * The hidden weights of a deep square MLP, drawn exactly as lib/src/models'
 * `mlp({depth, width, inputShape: [1, 1, width], init, seed})` draws its
 * 'layer{i}/dense/kernel's (same Rng stream, same order, same initStd, same
 * float32 rounding), transposed to [out, in]. Xavier on a square layer has
 * variance 1/N, exactly the paper's Gaussian product; He has 2/N, which
 * compensates the half of the units a ReLU switches off.
 */
export function networkWeights(o: { depth: number; width: number; init: InitOptions | InitScheme; seed: number }): Matrix[] {
  checkPositiveInt(o.depth, 'depth');
  checkPositiveInt(o.width, 'width');
  const init = normInit(o.init);
  const rng = new Rng(o.seed);
  const n = o.width;
  const std = initStd(init, n, n);
  const out: Matrix[] = [];
  for (let l = 0; l < o.depth; l++) {
    // Uniform on (−√3σ, √3σ) has standard deviation σ (as ParameterStore.weight).
    const values = (init.distribution ?? 'uniform') === 'uniform' ? rng.uniformArray(n * n, Math.sqrt(3) * std) : rng.normalArray(n * n, std);
    out.push(kernelToMatrix(values, n, n));
  }
  return out;
}

/**
 * The hidden dense layers of an `mlp` model (not its logits layer, nor the
 * single BN of norm 'final-only'), with
 * their biases and, for norm 'batch', BN's γ and β, read from the model's
 * variables. The first layer is [width, h·w·c].
 */
export function weightsFromMlp(model: Model): DenseStack {
  const o = model.options;
  if (o.family !== 'mlp') throw new Error(`weightsFromMlp: model ${model.name} is not an mlp`);
  const stack: DenseStack = { weights: [], biases: [] };
  if (o.norm === 'batch') stack.bn = [];
  for (let i = 1; i <= o.depth; i++) {
    const kernel = model.trainable.get(`layer${i}/dense/kernel`);
    if (!kernel) throw new Error(`weightsFromMlp: ${model.name} has no layer${i}/dense/kernel`);
    const [inF, outF] = kernel.shape;
    stack.weights.push(kernelToMatrix(kernel.dataSync(), inF, outF));
    const bias = model.trainable.get(`layer${i}/dense/bias`);
    stack.biases!.push(bias ? Float64Array.from(bias.dataSync()) : null);
    if (stack.bn) {
      const gamma = model.trainable.get(`layer${i}/bn/gamma`)!;
      const beta = model.trainable.get(`layer${i}/bn/beta`)!;
      stack.bn.push({ gamma: Float64Array.from(gamma.dataSync()), beta: Float64Array.from(beta.dataSync()) });
    }
  }
  return stack;
}

/** A row-major [in, out] kernel as an [out, in] matrix. */
function kernelToMatrix(values: ArrayLike<number>, inF: number, outF: number): Matrix {
  const m = new Matrix(outF, inF);
  for (let i = 0; i < inF; i++) for (let j = 0; j < outF; j++) m.set(j, i, values[i * outF + j]);
  return m;
}

export interface JacobianOptions {
  activation: Activation;
  /**
   * 'batch': BN after every dense layer (before the activation, as in `mlp`).
   * The Jacobian is then taken with BN frozen at the batch's statistics
   * (see networkJacobian).
   */
  norm?: 'none' | 'batch';
  /** BN's ε (default 1e-5, as the models). */
  epsilon?: number;
}

export interface LayerReport {
  /** 1-based. */
  layer: number;
  /** RMS of W h + b over the batch (or the one input): grows as √2 per layer for a linear He net. */
  preActivationRms: number;
  /** BN's mean multiplier γ/√(var_B + ε) (null without BN): how much BN rescales this layer. */
  bnScale: number | null;
  /** Fraction of units the ReLU passes for the chosen example (1 for linear). */
  activeFraction: number;
  /** RMS of the layer's output over the batch. */
  outputRms: number;
  /** RMS singular value of this layer's own Jacobian factor D·S·W: ‖D S W‖_F/√in. */
  layerGain: number;
  /** Mean σ² of the Jacobian of the first `layer` layers: ‖J‖_F²/in. */
  cumulativeMeanSquare: number;
}

export interface NetworkJacobian {
  /** ∂h_M/∂h_0 for the chosen example, [out, in]. */
  jacobian: Matrix;
  layers: LayerReport[];
}

/**
 * The input–output Jacobian of a dense stack at example `index` of `batch`
 * (rows = examples; one row is enough without BN), by plain float64 matrix
 * products from the forward activations:
 *   J = D_M S_M W_M · … · D_1 S_1 W_1,
 * D_i = diag(1[pre-activation > 0]) for ReLU (I for linear), the final mask
 * included (so a ReLU J has ≈ half its rows zero and σ_min = 0), and
 * S_i = diag(γ/√(var_B + ε)) with BN (I without).
 *
 * BN: in training mode, BN couples the batch: example b's output depends on
 * every other example through μ_B and var_B, and the exact per-example block
 * ∂y_b/∂x_b of one BN layer is, unit by unit,
 *   (γ/√(v+ε))·(1 − 1/B − x̂_b²/B),  x̂_b = (x_b − μ)/√(v+ε),
 * plus cross-example terms that enter at the next layer. We use S_i, i.e. BN
 * as the per-unit affine map it is at inference with the batch's own
 * statistics ("frozen statistics"). It differs from the exact training-mode
 * block by O(depth/B): measured with `autodiffJacobian` (bnMode 'train') on
 * a 5-layer ReLU net of width 16, the relative Frobenius gap is 0.46, 0.13,
 * 0.032, 0.009 at B = 8, 32, 128, 512. In exchange J stays a product of N×N
 * matrices, the object RQ3 is about, computed in float64.
 *
 * What BN does to the Jacobian under this choice is a diagonal rescaling per
 * layer (`layers[].bnScale`). In a linear net it removes the init's scale
 * (He and Xavier give the same J; per-layer gain ≈ 1), but a per-unit
 * rescaling does not undo the Fuss–Catalan spread of the product. In a ReLU
 * net BN also subtracts the ReLU output's mean, which carries 1/(2π) of its
 * E y² = 1/2, so from layer 2 on it multiplies by 1/√(1 − 1/π) ≈ 1.21 (He)
 * and the mean σ² of J grows ≈ 1.47× per layer: the gradient explosion at
 * initialisation of BN nets without skips (Yang et al. 2019), not a reset
 * to 1.
 */
export function networkJacobian(stack: DenseStack | Matrix[], batch: ArrayLike<number>[] | ArrayLike<number>, index: number, opts: JacobianOptions): NetworkJacobian {
  const s = Array.isArray(stack) ? { weights: stack } : stack;
  if (s.weights.length === 0) throw new Error('networkJacobian: no layers');
  const rows = toRows(batch);
  const norm = opts.norm ?? 'none';
  const eps = opts.epsilon ?? 1e-5;
  if (!Number.isInteger(index) || index < 0 || index >= rows.length) throw new Error(`networkJacobian: index ${index} is outside the batch of ${rows.length}`);
  if (norm === 'batch' && rows.length < 2) throw new Error('networkJacobian: BN needs a batch of at least 2 examples');
  let h = new Matrix(rows.map((r) => Array.from(r))); // [B, in]
  if (h.columns !== s.weights[0].columns) throw new Error(`networkJacobian: inputs have ${h.columns} features, the first layer takes ${s.weights[0].columns}`);
  const inDim = h.columns;
  let J: Matrix | null = null;
  const layers: LayerReport[] = [];
  s.weights.forEach((W, l) => {
    const z = h.mmul(W.transpose()); // [B, out]
    const bias = s.biases?.[l];
    if (bias) z.addRowVector(Array.from(bias));
    const B = z.rows;
    const out = z.columns;
    const preActivationRms = rmsOf(z.to1DArray());
    // Per-unit multiplier S (1 without BN) and the normalised pre-activation.
    const scale = new Float64Array(out).fill(1);
    if (norm === 'batch') {
      const gamma = s.bn?.[l]?.gamma;
      const beta = s.bn?.[l]?.beta;
      for (let j = 0; j < out; j++) {
        let mean = 0;
        for (let b = 0; b < B; b++) mean += z.get(b, j);
        mean /= B;
        let v = 0;
        for (let b = 0; b < B; b++) v += (z.get(b, j) - mean) ** 2;
        v /= B; // biased, as tf.moments and BN in training mode
        scale[j] = (gamma ? gamma[j] : 1) / Math.sqrt(v + eps);
        for (let b = 0; b < B; b++) z.set(b, j, (z.get(b, j) - mean) * scale[j] + (beta ? beta[j] : 0));
      }
    }
    // D·S for the chosen example.
    const ds = new Float64Array(out);
    let active = 0;
    for (let j = 0; j < out; j++) {
      const on = opts.activation === 'linear' || z.get(index, j) > 0;
      if (on) active++;
      ds[j] = on ? scale[j] : 0;
    }
    if (opts.activation === 'relu') for (let b = 0; b < B; b++) for (let j = 0; j < out; j++) if (z.get(b, j) < 0) z.set(b, j, 0);
    const factor = W.clone();
    for (let j = 0; j < out; j++) factor.mulRow(j, ds[j]);
    J = J ? factor.mmul(J) : factor;
    layers.push({
      layer: l + 1,
      preActivationRms,
      bnScale: norm === 'batch' ? mean(scale) : null,
      activeFraction: active / out,
      outputRms: rmsOf(z.to1DArray()),
      layerGain: Math.sqrt(sumSquares(factor) / factor.columns),
      cumulativeMeanSquare: sumSquares(J) / inDim,
    });
    h = z;
  });
  return { jacobian: J!, layers };
}

function rmsOf(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s / v.length);
}

function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
}

function sumSquares(m: Matrix): number {
  let s = 0;
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.columns; j++) s += m.get(i, j) ** 2;
  return s;
}

function toRows(batch: ArrayLike<number>[] | ArrayLike<number>): ArrayLike<number>[] {
  if (batch.length > 0 && typeof (batch as ArrayLike<unknown>)[0] === 'number') return [batch as ArrayLike<number>];
  return batch as ArrayLike<number>[];
}

/**
 * The same Jacobian by tfjs autodiff (float32), as a cross-check of
 * networkJacobian and to measure what BN's batch coupling changes:
 *   bnMode 'frozen': BN with the batch's statistics held constant (what
 *     networkJacobian computes);
 *   bnMode 'train': BN exactly as in training, so the gradient also flows
 *     through μ_B and var_B; the result is the per-example block ∂y_b/∂x_b of
 *     the full batch Jacobian.
 * One tf.grad per output unit (or, without BN coupling, one for all of them
 * on a tiled input): for small nets and checks, not for N = 400.
 */
export async function autodiffJacobian(
  stack: DenseStack | Matrix[],
  batch: ArrayLike<number>[] | ArrayLike<number>,
  index: number,
  opts: JacobianOptions & { bnMode?: 'frozen' | 'train' },
): Promise<Matrix> {
  const s = Array.isArray(stack) ? { weights: stack } : stack;
  const rows = toRows(batch);
  const norm = opts.norm ?? 'none';
  const eps = opts.epsilon ?? 1e-5;
  const bnMode = opts.bnMode ?? 'frozen';
  const inDim = s.weights[0].columns;
  const outDim = s.weights[s.weights.length - 1].rows;
  const held: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => (held.push(t), t);
  try {
    const Ws = s.weights.map((W) => keep(tf.tensor2d(W.to2DArray())));
    const bs = s.weights.map((W, l) => keep(s.biases?.[l] ? tf.tensor1d(Array.from(s.biases[l]!)) : tf.zeros([W.rows])));
    const gammas = s.weights.map((W, l) => keep(s.bn?.[l] ? tf.tensor1d(Array.from(s.bn[l].gamma)) : tf.ones([W.rows])));
    const betas = s.weights.map((W, l) => keep(s.bn?.[l] ? tf.tensor1d(Array.from(s.bn[l].beta)) : tf.zeros([W.rows])));
    const X = keep(tf.tensor2d(rows.map((r) => Array.from(r))));

    // frozen: each layer's statistics from a plain forward pass of the batch, then constants.
    const frozen: { mean: tf.Tensor; variance: tf.Tensor }[] = [];
    const forward = (x: tf.Tensor2D, stats: 'record' | 'use' | 'batch'): tf.Tensor2D => {
      let h = x;
      s.weights.forEach((_, l) => {
        let z = tf.add(tf.matMul(h, Ws[l], false, true), bs[l]) as tf.Tensor2D;
        if (norm === 'batch') {
          let mean: tf.Tensor;
          let variance: tf.Tensor;
          if (stats === 'use') ({ mean, variance } = frozen[l]);
          else {
            ({ mean, variance } = tf.moments(z, 0));
            if (stats === 'record') frozen.push({ mean: keep(tf.keep(mean)), variance: keep(tf.keep(variance)) });
          }
          z = tf.batchNorm(z, mean, variance, betas[l], gammas[l], eps) as tf.Tensor2D;
        }
        h = opts.activation === 'relu' ? tf.relu(z) : z;
      });
      return h;
    };

    if (norm === 'batch' && bnMode === 'train') {
      const J = new Matrix(outDim, inDim);
      for (let j = 0; j < outDim; j++) {
        const row = tf.tidy(() => {
          const g = tf.grad((x: tf.Tensor) => tf.sum(tf.slice(forward(x as tf.Tensor2D, 'batch'), [index, j], [1, 1])))(X);
          return tf.slice(g, [index, 0], [1, inDim]).dataSync();
        });
        for (let i = 0; i < inDim; i++) J.set(j, i, row[i]);
      }
      return J;
    }
    if (norm === 'batch') tf.tidy(() => void forward(X, 'record'));
    // Without coupling the examples are independent: feed example `index`
    // outDim times and pick output j of copy j, so one backward pass gives all rows.
    const data = tf.tidy(() => {
      const tiled = tf.tile(tf.slice(X, [index, 0], [1, inDim]), [outDim, 1]);
      const eye = tf.eye(outDim);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(forward(x as tf.Tensor2D, norm === 'batch' ? 'use' : 'batch'), eye)))(tiled);
      return g.dataSync();
    });
    return new Matrix(Array.from({ length: outDim }, (_, j) => Array.from(data.subarray(j * inDim, (j + 1) * inDim))));
  } finally {
    for (const t of held) t.dispose();
  }
}

export interface NetworkSpectrumOptions {
  activation: Activation;
  init: InitOptions | InitScheme;
  depth: number;
  width: number;
  seed: number;
  norm?: 'none' | 'batch';
  /** The example (length width); default N(0, 1) per coordinate from a fork of the seed. */
  input?: ArrayLike<number>;
  /** With BN: the batch size whose statistics BN uses (default 128, the paper's); `input` is example 0, the rest N(0, 1). */
  batchSize?: number;
  epsilon?: number;
}

export interface NetworkSpectrum {
  singularValues: Float64Array;
  summary: SpectrumSummary;
  /** Summary of the singular values above the precision floor (a ReLU Jacobian has ≈ width/2 exact zeros). */
  nonzeroSummary: SpectrumSummary;
  layers: LayerReport[];
  jacobian: Matrix;
}

/**
 * Singular values of the input–output Jacobian of a depth×width MLP at
 * initialisation (weights as networkWeights, zero biases), at one input.
 * Linear + Xavier is the paper's Gaussian product; ReLU + He is its
 * variance-preserving ReLU counterpart. With norm 'batch' see
 * networkJacobian for what the BN Jacobian means here.
 */
export function networkJacobianSpectrum(o: NetworkSpectrumOptions): NetworkSpectrum {
  const weights = networkWeights(o);
  const inputRng = new Rng(o.seed).fork(0x5eed);
  const input = o.input ?? Float64Array.from({ length: o.width }, () => inputRng.normal());
  if (input.length !== o.width) throw new Error(`networkJacobianSpectrum: input has length ${input.length}, width is ${o.width}`);
  const batch: ArrayLike<number>[] = [input];
  if (o.norm === 'batch') {
    const B = o.batchSize ?? 128;
    checkPositiveInt(B, 'batchSize');
    for (let b = 1; b < B; b++) batch.push(Float64Array.from({ length: o.width }, () => inputRng.normal()));
  }
  const { jacobian, layers } = networkJacobian(weights, batch, 0, { activation: o.activation, norm: o.norm, epsilon: o.epsilon });
  const sv = singularValues(jacobian);
  const summary = spectrumSummary(sv);
  const nonzero = sv.filter((v) => v > summary.floor);
  return { singularValues: sv, summary, nonzeroSummary: spectrumSummary(nonzero.length ? nonzero : sv), layers, jacobian };
}

// ---------------------------------------------------------------------------

function normInit(init: InitOptions | InitScheme): InitOptions {
  return typeof init === 'string' ? { scheme: init, distribution: 'normal' } : init;
}

function checkPositiveInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer, got ${v}`);
}
