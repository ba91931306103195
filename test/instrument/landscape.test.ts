import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { landscapeAlongGradient, summarizeLandscape } from '../../lib/src/instrument';
import { Model, resnet } from '../../lib/src/models';
import { crossEntropy } from '../../lib/src/models/loss';

before(async () => {
  await initBackend({ quiet: true });
});

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
const snapshot = (m: Model) =>
  new Map([...m.trainable, ...m.state].map(([k, v]) => [k, Array.from(new Uint32Array((v.dataSync() as Float32Array).slice().buffer))]));

function batch(n: number, shape: [number, number, number], classes: number, seed = 1): { x: tf.Tensor4D; y: tf.Tensor2D } {
  return tf.tidy(() => ({
    x: tf.randomNormal([n, ...shape], 0, 1, 'float32', seed) as tf.Tensor4D,
    y: tf.cast(
      tf.oneHot(
        tf.tensor1d(
          Array.from({ length: n }, (_, i) => i % classes),
          'int32',
        ),
        classes,
      ),
      'float32',
    ) as tf.Tensor2D,
  }));
}

const lossAndGrads = (m: Model, x: tf.Tensor, y: tf.Tensor2D, vars: tf.Variable[]) =>
  tf.variableGrads(() => crossEntropy(y, m.apply(x, { training: true, updateMovingStats: false })), vars);

describe('landscapeAlongGradient (Santurkar et al., Fig. 4)', () => {
  for (const norm of ['batch', 'none'] as const)
    it(`${norm}: matches a hand-made step and gradient, and leaves every weight and moving statistic bit-identical without leaking`, () => {
      const m = resnet({ depth: 8, width: 4, norm, inputShape: [8, 8, 2], numClasses: 3, seed: 5 });
      const { x, y } = batch(6, [8, 8, 2], 3);
      const before = snapshot(m);
      const tensors = tf.memory().numTensors;
      const l = landscapeAlongGradient(m, x, y, { stepSizes: [1e-3, 0.05] });
      assert.equal(tf.memory().numTensors, tensors, 'no tensor left behind');
      assert.deepEqual(snapshot(m), before, 'θ and the moving statistics put back bit for bit');
      assert.deepEqual(
        l.rows.map((r) => r.stepSize),
        [1e-3, 0.05],
      );

      // The same by hand: g at θ, θ − 0.05·g, the loss and gradient there.
      const vars = [...m.trainable.values()];
      const saved = vars.map((v) => tf.clone(v));
      const g0 = lossAndGrads(m, x, y, vars);
      const gNorm = Math.sqrt(vars.reduce((s, v) => s + tf.sum(tf.square(g0.grads[v.name])).dataSync()[0], 0));
      close(l.lossBefore, g0.value.dataSync()[0], 1e-6, 'loss at θ');
      close(l.gradientNorm, gNorm, 1e-5 * gNorm, '‖g‖');
      tf.tidy(() => vars.forEach((v) => v.assign(tf.sub(v, tf.mul(g0.grads[v.name], 0.05)))));
      const g1 = lossAndGrads(m, x, y, vars);
      const change = Math.sqrt(vars.reduce((s, v) => s + tf.sum(tf.square(tf.sub(g1.grads[v.name], g0.grads[v.name]))).dataSync()[0], 0));
      const row = l.rows[1];
      close(row.loss, g1.value.dataSync()[0], 1e-5, 'loss after the step');
      close(row.gradientChange, change, 1e-4 * change + 1e-7, 'gradient change');
      close(row.betaSmoothness, change / (0.05 * gNorm), 1e-4 * row.betaSmoothness + 1e-7, 'β-smoothness');
      vars.forEach((v, i) => v.assign(saved[i]));
      tf.dispose([saved, g0.value, g1.value, Object.values(g0.grads), Object.values(g1.grads), x, y]);
      m.dispose();
    });

  // Small enough that no ReLU flips (a BN network of this size has kinks
  // within 1e-4 of θ: its gradient jumps there, which is what β measures).
  it('β-smoothness is a curvature: at tiny steps it settles to ‖H·g‖/‖g‖, the same at α and 2α', () => {
    const m = resnet({ depth: 8, width: 4, norm: 'none', inputShape: [8, 8, 2], numClasses: 3, seed: 2 });
    const { x, y } = batch(8, [8, 8, 2], 3, 4);
    const l = landscapeAlongGradient(m, x, y, { stepSizes: [1e-4, 2e-4] });
    const [a, b] = l.rows.map((r) => r.betaSmoothness);
    assert.ok(a > 0 && Number.isFinite(a), `finite and positive: ${a}`);
    close(b / a, 1, 0.02, 'β at 2α ÷ β at α');
    tf.dispose([x, y]);
    m.dispose();
  });

  it('refuses a step size that is not finite and positive', () => {
    const m = resnet({ depth: 8, width: 4, norm: 'none', inputShape: [8, 8, 2], numClasses: 3, seed: 1 });
    const { x, y } = batch(4, [8, 8, 2], 3);
    assert.throws(() => landscapeAlongGradient(m, x, y, { stepSizes: [0.1, 0] }), /finite and > 0/);
    assert.throws(() => landscapeAlongGradient(m, x, y, { stepSizes: [Infinity] }), /finite and > 0/);
    tf.dispose([x, y]);
    m.dispose();
  });
});

describe('summarizeLandscape', () => {
  it('takes the loss range with θ itself, and the largest gradient change and β; a non-finite value makes the measure infinite', () => {
    const s = summarizeLandscape({
      lossBefore: 2,
      gradientNorm: 1,
      rows: [
        { stepSize: 0.1, loss: 1.5, gradientChange: 0.2, betaSmoothness: 2 },
        { stepSize: 0.2, loss: 2.5, gradientChange: 0.6, betaSmoothness: 3 },
      ],
    });
    assert.deepEqual(s, { lossVariation: 1, gradientChange: 0.6, betaSmoothness: 3 });
    const blown = summarizeLandscape({
      lossBefore: 2,
      gradientNorm: 1,
      rows: [{ stepSize: 0.1, loss: Infinity, gradientChange: Infinity, betaSmoothness: Infinity }],
    });
    assert.equal(blown.lossVariation, Infinity);
    assert.equal(blown.betaSmoothness, Infinity);
  });
});
