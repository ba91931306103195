import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../../lib/src/backend';
import { registerWasmTrainingKernels } from '../../lib/src/backend/wasm-kernels';
import { Rng } from '../../lib/src/util/rng';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase { n: number; h: number; w: number; c: number; o: number; f: [number, number]; s: number; pad: Pad }

/** Runs f on one backend and reads its result back, so backends can be compared. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor): Promise<{ shape: number[]; data: Float32Array }> {
  await tf.setBackend(backend);
  const t = tf.tidy(f);
  const data = (await t.data()) as Float32Array;
  const shape = t.shape;
  t.dispose();
  return { shape, data };
}

/**
 * |a − b| ≤ tol · max|b|: relative to the largest entry rather than to each
 * one, because entries that are sums of many products of either sign can be
 * near zero, where float32 rounding alone exceeds any per-entry tolerance.
 */
function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol * Math.max(scale, 1e-12))) {
      assert.fail(`${what}: entry ${i} is ${actual[i]}, reference ${expected[i]} (scale ${scale})`);
    }
  }
}

function wasmBackend(): { numDataIds(): number } {
  return tf.findBackend('wasm') as unknown as { numDataIds(): number };
}

const cases: ConvCase[] = [
  { n: 1, h: 5, w: 5, c: 1, o: 1, f: [3, 3], s: 1, pad: 'same' },
  { n: 2, h: 7, w: 5, c: 3, o: 4, f: [3, 3], s: 1, pad: 'same' },
  { n: 2, h: 7, w: 5, c: 3, o: 4, f: [3, 3], s: 2, pad: 'same' },
  { n: 3, h: 9, w: 9, c: 2, o: 5, f: [3, 3], s: 2, pad: 'valid' },
  { n: 1, h: 9, w: 9, c: 4, o: 3, f: [3, 3], s: 1, pad: 'valid' },
  { n: 2, h: 8, w: 8, c: 16, o: 8, f: [3, 3], s: 2, pad: 'same' },
  { n: 2, h: 6, w: 7, c: 3, o: 2, f: [1, 1], s: 2, pad: 'same' },
  { n: 2, h: 7, w: 6, c: 2, o: 3, f: [5, 3], s: 3, pad: 'same' },
  { n: 2, h: 7, w: 5, c: 2, o: 3, f: [3, 3], s: 1, pad: 1 },
  { n: 1, h: 6, w: 5, c: 2, o: 2, f: [3, 2], s: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
];

function label(k: ConvCase): string {
  return `N${k.n} ${k.h}x${k.w}x${k.c}→${k.o} f${k.f.join('x')} s${k.s} pad ${JSON.stringify(k.pad)}`;
}

describe('wasm Conv2DBackpropFilter', () => {
  before(async () => {
    registerWasmTrainingKernels();
    // Twice: a notebook may reload the module; the second call must not throw.
    registerWasmTrainingKernels();
    assert.ok(await tf.setBackend('wasm'));
    await tf.ready();
  });

  for (const k of cases) {
    it(`equals the cpu backend's kernel: ${label(k)}`, async () => {
      const rng = new Rng(k.n * 1000 + k.h * 100 + k.w * 10 + k.c);
      const xv = rng.normalArray(k.n * k.h * k.w * k.c);
      const filterShape: [number, number, number, number] = [k.f[0], k.f[1], k.c, k.o];
      const outShape = (await on('cpu', () => tf.conv2d(tf.zeros([k.n, k.h, k.w, k.c]) as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, k.s, k.pad))).shape;
      const dyv = rng.normalArray(outShape.reduce((a, b) => a * b, 1));
      const run = () => {
        const x = tf.tensor4d(xv, [k.n, k.h, k.w, k.c]);
        const dy = tf.tensor4d(dyv, outShape as [number, number, number, number]);
        // The kernel itself (tfjs does not export its op), as conv2d's gradient calls it.
        const attrs = { strides: [k.s, k.s], pad: k.pad, dataFormat: 'NHWC', filterShape } as unknown as tf.NamedAttrMap;
        return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs) as tf.Tensor;
      };
      const ref = await on('cpu', run);
      const idsBefore = wasmBackend().numDataIds();
      const got = await on('wasm', run);
      // Every intermediate (transposed x, im2col matrix, reshaped dy) freed.
      assert.equal(wasmBackend().numDataIds(), idsBefore);
      assert.deepEqual(got.shape, filterShape);
      assertClose(got.data, ref.data, 1e-4, label(k));
    });
  }

  it('matches cpu through autodiff: d/dw Σ conv2d(x, w) · r', async () => {
    for (const [s, pad] of [[1, 'same'], [2, 'same'], [2, 'valid']] as const) {
      const rng = new Rng(7 + s);
      const xv = rng.normalArray(2 * 9 * 7 * 3);
      const wv = rng.normalArray(3 * 3 * 3 * 4);
      const outShape = (await on('cpu', () => tf.conv2d(tf.zeros([2, 9, 7, 3]) as tf.Tensor4D, tf.zeros([3, 3, 3, 4]) as tf.Tensor4D, s, pad))).shape;
      const rv = rng.normalArray(outShape.reduce((a, b) => a * b, 1));
      const run = () => {
        const x = tf.tensor4d(xv, [2, 9, 7, 3]);
        const r = tf.tensor(rv, outShape);
        const g = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, s, pad), r)));
        return g(tf.tensor4d(wv, [3, 3, 3, 4]));
      };
      const ref = await on('cpu', run);
      const got = await on('wasm', run);
      assertClose(got.data, ref.data, 1e-4, `grad s${s} ${pad}`);
    }
  });

  it('refuses dilations other than 1 and layouts other than NHWC, saying why', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 3]);
    const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };
    assert.throws(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, dilations: [2, 2] }), /dilations \[2,2\] are not supported/);
    assert.throws(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, dataFormat: 'NCHW' }), /dataFormat NCHW is not supported/);
    tf.dispose([x, dy]);
  });
});

