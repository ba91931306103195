/**
 * RQ1's one measurement: the SGD-noise scale α²/|B|·C at initialisation
 * (C: the variance of the per-example gradient), with and without BN, and
 * how it goes with each run's accuracy.
 */
import { Batch, Dataset, toTensors } from '../data';
import { DataSpec, loadData } from '../experiments/data';
import type { SweepBase } from '../experiments/sweep';
import { record } from '../instrument/hooks';
import { buildModel, Model, ModelOptions } from '../models';
import { Norm, NORM_LABEL, NormLabel, Normaliser, NormaliserLabel } from '../models/norm';
import { Rng } from '../util/rng';
import type { Rq1Norm } from './rq1';
import type { SweepRow } from './sweep';

/**
 * Running first and second moments of gradient vectors, in float64: the
 * trace of their covariance, Σ_j Var(g_j), with the unbiased (K − 1)
 * denominator, and the squared norm of their mean.
 */
export class GradientMoments {
  private sum: Float64Array | null = null;
  private sumSq: Float64Array | null = null;
  count = 0;

  add(g: ArrayLike<number>): void {
    if (!this.sum) {
      this.sum = new Float64Array(g.length);
      this.sumSq = new Float64Array(g.length);
    }
    if (g.length !== this.sum.length)
      throw new Error(`GradientMoments: a vector of ${g.length} values after vectors of ${this.sum.length}`);
    const s = this.sum;
    const q = this.sumSq!;
    for (let j = 0; j < g.length; j++) {
      s[j] += g[j];
      q[j] += g[j] * g[j];
    }
    this.count += 1;
  }

  /** Σ_j Var(g_j), unbiased; NaN with fewer than two vectors. */
  traceCovariance(): number {
    const k = this.count;
    if (k < 2 || !this.sum) return NaN;
    let t = 0;
    for (let j = 0; j < this.sum.length; j++) t += Math.max(0, this.sumSq![j] - (this.sum[j] * this.sum[j]) / k);
    return t / (k - 1);
  }

  /** ‖mean g‖². */
  meanSquaredNorm(): number {
    if (!this.sum || this.count === 0) return NaN;
    let t = 0;
    for (let j = 0; j < this.sum.length; j++) t += (this.sum[j] / this.count) ** 2;
    return t;
  }
}

/**
 * C, the variance of the per-example gradient (E‖∇lᵢ − ∇l‖² over the N
 * training examples), from v = tr Cov(g_B), the variance of the gradient of
 * a mini-batch of B examples drawn without replacement:
 * v = C/B · (N − B)/(N − 1), so C = B · v · (N − 1)/(N − B).
 */
export function perExampleVariance(batchVariance: number, batchSize: number, datasetSize: number): number {
  if (!(batchSize >= 1 && batchSize < datasetSize))
    throw new Error(`perExampleVariance: need 1 ≤ batch (${batchSize}) < dataset (${datasetSize})`);
  return (batchSize * batchVariance * (datasetSize - 1)) / (datasetSize - batchSize);
}

/** The paper's bound on SGD's noise, E‖α∇l − α∇_SGD‖² ≤ α²/|B| · C. */
export function noiseScale(lr: number, batchSize: number, C: number): number {
  return (lr * lr * C) / batchSize;
}

export type GradientNoise = {
  batchSize: number;
  batches: number;
  datasetSize: number;
  /** tr Cov(g_B): the variance of the mini-batch gradient around its mean. */
  batchGradientVariance: number;
  /** C = E‖∇lᵢ − ∇l‖², from the above. */
  perExampleVariance: number;
  /** ‖E g_B‖²: the signal the noise is measured against. */
  meanGradientSqNorm: number;
  meanLoss: number;
};

function randomBatch(ds: Dataset, size: number, rng: Rng): Batch {
  const per = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const order = rng.permutation(ds.count);
  const images = new Float32Array(size * per);
  const labels = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const j = order[i];
    images.set(ds.images.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = ds.labels[j];
  }
  return { images, labels, size };
}

/**
 * The mini-batch gradient noise of `model` as it is (at initialisation,
 * when called on a fresh model): the loss gradient (no weight decay) of
 * `batches` random mini-batches of `batchSize` examples, each drawn without
 * replacement, BN in training mode on the mini-batch's own statistics (as
 * SGD sees it; the moving statistics are not touched, nor the weights).
 * With BN the examples of a batch interact, so C is defined through the
 * mini-batch gradient's variance rather than through single-example
 * gradients: it is the C for which the noise at this batch size is C/|B|.
 */
