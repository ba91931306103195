import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { channelMoments, DEFAULT_STEP_SIZES, relativeLossAfterStep, stepAnatomy } from '../../lib/src/instrument';
import { Model, resnet } from '../../lib/src/models';
import { crossEntropy } from '../../lib/src/models/loss';
import { trainStep } from '../../lib/src/train/loop';
import { SgdMomentum } from '../../lib/src/train/optimizer';

before(async () => {
  await initBackend({ quiet: true });
});

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);

/** Exact bits of every parameter and every BN moving statistic. */
const snapshot = (m: Model) => new Map([...m.trainable, ...m.state].map(([k, v]) => [k, Array.from(new Uint32Array((v.dataSync() as Float32Array).slice().buffer))]));

function batch(n: number, shape: [number, number, number], classes: number, seed = 1): { x: tf.Tensor4D; y: tf.Tensor2D } {
  return tf.tidy(() => ({
    x: tf.randomNormal([n, ...shape], 0, 1, 'float32', seed) as tf.Tensor4D,
    y: tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes), 'float32') as tf.Tensor2D,
  }));
}

const trainLoss = (m: Model, x: tf.Tensor, y: tf.Tensor2D) => tf.tidy(() => crossEntropy(y, m.apply(x, { training: true, updateMovingStats: false })).dataSync()[0]);

describe('relativeLossAfterStep (Fig. 3)', () => {
  it('is 1 at step 0, matches a hand-made step, and leaves weights and BN moving statistics bit-identical', () => {
    const m = resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [8, 8, 2], numClasses: 3, seed: 3 });
    const { x, y } = batch(6, [8, 8, 2], 3);
    const before = snapshot(m);
    const tensors = tf.memory().numTensors;
    const rows = relativeLossAfterStep(m, x, y, { stepSizes: [0, 1e-3, 0.05] });
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(snapshot(m), before);
    assert.deepEqual(rows.map((r) => r.stepSize), [0, 1e-3, 0.05]);
    assert.equal(rows[0].relativeLoss, 1);
    const loss0 = trainLoss(m, x, y);
    close(rows[0].loss, loss0, 1e-6, 'loss at θ');
    assert.ok(rows[1].relativeLoss < 1, `a small step descends: ${rows[1].relativeLoss}`);

    // The same step by hand: θ − 0.05·∇L, BN in training mode, then put back.
    const names = [...m.trainable.keys()];
    const vars = names.map((n) => m.trainable.get(n)!);
    const saved = vars.map((v) => tf.clone(v));
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => crossEntropy(y, m.apply(x, { training: true, updateMovingStats: false })), vars);
      vars.forEach((v) => v.assign(tf.sub(v, tf.mul(grads[v.name], 0.05))));
    });
    const byHand = trainLoss(m, x, y);
    vars.forEach((v, i) => v.assign(saved[i]));
    tf.dispose(saved);
    close(rows[2].loss, byHand, 1e-5 * byHand, 'loss after the step');
    close(rows[2].relativeLoss, byHand / loss0, 1e-5, 'relative loss');
    tf.dispose([x, y]);
    m.dispose();
  });

  it('defaults to 21 log-spaced sizes from 1e-5 to 1 and reports an overflowing loss as Infinity', () => {
    assert.equal(DEFAULT_STEP_SIZES.length, 21);
    close(DEFAULT_STEP_SIZES[0], 1e-5, 1e-18);
    close(DEFAULT_STEP_SIZES[20], 1, 1e-12);
    const m = resnet({ depth: 8, width: 4, norm: 'none', inputShape: [8, 8, 2], numClasses: 3, seed: 3 });
    const { x, y } = batch(6, [8, 8, 2], 3);
    const before = snapshot(m);
    const [row] = relativeLossAfterStep(m, x, y, { stepSizes: [1e30] });
    assert.equal(row.loss, Infinity);
    assert.equal(row.relativeLoss, Infinity);
    assert.deepEqual(snapshot(m), before);
    assert.throws(() => relativeLossAfterStep(m, x, y, { stepSizes: [-1] }), /finite and ≥ 0/);
    tf.dispose([x, y]);
    m.dispose();
  });

  it('a step of 0.1 blows the loss up without BN and lowers it with BN (ResNet-20, He init)', () => {
    const at = (norm: 'batch' | 'none') => {
      const m = resnet({ depth: 20, width: 8, norm, inputShape: [16, 16, 3], numClasses: 10, seed: 1, init: { scheme: 'he' } });
      const { x, y } = batch(32, [16, 16, 3], 10);
      const [row] = relativeLossAfterStep(m, x, y, { stepSizes: [0.1] });
      tf.dispose([x, y]);
      m.dispose();
      return row.relativeLoss;
    };
    // Seen: 7e5 without BN, 0.55 with BN (Fashion-MNIST batches: 3e3–5e7 against 0.69–0.74).
    const without = at('none');
    const withBn = at('batch');
    assert.ok(without > 100, `no BN: ${without}`);
    assert.ok(withBn < 1, `BN: ${withBn}`);
  });
});