describe('StridedSlice gradient', () => {
  before(() => registerWasmTrainingKernels());

  /** Gradient of Σ stridedSlice(x, …) · r, on each backend, against the positions the slice reads. */
  async function check(shape: number[], slice: (x: tf.Tensor) => tf.Tensor, expected: (r: Float32Array) => Float32Array): Promise<void> {
    const size = shape.reduce((a, b) => a * b, 1);
    const xv = new Rng(3).normalArray(size);
    for (const backend of ['cpu', 'wasm'] as const) {
      await tf.setBackend(backend);
      const outShape = tf.tidy(() => slice(tf.tensor(xv, shape)).shape);
      const rv = new Rng(4).normalArray(outShape.reduce((a, b) => a * b, 1));
      const got = await on(backend, () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(slice(x), tf.tensor(rv, outShape))))(tf.tensor(xv, shape)));
      assert.deepEqual(got.shape, shape);
      assert.deepEqual(Array.from(got.data), Array.from(expected(rv)), backend);
    }
  }

  it('scatters back x[:, ::2, ::2, :] (the ResNet option-A shortcut)', async () => {
    const [n, h, w, c] = [2, 5, 4, 3];
    await check([n, h, w, c], (x) => tf.stridedSlice(x, [0, 0, 0, 0], [n, h, w, c], [1, 2, 2, 1]), (r) => {
      const g = new Float32Array(n * h * w * c);
      let k = 0;
      for (let i = 0; i < n; i++) for (let y = 0; y < h; y += 2) for (let z = 0; z < w; z += 2) for (let j = 0; j < c; j++) g[((i * h + y) * w + z) * c + j] = r[k++];
      return g;
    });
  });

  it('handles negative strides, masks and shrunk axes', async () => {
    // x[8:1:-3] reads 8, 5, 2.
    await check([10], (x) => tf.stridedSlice(x, [8], [1], [-3]), (r) => {
      const g = new Float32Array(10);
      [8, 5, 2].forEach((p, i) => (g[p] = r[i]));
      return g;
    });
    // x[1, 1:] on a 3×5 matrix: row 1 (shrunk away), columns 1… (end masked).
    // (Not with a stride ≠ 1 as well: tfjs 4.22's forward stridedSlice gets
    // shrunk axes plus strides wrong on cpu and wasm alike.)
    await check([3, 5], (x) => tf.stridedSlice(x, [1, 1], [2, 0], [1, 1], 0, 2, 0, 0, 1), (r) => {
      const g = new Float32Array(15);
      [6, 7, 8, 9].forEach((p, i) => (g[p] = r[i]));
      return g;
    });
    // x[::2, 1::2]: rows 0, 2 and columns 1, 3.
    await check([3, 5], (x) => tf.stridedSlice(x, [0, 1], [3, 5], [2, 2]), (r) => {
      const g = new Float32Array(15);
      [1, 3, 11, 13].forEach((p, i) => (g[p] = r[i]));
      return g;
    });
  });
});

