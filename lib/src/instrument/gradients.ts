/**
 * Gradients at initialisation, as the paper's Fig. 2, 6, 7 and Table 1 look
 * at them: distributions of conv-weight gradients, the gradient of the loss
 * with respect to the logits, and how much the per-position summands of a
 * conv-kernel gradient agree in sign.
 *
 * Every function runs one forward and backward pass of the mean
 * cross-entropy with BN in training mode (batch statistics, moving
 * statistics untouched) unless told otherwise, and returns tidy rows.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Model, PointInfo } from '../models';
import { crossEntropy } from '../models/loss';
import { choosePoints, convInputPoint, convPoints, middleConv, record } from './hooks';
import { finiteMean, median, moments, sampleValues, topSingularShare } from './stats';

export interface GradientOptions {
  /** BN with batch statistics (default true). */
  training?: boolean;
}

// ---------------------------------------------------------------- Fig. 2: weight-gradient distributions

export interface WeightGradientRow {
  layer: string;
  depth: number;
  count: number;
  /** L2 norm of the layer's kernel gradient. */
  norm: number;
  mean: number;
  std: number;
  /** Excess kurtosis: 0 for Gaussian gradients; large for the sharp peak and heavy tails of Fig. 2 without BN. */
  kurtosis: number;
  maxAbs: number;
}

export interface WeightGradients {
  /** One row of summary statistics per layer, in forward order. */
  rows: WeightGradientRow[];
  /** Every gradient value of each layer's kernel, for histograms (gradientHistogram) and samples. */
  values: Map<string, Float32Array>;
}

/** The kernel gradients of the chosen layers (default: every conv layer). */
export function weightGradients(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor2D,
  opts: GradientOptions & { layers?: readonly string[] } = {},
): WeightGradients {
  const layers = choosePoints(model, opts.layers, () => convPoints(model));
  const params = layers.map((p) => kernelName(model, p));
  const rec = record(model, x, y, { training: opts.training, params });
  try {
    const rows: WeightGradientRow[] = [];
    const values = new Map<string, Float32Array>();
    layers.forEach((p, i) => {
      const v = rec.paramGrads.get(params[i])!.dataSync() as Float32Array;
      values.set(p.name, v);
      const m = moments(v);
      rows.push({
        layer: p.name,
        depth: p.depth,
        count: m.count,
        norm: m.norm,
        mean: m.mean,
        std: m.std,
        kurtosis: m.kurtosis,
        maxAbs: m.maxAbs,
      });
    });
    return { rows, values };
  } finally {
    rec.dispose();
  }
}

function kernelName(model: Model, p: PointInfo): string {
  const name = `${p.name}/kernel`;
  if (!model.trainable.has(name)) throw new Error(`${model.name}: point ${p.name} (${p.kind}) has no kernel ${name}`);
  return name;
}

export interface GradientSampleRow {
  layer: string;
  value: number;
}

/** Up to `perLayer` values of each layer (seeded), as rows for overlaid histograms or strip plots. */
export function gradientSamples(
  values: ReadonlyMap<string, ArrayLike<number>>,
  opts: { perLayer?: number; seed?: number } = {},
): GradientSampleRow[] {
  const rows: GradientSampleRow[] = [];
  for (const [layer, v] of values) {
    for (const value of sampleValues(v, opts.perLayer ?? 2000, opts.seed ?? 0)) rows.push({ layer, value });
  }
  return rows;
}

// ---------------------------------------------------------------- Fig. 6: logit gradients

export interface LogitGradientRow {
  example: number;
  class: number;
  /** ∂L/∂z for the mean cross-entropy L: (softmax(z) − onehot(label)) / batch. */
  grad: number;
  label: number;
  prob: number;
}

/** ∂L/∂logits, one row per (example, class): the heatmap of Fig. 6. */
export function logitGradients(model: Model, x: tf.Tensor, y: tf.Tensor2D, opts: GradientOptions = {}): LogitGradientRow[] {
  const [grad, probs, labels] = tf.tidy(() => {
    const logits = model.apply(x, { training: opts.training ?? true, updateMovingStats: false });
    const g = tf.grad((z) => crossEntropy(y, z as tf.Tensor2D))(logits);
    return [g, tf.softmax(logits), tf.argMax(y, 1)];
  });
  const [batch, classes] = grad.shape as [number, number];
  const g = grad.dataSync();
  const p = probs.dataSync();
  const l = labels.dataSync();
  tf.dispose([grad, probs, labels]);
  const rows: LogitGradientRow[] = [];
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < classes; c++) rows.push({ example: b, class: c, grad: g[b * classes + c], label: l[b], prob: p[b * classes + c] });
  }
  return rows;
}

