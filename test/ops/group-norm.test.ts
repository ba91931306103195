/**
 * Group norm and layer norm (ops.groupNorm): the plain formula and the
 * closed-form gradient against a float64 reference written out loop by
 * loop, forward and every gradient (by central differences of the
 * reference), on the native backend and on the plain cpu one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { closedFormGroupNorm, groupNorm, plainGroupNorm, setClosedFormGroupNorm } from '../../lib/src/ops';
import { Rng } from '../../lib/src/util/rng';
import { assertClose, liveTensors } from './helpers';

before(async () => {
  await initBackend({ backend: 'tensorflow', quiet: true });
});
after(() => setClosedFormGroupNorm(true));

/** y[n, s, c] = γ_c (x − μ_ng) / √(σ²_ng + ε) + β_c, in float64, over a flat [N, S, C] array. */
function reference(x: number[], shape: number[], groups: number, gamma: number[], beta: number[], eps: number): number[] {
  const n = shape[0];
  const c = shape[shape.length - 1];
  const s = x.length / (n * c);
  const per = c / groups;
  const y = new Array<number>(x.length);
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < s; p++) for (let k = g * per; k < (g + 1) * per; k++) idx.push((i * s + p) * c + k);
      const mean = idx.reduce((a, j) => a + x[j], 0) / idx.length;
      const variance = idx.reduce((a, j) => a + (x[j] - mean) ** 2, 0) / idx.length;
      for (const j of idx) y[j] = (gamma[j % c] * (x[j] - mean)) / Math.sqrt(variance + eps) + beta[j % c];
    }
  }
  return y;
}

interface Case {
  shape: number[];
  groups: number;
}
const CASES: Case[] = [
  { shape: [2, 3, 3, 4], groups: 2 }, // group norm on a conv's activations
  { shape: [2, 2, 3, 6], groups: 1 }, // layer norm
  { shape: [3, 4], groups: 4 }, // a dense layer's features, one channel per group
];

function draw(c: Case, seed: number) {
  const rng = new Rng(seed);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const channels = c.shape[c.shape.length - 1];
  return {
    // Plain float64 arrays: a central difference on a Float32Array would round its step.
    x: Array.from(rng.normalArray(size), (v, i) => 2 * v + (i % 3)), // off-centre, not unit variance
    gamma: Array.from({ length: channels }, () => 0.5 + rng.next()),
    beta: Array.from({ length: channels }, () => rng.normal()),
    // The loss Σ w ⊙ y, so that every output's gradient differs.
    w: Array.from(rng.normalArray(size)),
  };
}

type Impl = typeof plainGroupNorm;
const IMPLS: [string, Impl][] = [
  ['plain formula', plainGroupNorm],
  ['closed-form gradient', closedFormGroupNorm],
];

