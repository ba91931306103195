import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';

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