export interface LogitDominance {
  examples: number;
  /** The class that most examples push hardest against (their largest positive gradient). */
  dominantClass: number;
  /**
   * Share of examples whose largest positive logit gradient is on
   * `dominantClass`: ≈ 1 when, as in Fig. 6 without BN, one class column
   * dominates the heatmap; near the chance level when gradients depend on
   * the input.
   */
  dominantShare: number;
  /** The most common predicted class, and the share of examples predicting it (prediction collapse). */
  predictedClass: number;
  predictionShare: number;
}

/**
 * The "one class dominates" statistic of Fig. 6.
 *
 * The largest |gradient| of an example is always on its own label
 * (|p_y − 1| = Σ_{c≠y} p_c ≥ p_c for every other c), so an argmax of |grad|
 * only measures the label distribution. The signed argmax is informative:
 * gradients are positive (p_c / B) off the label and negative on it, so the
 * largest one is the most probable wrong class, the column that lights up.
 */
export function logitGradientDominance(rows: readonly LogitGradientRow[]): LogitDominance {
  const best = new Map<number, { grad: number; gradClass: number; prob: number; probClass: number }>();
  for (const r of rows) {
    const b = best.get(r.example);
    if (!b) {
      best.set(r.example, { grad: r.grad, gradClass: r.class, prob: r.prob, probClass: r.class });
      continue;
    }
    if (r.grad > b.grad) [b.grad, b.gradClass] = [r.grad, r.class];
    if (r.prob > b.prob) [b.prob, b.probClass] = [r.prob, r.class];
  }
  const mode = (classes: number[]): [number, number] => {
    const counts = new Map<number, number>();
    for (const c of classes) counts.set(c, (counts.get(c) ?? 0) + 1);
    let top = -1;
    let n = 0;
    for (const [c, k] of counts) if (k > n || (k === n && c < top)) [top, n] = [c, k];
    return [top, n];
  };
  const examples = best.size;
  const [dominantClass, dn] = mode([...best.values()].map((b) => b.gradClass));
  const [predictedClass, pn] = mode([...best.values()].map((b) => b.probClass));
  return {
    examples,
    dominantClass,
    dominantShare: examples ? dn / examples : NaN,
    predictedClass,
    predictionShare: examples ? pn / examples : NaN,
  };
}

// ---------------------------------------------------------------- Table 1: summands of a kernel gradient

/**
 * For a 'same'-padded conv with input I [B,H,W,Cin] and output gradient
 * G = ∂L/∂O [B,H',W',Cout], the kernel gradient at (row, col, i, o) is the
 * sum over b and output positions of d = G[b,x,y,o] · I[b, s·x + row − pad,
 * s·y + col − pad, i]. Returns `sum` = Σ d (the kernel gradient itself) and
 * `absSum` = Σ |d|, both [kh, kw, Cin, Cout].
 *
 * No patches are needed: |d| = |G|·|I|, so Σ|d| is the kernel gradient of
 * the same conv fed |I| and |G|. Both are taken as ∂/∂W ⟨G, conv(I, W)⟩,
 * i.e. Conv2DBackpropFilter, through tfjs's public gradient API.
 */
export function summandSums(
  input: tf.Tensor4D,
  outputGrad: tf.Tensor4D,
  kernelSize: [number, number],
  stride: number | [number, number],
): { sum: tf.Tensor4D; absSum: tf.Tensor4D } {
  return tf.tidy(() => {
    const filterShape: [number, number, number, number] = [kernelSize[0], kernelSize[1], input.shape[3], outputGrad.shape[3]];
    const filterGrad = (i: tf.Tensor4D, g: tf.Tensor4D) =>
      tf.grad((w) => tf.sum(tf.mul(tf.conv2d(i, w as tf.Tensor4D, stride, 'same'), g)))(tf.zeros(filterShape)) as tf.Tensor4D;
    return { sum: filterGrad(input, outputGrad), absSum: filterGrad(tf.abs(input), tf.abs(outputGrad)) };
  });
}

/** The stride a 'same' conv from `inShape` to `outShape` must have had (the smallest that fits). */
export function inferStride(inShape: readonly number[], outShape: readonly number[]): [number, number] {
  const fit = (i: number, o: number) => {
    for (let s = 1; s <= i; s++) if (Math.ceil(i / s) === o) return s;
    throw new Error(`no 'same' conv stride maps size ${i} to ${o}`);
  };
  return [fit(inShape[1], outShape[1]), fit(inShape[2], outShape[2])];
}

