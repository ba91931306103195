/**
 * The input–output Jacobian of an actual deep linear or ReLU MLP at He or
 * Xavier initialisation, with and without BN, for RQ3 of the paper: the
 * network counterpart of the Gaussian products in ./random-matrix, measured
 * with the same singular-value tools.
 *
 * Everything except `autodiffJacobian` is plain float64 JavaScript on
 * ml-matrix (see ./random-matrix for why float64).
 *
 * Conventions. Matrices act on column vectors: a layer is h ↦ φ(W h + b)
 * with W of shape [out, in] (the transpose of the [in, out] kernels that
 * lib/src/models stores). A product of factors [A_1, …, A_M] means
 * A_M·…·A_1, so factors[0] acts first.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Matrix } from 'ml-matrix';
import { initStd, InitOptions, InitScheme } from '../models/layers';
import { checkPositiveInt } from '../models/model';
import type { Model } from '../models/model';
import { Rng } from '../util/rng';
import { singularValues, SpectrumSummary, spectrumSummary } from './random-matrix';

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
    const values =
      (init.distribution ?? 'uniform') === 'uniform' ? rng.uniformArray(n * n, Math.sqrt(3) * std) : rng.normalArray(n * n, std);
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
export function networkJacobian(
  stack: DenseStack | Matrix[],
  batch: ArrayLike<number>[] | ArrayLike<number>,
  index: number,
  opts: JacobianOptions,
): NetworkJacobian {
  const s = Array.isArray(stack) ? { weights: stack } : stack;
  if (s.weights.length === 0) throw new Error('networkJacobian: no layers');
  const rows = toRows(batch);
  const norm = opts.norm ?? 'none';
  const eps = opts.epsilon ?? 1e-5;
  if (!Number.isInteger(index) || index < 0 || index >= rows.length)
    throw new Error(`networkJacobian: index ${index} is outside the batch of ${rows.length}`);
  if (norm === 'batch' && rows.length < 2) throw new Error('networkJacobian: BN needs a batch of at least 2 examples');
  let h = new Matrix(rows.map((r) => Array.from(r))); // [B, in]
  if (h.columns !== s.weights[0].columns)
    throw new Error(`networkJacobian: inputs have ${h.columns} features, the first layer takes ${s.weights[0].columns}`);
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