describe('a training step on wasm', () => {
  it('runs a tiny conv net with BN, lowers the loss on a fixed batch, and leaks nothing', async () => {
    const info = await initBackend({ backend: 'wasm', quiet: true });
    assert.equal(info.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');

    const rng = new Rng(42);
    const v = (shape: number[], std: number) => tf.variable(tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), std), shape));
    const params = {
      w1: v([3, 3, 3, 4], 0.3),
      w2: v([3, 3, 4, 8], 0.2),
      gamma: tf.variable(tf.ones([8])),
      beta: tf.variable(tf.zeros([8])),
      wd: v([8, 5], 0.3),
      bd: tf.variable(tf.zeros([5])),
    };
    const vars = Object.values(params);
    const velocity = vars.map((p) => tf.variable(tf.zerosLike(p), false));
    const x = tf.tensor4d(rng.normalArray(4 * 8 * 8 * 3), [4, 8, 8, 3]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 5);

    const loss = (): tf.Scalar => {
      const h1 = tf.relu(tf.conv2d(x, params.w1 as tf.Tensor4D, 1, 'same'));
      // Option-A shortcut: x[:, ::2, ::2, :], channels zero-padded 4 → 8.
      const sc = tf.pad(tf.stridedSlice(h1, [0, 0, 0, 0], [4, 8, 8, 4], [1, 2, 2, 1]), [[0, 0], [0, 0], [0, 0], [2, 2]]);
      const z = tf.conv2d(h1, params.w2 as tf.Tensor4D, 2, 'same');
      const { mean, variance } = tf.moments(z, [0, 1, 2]);
      const bn = tf.batchNorm(z, mean, variance, params.beta, params.gamma, 1e-5);
      const h2 = tf.relu(tf.add(bn, sc));
      const pooled = tf.mean(h2, [1, 2]);
      const logits = tf.add(tf.matMul(pooled, params.wd), params.bd);
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    };
    const step = (lr: number, momentum: number): number => {
      const { value, grads } = tf.variableGrads(loss, vars);
      tf.tidy(() => {
        vars.forEach((p, i) => {
          const vel = velocity[i];
          vel.assign(tf.add(tf.mul(vel, momentum), grads[p.name]));
          p.assign(tf.sub(p, tf.mul(vel, lr)));
        });
      });
      const l = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return l;
    };

    const losses = [step(0.1, 0.9)];
    const tensors = tf.memory().numTensors;
    const dataIds = wasmBackend().numDataIds();
    for (let i = 0; i < 5; i++) {
      losses.push(step(0.1, 0.9));
      assert.equal(tf.memory().numTensors, tensors, `tensors leaked in step ${i + 2}`);
      assert.equal(wasmBackend().numDataIds(), dataIds, `wasm buffers leaked in step ${i + 2}`);
    }
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    assert.ok(losses[losses.length - 1] < losses[0] - 0.05, `loss did not decrease: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
    tf.dispose([...vars, ...velocity, x, y]);
  });
});