export interface KernelCoherenceRow {
  layer: string;
  depth: number;
  kernelRow: number;
  kernelCol: number;
  inChannel: number;
  outChannel: number;
  /** Σ d: the kernel gradient entry. */
  sum: number;
  /** Σ |d|. */
  absSum: number;
  /** |Σ d| / Σ |d| in [0, 1]: 1 when all summands share a sign, ≈ 0 when they cancel; NaN when every summand is 0. */
  ratio: number;
}

interface ConvObservation {
  point: PointInfo;
  input: tf.Tensor4D;
  output: tf.Tensor4D;
  outputGrad: tf.Tensor4D;
  kernel: tf.Variable;
  stride: [number, number];
}

/**
 * Records input, output and output gradient of each chosen conv in one pass,
 * checks that conv(input, kernel) reproduces the recorded output (so that
 * `convInputPoint` found the right tensor), and hands them to `use`.
 */
function observeConvs<T>(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor2D,
  layers: readonly PointInfo[],
  opts: GradientOptions,
  use: (obs: ConvObservation[]) => T,
): T {
  const inputs = layers.map((p) => convInputPoint(model, p.name));
  const rec = record(model, x, y, {
    training: opts.training,
    activations: [...layers.map((p) => p.name), ...inputs.filter((n): n is string => n !== null)],
    outputGrads: layers.map((p) => p.name),
  });
  try {
    const obs = layers.map((p, i): ConvObservation => {
      const input = (inputs[i] === null ? x : rec.activations.get(inputs[i]!)!) as tf.Tensor4D;
      const output = rec.activations.get(p.name)! as tf.Tensor4D;
      const kernel = model.trainable.get(kernelName(model, p))!;
      if (input.rank !== 4 || input.shape[3] !== kernel.shape[2]) {
        throw new Error(
          `${model.name}: ${inputs[i] ?? 'the input'} [${input.shape}] cannot be the input of ${p.name} (kernel [${kernel.shape}])`,
        );
      }
      const stride = inferStride(input.shape, output.shape);
      checkConvInput(model, p.name, inputs[i], input, output, kernel, stride);
      return { point: p, input, output, outputGrad: rec.outputGrads.get(p.name)! as tf.Tensor4D, kernel, stride };
    });
    return use(obs);
  } finally {
    rec.dispose();
  }
}

function checkConvInput(
  model: Model,
  conv: string,
  inputName: string | null,
  input: tf.Tensor4D,
  output: tf.Tensor4D,
  kernel: tf.Variable,
  stride: [number, number],
): void {
  const [err, scale] = tf.tidy(() => {
    let o: tf.Tensor = tf.conv2d(input, kernel as tf.Tensor4D, stride, 'same');
    const bias = model.trainable.get(`${conv}/bias`);
    if (bias) o = tf.add(o, bias);
    return [tf.max(tf.abs(tf.sub(o, output))).dataSync()[0], tf.max(tf.abs(output)).dataSync()[0]];
  });
  // A diverged net's activations may be inf; nothing to compare then.
  if (!Number.isFinite(scale)) return;
  if (!(err <= 1e-3 * scale + 1e-6)) {
    throw new Error(
      `${model.name}: conv(${inputName ?? 'input'}, ${conv}/kernel) differs from ${conv}'s output by ${err} (scale ${scale}); the point before a conv is not its input in this model`,
    );
  }
}

/**
 * |Σd| against Σ|d| for every kernel entry of the chosen conv layers
 * (default: the middle conv), the comparison of the paper's Table 1.
 */
export function kernelGradientCoherence(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor2D,
  opts: GradientOptions & { layers?: readonly string[] } = {},
): KernelCoherenceRow[] {
  const layers = choosePoints(model, opts.layers, () => [middleConv(model)]);
  return observeConvs(model, x, y, layers, opts, (obs) => {
    const rows: KernelCoherenceRow[] = [];
    for (const o of obs) {
      const [kh, kw, cin, cout] = o.kernel.shape;
      const { sum, absSum } = summandSums(o.input, o.outputGrad, [kh, kw], o.stride);
      const s = sum.dataSync();
      const a = absSum.dataSync();
      tf.dispose([sum, absSum]);
      let k = 0;
      for (let r = 0; r < kh; r++) {
        for (let c = 0; c < kw; c++) {
          for (let i = 0; i < cin; i++) {
            for (let oc = 0; oc < cout; oc++, k++) {
              rows.push({
                layer: o.point.name,
                depth: o.point.depth,
                kernelRow: r,
                kernelCol: c,
                inChannel: i,
                outChannel: oc,
                sum: s[k],
                absSum: a[k],
                ratio: a[k] > 0 ? Math.abs(s[k]) / a[k] : NaN,
              });
            }
          }
        }
      }
    }
    return rows;
  });
}