for (const backend of ['tensorflow', 'cpu'] as const) {
  describe(`groupNorm on the ${backend} backend`, () => {
    before(async () => {
      await initBackend({ backend, quiet: true });
    });
    after(async () => {
      await initBackend({ backend: 'tensorflow', quiet: true });
    });

    for (const c of CASES) {
      for (const [implName, impl] of IMPLS) {
        it(`${implName}: forward and the gradients of x, γ and β match the reference, [${c.shape}] in ${c.groups} group(s)`, () => {
          const d = draw(c, c.shape.length * 10 + c.groups);
          const eps = 1e-5;
          const loss = (x: number[], gamma: number[], beta: number[]) =>
            reference(x, c.shape, c.groups, gamma, beta, eps).reduce((a, y, i) => a + y * d.w[i], 0);
          const numeric = (v: number[], f: (u: number[]) => number) =>
            v.map((_, i) => {
              const h = 1e-5;
              const up = v.slice();
              const down = v.slice();
              up[i] += h;
              down[i] -= h;
              return (f(up) - f(down)) / (2 * h);
            });
          const x = tf.tensor(d.x, c.shape);
          const gamma = tf.tensor1d(d.gamma);
          const beta = tf.tensor1d(d.beta);
          const w = tf.tensor(d.w, c.shape);
          const y = impl(x, { gamma, beta }, { groups: c.groups, epsilon: eps });
          assertClose(y, reference(d.x, c.shape, c.groups, d.gamma, d.beta, eps), 1e-4, 'forward');
          const [gx, gg, gb] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(impl(a, { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D }, { groups: c.groups, epsilon: eps }), w)),
          )([x, gamma, beta]);
          assertClose(gx, numeric(d.x, (u) => loss(u, d.gamma, d.beta)), 1e-3, '∂/∂x');
          assertClose(gg, numeric(d.gamma, (u) => loss(d.x, u, d.beta)), 1e-3, '∂/∂γ');
          assertClose(gb, numeric(d.beta, (u) => loss(d.x, d.gamma, u)), 1e-3, '∂/∂β');
          tf.dispose([x, gamma, beta, w, y, gx, gg, gb]);
        });
      }
    }

    it('layer norm normalises each example over all its positions and channels: zero mean, unit variance', () => {
      const x = tf.randomNormal([3, 4, 4, 8], 5, 3, 'float32', 3);
      const y = groupNorm(x, { gamma: tf.ones([8]) as tf.Tensor1D, beta: tf.zeros([8]) as tf.Tensor1D }, { groups: 1 });
      const { mean, variance } = tf.moments(y, [1, 2, 3]);
      assertClose(mean, [0, 0, 0], 1e-5, 'mean');
      assertClose(variance, [1, 1, 1], 1e-3, 'variance');
      tf.dispose([x, y, mean, variance]);
    });

    it('leaves no tensor behind, forward or backward', () => {
      const x = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 4);
      const gamma = tf.ones([4]);
      const beta = tf.zeros([4]);
      const step = (impl: Impl) => {
        const [gx, gg] = tf.grads((a: tf.Tensor, g: tf.Tensor) => tf.sum(impl(a, { gamma: g as tf.Tensor1D, beta: beta as tf.Tensor1D }, { groups: 2 })))([x, gamma]);
        tf.dispose([gx, gg]);
      };
      // Once first: the native backend makes its own copy of x, γ and β on first use.
      step(plainGroupNorm);
      for (const [, impl] of IMPLS) {
        const before = liveTensors();
        step(impl);
        assert.deepEqual(liveTensors(), before);
      }
      tf.dispose([x, gamma, beta]);
    });

    it('rejects groups that do not divide the channels, saying so', () => {
      const x = tf.zeros([1, 2, 2, 6]);
      const p = { gamma: tf.ones([6]) as tf.Tensor1D, beta: tf.zeros([6]) as tf.Tensor1D };
      assert.throws(() => groupNorm(x, p, { groups: 4 }), /groups must be a positive divisor of the 6 channels, got 4/);
      tf.dispose([x, p.gamma, p.beta]);
    });
  });
}

describe('groupNorm picks its path', () => {
  it('takes the closed-form gradient on the native backend and the plain formula when told to, with the same numbers', () => {
    const x = tf.randomNormal([4, 5, 5, 8], 0, 1, 'float32', 5);
    const p = { gamma: tf.randomUniform([8], 0.5, 1.5, 'float32', 6) as tf.Tensor1D, beta: tf.randomNormal([8], 0, 1, 'float32', 7) as tf.Tensor1D };
    const grad = () => tf.grad((a: tf.Tensor) => tf.sum(tf.square(groupNorm(a, p, { groups: 4 }))))(x);
    const fast = grad();
    setClosedFormGroupNorm(false);
    const plain = grad();
    setClosedFormGroupNorm(true);
    assertClose(fast, plain, 1e-4, 'the two paths');
    tf.dispose([x, p.gamma, p.beta, fast, plain]);
  });
});