describe('probing in the middle of training', () => {
  it('does not change the course of training (the optimiser sees the parameters it left)', () => {
    // Fig. 3 probes a few mini-batches early in training. The native optimiser
    // mirrors each variable in a TF resource and re-syncs only when the
    // variable's data changed; a probe must leave both consistent.
    const run = (probe: boolean) => {
      const m = resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [8, 8, 2], numClasses: 3, seed: 9 });
      const opt = new SgdMomentum(m.trainable, { learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4 });
      const losses: number[] = [];
      for (let step = 0; step < 4; step++) {
        const { x, y } = batch(6, [8, 8, 2], 3, step + 1); // tfjs treats seed 0 as "no seed"
        if (probe && step >= 1) {
          relativeLossAfterStep(m, x, y, { stepSizes: [0.01, 10] });
          stepAnatomy(m, x, y, { stepSize: 1, fractions: [0.5] });
        }
        const { loss, accuracy } = trainStep(m, opt, x, y, 0.05);
        losses.push(loss.dataSync()[0]);
        tf.dispose([loss, accuracy, x, y]);
      }
      const final = snapshot(m);
      opt.dispose();
      m.dispose();
      return { losses, final };
    };
    const plain = run(false);
    const probed = run(true);
    assert.deepEqual(probed.losses, plain.losses);
    assert.deepEqual(probed.final, plain.final);
  });
});

describe('stepAnatomy (Fig. 4)', () => {
  it('at t = 0 gives the channel moments at θ, and restores θ', () => {
    const m = resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [8, 8, 2], numClasses: 3, seed: 5 });
    const { x, y } = batch(6, [8, 8, 2], 3);
    const before = snapshot(m);
    const tensors = tf.memory().numTensors;
    const rows = stepAnatomy(m, x, y, { stepSize: 0.5, fractions: [0, 0.5, 1] });
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(snapshot(m), before);
    const reference = channelMoments(m, x);
    const atZero = rows.filter((r) => r.t === 0);
    assert.equal(atZero.length, reference.length);
    atZero.forEach((r, i) => {
      assert.equal(r.point, reference[i].point);
      assert.equal(r.channel, reference[i].channel);
      close(r.mean, reference[i].mean, 1e-6, 'mean');
      close(r.variance, reference[i].std ** 2, 1e-5 * r.variance + 1e-9, 'variance');
    });
    assert.equal(rows.length, 3 * reference.length);
    assert.throws(() => stepAnatomy(m, x, y, { stepSize: 0.1, fractions: [1.5] }), /\[0, 1\]/);
    tf.dispose([x, y]);
    m.dispose();
  });

  it('without BN a large step blows up the deep activations far more than the shallow ones', () => {
    const m = resnet({ depth: 20, width: 8, norm: 'none', inputShape: [16, 16, 3], numClasses: 10, seed: 1, init: { scheme: 'he' } });
    const { x, y } = batch(32, [16, 16, 3], 10);
    const points = ['stage1/block0', 'stage3/block2'];
    const rows = stepAnatomy(m, x, y, { stepSize: 0.1, fractions: [0, 1], points });
    const maxVariance = (point: string, t: number) => Math.max(...rows.filter((r) => r.point === point && r.t === t).map((r) => r.variance));
    const growth = (point: string) => maxVariance(point, 1) / maxVariance(point, 0);
    // Seen: the last block's largest channel variance goes from 5e2 to 9e13; the first block's shrinks.
    assert.ok(growth('stage3/block2') > 1e6, `deep growth ${growth('stage3/block2')}`);
    assert.ok(growth('stage3/block2') > 1e4 * growth('stage1/block0'), `shallow growth ${growth('stage1/block0')}`);
    tf.dispose([x, y]);
    m.dispose();
  });
});
