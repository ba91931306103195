import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { resnet } from '../../lib/src/models';
import { SgdMomentum } from '../../lib/src/train/optimizer';
import { trainStep } from '../../lib/src/train/loop';

/** Asserts |a − b| ≤ tol·max(1, max|b|) elementwise: absolute for O(1) values, relative for large ones. */
export function assertClose(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>, tol: number, what: string): void {
  const av = a instanceof tf.Tensor ? a.dataSync() : a;
  const bv = b instanceof tf.Tensor ? b.dataSync() : b;
  if (a instanceof tf.Tensor && b instanceof tf.Tensor) assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  assert.equal(av.length, bv.length, `${what}: size`);
  let scale = 1;
  for (let i = 0; i < bv.length; i++) scale = Math.max(scale, Math.abs(bv[i]));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < av.length; i++) {
    const d = Math.abs(av[i] - bv[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= tol * scale, `${what}: max |diff| ${worst} at ${at} (${av[at]} vs ${bv[at]}) > ${tol}·${scale}`);
}

/** Live tensors, in tfjs's count and in the TF C library's (native backend only). */
export function liveTensors(): { tfjs: number; native: number | null } {
  const be = tf.backend() as unknown as { getNumOfTFTensors?: () => number };
  return { tfjs: tf.memory().numTensors, native: tf.getBackend() === 'tensorflow' && be.getNumOfTFTensors ? be.getNumOfTFTensors() : null };
}

/**
 * Trains a small ResNet for 3 steps with a measure on and again with it off
 * (set(true), set(false)), with BN and without, and asserts the same losses
 * and weights to the last bit. Leaves the measure on.
 */
export function assertTrainsTheSame(set: (on: boolean) => void): void {
  for (const norm of ['batch', 'none'] as const) {
    const run = (on: boolean) => {
      set(on);
      const m = resnet({ depth: 8, norm, inputShape: [8, 8, 3], numClasses: 4, seed: 3 });
      const opt = new SgdMomentum(m.trainable, { learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4 });
      const x = tf.randomNormal([6, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32'), 4) as tf.Tensor2D;
      const losses: number[] = [];
      for (let s = 0; s < 3; s++) {
        const { loss, accuracy } = trainStep(m, opt, x, y, 0.05);
        losses.push(loss.dataSync()[0]);
        tf.dispose([loss, accuracy]);
      }
      const weights = [...m.trainable.values()].map((v) => Array.from(v.dataSync()));
      tf.dispose([x, y]);
      opt.dispose();
      m.dispose();
      set(true);
      return { losses, weights };
    };
    const a = run(true);
    const b = run(false);
    assert.deepEqual(a.losses, b.losses, `${norm}: losses`);
    assert.deepEqual(a.weights, b.weights, `${norm}: weights`);
  }
}
