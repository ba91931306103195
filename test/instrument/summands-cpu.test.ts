/**
 * Σ d and Σ |d| of a conv-kernel gradient (Table 1) against an explicit loop
 * over the summands, on tfjs's pure-JS cpu backend: tiny tensors, and a
 * reference that does not share TensorFlow's kernels.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { inferStride, summandSums } from '../../lib/src/instrument';
import { Rng } from '../../lib/src/util/rng';

before(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
});

/** d = G[b,x,y,o]·I[b, s·x + r − pad, s·y + c − pad, i] summed over b, x, y, with TF's 'same' padding (the extra row at the bottom/right). */
function loopSums(I: Float32Array, iShape: number[], G: Float32Array, gShape: number[], k: number, s: number): { sum: Float64Array; absSum: Float64Array } {
  const [B, H, W, Ci] = iShape;
  const [, Ho, Wo, Co] = gShape;
  const padTop = Math.floor(Math.max((Ho - 1) * s + k - H, 0) / 2);
  const padLeft = Math.floor(Math.max((Wo - 1) * s + k - W, 0) / 2);
  const sum = new Float64Array(k * k * Ci * Co);
  const absSum = new Float64Array(k * k * Ci * Co);
  for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) for (let i = 0; i < Ci; i++) for (let o = 0; o < Co; o++) {
    const at = ((r * k + c) * Ci + i) * Co + o;
    for (let b = 0; b < B; b++) for (let x = 0; x < Ho; x++) for (let y = 0; y < Wo; y++) {
      const ix = s * x + r - padTop;
      const iy = s * y + c - padLeft;
      if (ix < 0 || ix >= H || iy < 0 || iy >= W) continue;
      const d = G[((b * Ho + x) * Wo + y) * Co + o] * I[((b * H + ix) * W + iy) * Ci + i];
      sum[at] += d;
      absSum[at] += Math.abs(d);
    }
  }
  return { sum, absSum };
}

describe('summandSums on the cpu backend', () => {
  for (const [h, w, stride] of [[5, 4, 1], [5, 6, 2], [4, 4, 2]] as const) {
    it(`matches the explicit loop: ${h}×${w} input, stride ${stride}`, () => {
      assert.equal(tf.getBackend(), 'cpu');
      const rng = new Rng(h * 10 + w + stride);
      const iShape = [2, h, w, 3];
      const gShape = [2, Math.ceil(h / stride), Math.ceil(w / stride), 2];
      const I = rng.normalArray(iShape.reduce((a, b) => a * b));
      const G = rng.normalArray(gShape.reduce((a, b) => a * b));
      assert.deepEqual(inferStride(iShape, gShape), [stride, stride]);
      const ref = loopSums(I, iShape, G, gShape, 3, stride);
      const input = tf.tensor4d(I, iShape as [number, number, number, number]);
      const grad = tf.tensor4d(G, gShape as [number, number, number, number]);
      const { sum, absSum } = summandSums(input, grad, [3, 3], stride);
      assert.deepEqual(sum.shape, [3, 3, 3, 2]);
      const s = sum.dataSync();
      const a = absSum.dataSync();
      for (let j = 0; j < ref.sum.length; j++) {
        assert.ok(Math.abs(s[j] - ref.sum[j]) < 1e-4, `Σd[${j}]: ${s[j]} vs ${ref.sum[j]}`);
        assert.ok(Math.abs(a[j] - ref.absSum[j]) < 1e-4, `Σ|d|[${j}]: ${a[j]} vs ${ref.absSum[j]}`);
      }
      tf.dispose([input, grad, sum, absSum]);
    });
  }
});
