/**
 * Group normalisation (Wu & He, 2018), channels-last: each example's
 * channels split into G groups, each group normalised over its channels and
 * all spatial positions, then γ and β per channel. Layer norm (Ba et al.,
 * 2016, as used in conv nets) is the one-group case. Neither uses batch
 * statistics, so training and inference compute the same thing.
 *
 * Two implementations with the same numbers: the plain formula, whose
 * gradient tfjs derives through moments (about a dozen ops each way), and a
 * fast path with the closed-form gradient as one custom gradient, on the
 * native backend (test/ops/group-norm.test.ts checks they agree, forward
 * and every gradient; bench/train-throughput.ts --norm group times them).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface GroupNormParams {
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
}

export interface GroupNormOptions {
  /** Groups; must divide the channel count. 1 is layer norm. */
  groups: number;
  epsilon?: number;
}

/** [N, …, C] viewed as [N, S, G, C/G], the axes a group's moments run over being 1 and 3. */
function groupedShape(x: tf.Tensor, groups: number): [number, number, number, number] {
  if (x.rank < 2) throw new Error(`groupNorm: input must be [batch, …, channels], got rank ${x.rank}`);
  const n = x.shape[0];
  const c = x.shape[x.rank - 1];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new Error(`groupNorm: groups must be a positive divisor of the ${c} channels, got ${groups}`);
  }
  return [n, x.size / (n * c), groups, c / groups];
}

/** The plain formula, on any backend (the reference for the fast path). */
export function plainGroupNorm(x: tf.Tensor, p: GroupNormParams, o: GroupNormOptions): tf.Tensor {
  const eps = o.epsilon ?? 1e-5;
  return tf.tidy(() => {
    const g = tf.reshape(x, groupedShape(x, o.groups));
    const { mean, variance } = tf.moments(g, [1, 3], true);
    const normalised = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, eps))), x.shape);
    return tf.add(tf.mul(normalised, p.gamma), p.beta);
  });
}

/**
 * The same numbers with the gradient in closed form: with x̂ = (x − μ)·r,
 * r = 1/√(σ² + ε), over the M elements of a group,
 *   ∂L/∂x = r · (d − mean(d) − x̂ · mean(d · x̂)),  d = γ · ∂L/∂y,
 *   ∂L/∂γ = Σ ∂L/∂y · x̂,  ∂L/∂β = Σ ∂L/∂y  (sums over examples and positions).
 * It keeps x̂ and r from the forward pass instead of recomputing the moments'
 * chain backwards.
 */
export function closedFormGroupNorm(x: tf.Tensor, p: GroupNormParams, o: GroupNormOptions): tf.Tensor {
  const eps = o.epsilon ?? 1e-5;
  const shape = groupedShape(x, o.groups);
  const [, , groups, perGroup] = shape;
  const channels = groups * perGroup;
  const f = tf.customGrad(((xi: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const g = tf.reshape(xi, shape);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    const r = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(tf.sub(g, mean), r);
    save([xhat, r, gamma]);
    const gammaG = tf.reshape(gamma, [1, 1, groups, perGroup]);
    const betaG = tf.reshape(beta, [1, 1, groups, perGroup]);
    const value = tf.reshape(tf.add(tf.mul(xhat, gammaG), betaG), xi.shape);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gm] = saved;
        const dyG = tf.reshape(dy, shape);
        const d = tf.mul(dyG, tf.reshape(gm, [1, 1, groups, perGroup]));
        const meanD = tf.mean(d, [1, 3], true);
        const meanDX = tf.mean(tf.mul(d, xh), [1, 3], true);
        const dx = tf.reshape(tf.mul(rs, tf.sub(tf.sub(d, meanD), tf.mul(xh, meanDX))), dy.shape);
        const dGamma = tf.reshape(tf.sum(tf.mul(dyG, xh), [0, 1]), [channels]);
        const dBeta = tf.reshape(tf.sum(dyG, [0, 1]), [channels]);
        return [dx, dGamma, dBeta];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, p.gamma, p.beta);
}
