/**
 * Plain-JS statistics over the numbers an instrument reads back from the
 * backend. Everything accumulates in float64 so that the moments of a few
 * hundred thousand float32 gradients (whose spread differs by orders of
 * magnitude between BN and no-BN nets) do not lose digits.
 */
import { Rng } from '../util/rng';

export type Numbers = ArrayLike<number>;

/** Only the finite values (a diverging step leaves NaN and ±Infinity behind). */
export function finiteValues(values: Numbers): Float64Array {
  const out = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) out[n++] = v;
  }
  return out.slice(0, n);
}

export interface Moments {
  count: number;
  mean: number;
  /** Population (biased) standard deviation, as BN computes it. */
  std: number;
  /** Population excess kurtosis m4/m2² − 3: 0 for a Gaussian, −1.2 uniform, 3 Laplace; NaN for constant data. */
  kurtosis: number;
  /** sqrt(Σ v²). */
  norm: number;
  maxAbs: number;
}

/** Mean, std, excess kurtosis, L2 norm and max |v| of the values (all of them; see finiteValues). */
export function moments(values: Numbers): Moments {
  const n = values.length;
  if (n === 0) return { count: 0, mean: NaN, std: NaN, kurtosis: NaN, norm: 0, maxAbs: 0 };
  let sum = 0;
  let sumSq = 0;
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    sum += v;
    sumSq += v * v;
    const a = Math.abs(v);
    if (a > maxAbs || Number.isNaN(a)) maxAbs = a;
  }
  const mean = sum / n;
  // Central moments in a second pass: the one-pass formula Σv²/n − mean²
  // cancels catastrophically when |mean| ≫ std.
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i] - mean;
    const d2 = d * d;
    m2 += d2;
    m4 += d2 * d2;
  }
  m2 /= n;
  m4 /= n;
  return { count: n, mean, std: Math.sqrt(m2), kurtosis: m2 > 0 ? m4 / (m2 * m2) - 3 : NaN, norm: Math.sqrt(sumSq), maxAbs };
}

/** Population excess kurtosis (see `moments`). */
export function excessKurtosis(values: Numbers): number {
  return moments(values).kurtosis;
}

/** Median of the finite values; NaN if there are none. */
export function median(values: Numbers): number {
  const v = finiteValues(values).sort();
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** The q-quantile (0..1, linear interpolation between order statistics) of the finite values; NaN if there are none. */
export function quantile(values: readonly number[], q: number): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const pos = q * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

/** Mean of the finite values; NaN if there are none. */
export function finiteMean(values: Numbers): number {
  const v = finiteValues(values);
  if (v.length === 0) return NaN;
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

export interface HistogramOptions {
  /** Number of equal-width bins. Default 50. */
  bins?: number;
  /** [lo, hi]; default the finite values' [min, max]. Values outside are left out. */
  range?: [number, number];
  /** Copied into every row, so that several histograms stack into one chart table. */
  layer?: string;
}

export interface HistogramRow {
  layer: string;
  binStart: number;
  binEnd: number;
  count: number;
  /** count / number of finite values (in range or not): comparable across sample sizes. */
  fraction: number;
}

/**
 * Equal-width histogram of the finite values. Bins are [start, end), the last
 * one [start, end], so the maximum lands in it.
 */
export function gradientHistogram(values: Numbers, opts: HistogramOptions = {}): HistogramRow[] {
  const bins = opts.bins ?? 50;
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`gradientHistogram: bins must be a positive integer, got ${bins}`);
  const finite = finiteValues(values);
  let lo: number;
  let hi: number;
  if (opts.range) {
    [lo, hi] = opts.range;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo))
      throw new Error(`gradientHistogram: range must be finite [lo, hi] with hi > lo, got ${JSON.stringify(opts.range)}`);
  } else {
    lo = Infinity;
    hi = -Infinity;
    for (const v of finite) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (finite.length === 0) [lo, hi] = [0, 1];
    // All values equal: one unit-wide window around them rather than zero-width bins.
    if (hi === lo) [lo, hi] = [lo - 0.5, hi + 0.5];
  }
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of finite) {
    if (v < lo || v > hi) continue;
    counts[Math.min(bins - 1, Math.floor((v - lo) / width))] += 1;
  }
  const layer = opts.layer ?? '';
  const total = finite.length;
  return counts.map((count, i) => ({
    layer,
    binStart: lo + i * width,
    binEnd: i === bins - 1 ? hi : lo + (i + 1) * width,
    count,
    fraction: total > 0 ? count / total : 0,
  }));
}

/**
 * Up to n values drawn without replacement (seeded), for overlaying raw
 * samples of layers with different sizes; all of them if there are fewer.
 */
export function sampleValues(values: Numbers, n: number, seed = 0): Float32Array {
  if (!Number.isInteger(n) || n < 0) throw new Error(`sampleValues: n must be an integer ≥ 0, got ${n}`);
  if (n >= values.length) return Float32Array.from(values);
  // Partial Fisher–Yates over an index array: exact, O(length) memory.
  const idx = new Int32Array(values.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(idx.length - i);
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    out[i] = values[idx[i]];
  }
  return out;
}

/**
 * Share of a matrix's squared Frobenius norm carried by its largest singular
 * value, σ1² / Σσi²: 1 for a rank-one matrix, 1/min(rows, cols) for a
 * "flat" one such as the identity. Power iteration on MᵀM, which converges
 * well enough for a summary statistic (gap-dependent; 200 iterations).
 */
export function topSingularShare(matrix: readonly (readonly number[])[] | Float64Array[]): number {
  const rows = matrix.length;
  const cols = rows ? matrix[0].length : 0;
  let frob = 0;
  for (const r of matrix) for (let j = 0; j < cols; j++) frob += r[j] * r[j];
  if (!(frob > 0)) return NaN;
  let v = new Float64Array(cols).fill(1 / Math.sqrt(cols));
  let sigma2 = 0;
  for (let it = 0; it < 200; it++) {
    const u = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += matrix[i][j] * v[j];
      u[i] = s;
    }
    const w = new Float64Array(cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) w[j] += matrix[i][j] * u[i];
    let norm = 0;
    for (const x of w) norm += x * x;
    norm = Math.sqrt(norm);
    if (norm === 0) return 0;
    // ‖MᵀMv‖ → σ1² as v → the top right singular vector.
    const prev = sigma2;
    sigma2 = norm;
    v = w.map((x) => x / norm);
    if (Math.abs(sigma2 - prev) <= 1e-12 * sigma2) break;
  }
  return sigma2 / frob;
}