export function gradientNoise(model: Model, ds: Dataset, opts: { batchSize: number; batches: number; seed: number }): GradientNoise {
  if (!(opts.batches >= 2)) throw new Error(`gradientNoise: need at least 2 batches, got ${opts.batches}`);
  const rng = new Rng(opts.seed);
  const names = [...model.trainable.keys()];
  const moments = new GradientMoments();
  let lossSum = 0;
  for (let k = 0; k < opts.batches; k++) {
    const { x, y } = toTensors(randomBatch(ds, opts.batchSize, rng), ds.shape, ds.numClasses);
    const rec = record(model, x, y, { params: names });
    try {
      const flat = new Float32Array(names.reduce((s, n) => s + model.trainable.get(n)!.size, 0));
      let at = 0;
      for (const n of names) {
        const v = rec.paramGrads.get(n)!.dataSync();
        flat.set(v, at);
        at += v.length;
      }
      moments.add(flat);
      lossSum += rec.loss;
    } finally {
      rec.dispose();
      x.dispose();
      y.dispose();
    }
  }
  const v = moments.traceCovariance();
  return {
    batchSize: opts.batchSize,
    batches: opts.batches,
    datasetSize: ds.count,
    batchGradientVariance: v,
    perExampleVariance: perExampleVariance(v, opts.batchSize, ds.count),
    meanGradientSqNorm: moments.meanSquaredNorm(),
    meanLoss: lossSum / opts.batches,
  };
}

export type NoiseRow = GradientNoise & {
  model: 'BN' | 'no BN';
  norm: Rq1Norm;
};

/**
 * The gradient noise at initialisation of the sweep's model, with and
 * without BN (the init of `seed`), at each batch size: on the training
 * split of `base.data`. Wrap it in bn.measure; ResNet-20 takes about
 * 0.2 s a batch of 128.
 */
export function gradientNoiseAtInit(
  base: { data: DataSpec; model: SweepBase['model'] },
  opts: { norms?: readonly Rq1Norm[]; batchSizes: readonly number[]; batches: number; seed: number },
): NoiseRow[] {
  const data = loadData(base.data).train;
  const rows: NoiseRow[] = [];
  for (const norm of opts.norms ?? (['batch', 'none'] as const)) {
    const model = buildModel({ ...base.model, norm, seed: opts.seed, inputShape: data.shape, numClasses: data.numClasses } as ModelOptions);
    try {
      for (const batchSize of opts.batchSizes) {
        rows.push({ model: NORM_LABEL[norm], norm, ...gradientNoise(model, data, { batchSize, batches: opts.batches, seed: opts.seed }) });
      }
    } finally {
      model.dispose();
    }
  }
  return rows;
}

/** C of a model at a batch size (the measurement's row at the batch size nearest to it). */
export function varianceAt(noise: readonly NoiseRow[], norm: Normaliser, batchSize: number): number | null {
  const own = noise.filter((r) => r.norm === norm);
  if (!own.length) return null;
  return own.reduce((a, b) => (Math.abs(b.batchSize - batchSize) < Math.abs(a.batchSize - batchSize) ? b : a)).perExampleVariance;
}

export type NoiseScaleRow = {
  model: NormaliserLabel;
  learningRate: number;
  seed: number;
  /** α²/|B|·C at the run's learning rate and batch size, C measured at init. */
  noiseScale: number;
  testAccuracy: number | null;
  diverged: boolean;
};

/** Each run's noise scale α²/|B|·C (C of its own model), beside its test accuracy. */
export function noiseScaleRows(rows: readonly SweepRow[], noise: readonly NoiseRow[], batchSize: number): NoiseScaleRow[] {
  const out: NoiseScaleRow[] = [];
  for (const r of rows) {
    const C = varianceAt(noise, r.norm, batchSize);
    if (C === null) continue;
    out.push({
      model: r.model,
      learningRate: r.learningRate,
      seed: r.seed,
      noiseScale: noiseScale(r.learningRate, batchSize, C),
      testAccuracy: r.testAccuracy,
      diverged: r.diverged,
    });
  }
  return out;
}

/**
 * Rank correlation (Spearman) between noise scale and test accuracy over
 * the completed runs of one model: does more SGD noise go with better
 * accuracy? NaN with fewer than three runs.
 */
export function noiseAccuracyCorrelation(rows: readonly NoiseScaleRow[], model: 'BN' | 'no BN'): number {
  const pts = rows.filter((r) => r.model === model && !r.diverged && r.testAccuracy !== null && Number.isFinite(r.testAccuracy));
  if (pts.length < 3) return NaN;
  const rank = (v: number[]) => {
    const idx = v.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
      for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const a = rank(pts.map((p) => p.noiseScale));
  const b = rank(pts.map((p) => p.testAccuracy!));
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(a);
  const mb = mean(b);
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (b[i] - mb) ** 2;
  }
  return da === 0 || db === 0 ? NaN : num / Math.sqrt(da * db);
}