export interface CoherenceSummaryRow {
  layer: string;
  depth: number;
  entries: number;
  medianRatio: number;
  meanRatio: number;
  /** Mean over kernel entries of |Σ d|. */
  meanAbsSum: number;
  /** Mean over kernel entries of Σ |d|. */
  meanSumAbs: number;
  /** meanAbsSum / meanSumAbs: the two columns of Table 1 as one number. */
  aggregateRatio: number;
}

/** One row per layer of kernelGradientCoherence's rows. */
export function summarizeCoherence(rows: readonly KernelCoherenceRow[]): CoherenceSummaryRow[] {
  const byLayer = new Map<string, KernelCoherenceRow[]>();
  for (const r of rows) {
    const list = byLayer.get(r.layer);
    if (list) list.push(r);
    else byLayer.set(r.layer, [r]);
  }
  return [...byLayer.entries()].map(([layer, list]) => {
    // Entries without summands (ratio NaN) count in the means of the sums but not among the ratios.
    const ratios = list.map((r) => r.ratio);
    let absSum = 0;
    let sumAbs = 0;
    for (const r of list) {
      absSum += Math.abs(r.sum);
      sumAbs += r.absSum;
    }
    return {
      layer,
      depth: list[0].depth,
      entries: list.length,
      medianRatio: median(ratios),
      meanRatio: finiteMean(ratios),
      meanAbsSum: absSum / list.length,
      meanSumAbs: sumAbs / list.length,
      aggregateRatio: sumAbs > 0 ? absSum / sumAbs : NaN,
    };
  });
}

// ---------------------------------------------------------------- Fig. 7: (input channel, output channel) map

/** One cell of the (input channel × output channel) map. */
export interface ChannelPairCell {
  inChannel: number;
  outChannel: number;
  /** Mean over the kernel's spatial offsets of |∂L/∂W|. */
  meanAbsGrad: number;
}

export interface ChannelPairRow extends ChannelPairCell {
  layer: string;
  depth: number;
}

/**
 * Mean |gradient| over the spatial offsets of a conv kernel's gradient,
 * given flat in the kernel's [kh, kw, cin, cout] order (as weightGradients
 * returns it): one cell per (input channel, output channel), row-major in
 * the input channel. Summed in float64, from the values already read back,
 * so a probe that has the gradient needs no pass of its own.
 */
export function channelPairMap(values: ArrayLike<number>, shape: readonly [number, number, number, number]): ChannelPairCell[] {
  const [kh, kw, cin, cout] = shape;
  if (values.length !== kh * kw * cin * cout) throw new Error(`channelPairMap: ${values.length} values do not fill a [${shape}] kernel`);
  const sums = new Float64Array(cin * cout);
  for (let s = 0; s < kh * kw; s++) for (let k = 0; k < cin * cout; k++) sums[k] += Math.abs(values[s * cin * cout + k]);
  const cells: ChannelPairCell[] = [];
  for (let i = 0; i < cin; i++)
    for (let o = 0; o < cout; o++) cells.push({ inChannel: i, outChannel: o, meanAbsGrad: sums[i * cout + o] / (kh * kw) });
  return cells;
}

/** The map of the chosen conv layers (default: the middle one), from one backward pass. */
export function channelPairGradientMap(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor2D,
  opts: GradientOptions & { layers?: readonly string[] } = {},
): ChannelPairRow[] {
  const layers = choosePoints(model, opts.layers, () => [middleConv(model)]);
  const wg = weightGradients(model, x, y, { training: opts.training, layers: layers.map((p) => p.name) });
  return layers.flatMap((p) => {
    const shape = model.trainable.get(kernelName(model, p))!.shape as [number, number, number, number];
    return channelPairMap(wg.values.get(p.name)!, shape).map((c) => ({ layer: p.name, depth: p.depth, ...c }));
  });
}

/**
 * σ1²/Σσ² of one (input channel × output channel) map: how much of it one
 * rank-one pattern explains (Fig. 7's "a few channels always carry large
 * gradients" without BN). NaN for an empty map.
 */
export function channelPairShare(cells: readonly ChannelPairCell[]): number {
  if (cells.length === 0) return NaN;
  const cin = Math.max(...cells.map((c) => c.inChannel)) + 1;
  const cout = Math.max(...cells.map((c) => c.outChannel)) + 1;
  const matrix = Array.from({ length: cin }, () => new Array<number>(cout).fill(0));
  for (const c of cells) matrix[c.inChannel][c.outChannel] = c.meanAbsGrad;
  return topSingularShare(matrix);
}
