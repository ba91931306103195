/**
 * The native fast paths (lib/src/ops/native.ts) against the plain-tfjs
 * formulas on the native backend: forward values, gradients with respect
 * to every input (under a random weighting of the output, so that every
 * output element matters differently), BN's running statistics, and tensor
 * hygiene. Shapes are small and odd so that no axis can be confused with
 * another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import * as ops from '../../lib/src/ops';
import { attr, batchNormReluAvailable, bnlabBatchNormAvailable, nativeBackend } from '../../lib/src/ops/native';
import { conv2dBiasAvailable, conv2dReluAvailable } from '../../lib/src/ops/native-conv';
import { timeNativeOps } from '../../bench/native-profile';
import { assertClose, assertTrainsTheSame, liveTensors } from './helpers';

const TOL = 1e-4;

/** Training-mode BN's two native paths: bnlab's kernel (the default) and TF's (ops.setFusions({ bnlabBatchNorm: false })). */
const BN_KERNELS = ['bnlab', 'TF'] as const;

before(async () => {
  await initBackend({ backend: 'tensorflow', quiet: true });
  assert.ok(ops.fastOpsActive(), 'the fast paths are active on the native backend');
});

after(() => ops.setFastOps(true));

let seed = 100;
const normal = (shape: number[], mean = 0, std = 1) => tf.randomNormal(shape, mean, std, 'float32', seed++);

function bnParams(c: number): ops.BatchNormParams {
  return {
    gamma: tf.variable(tf.randomUniform([c], 0.5, 1.5, 'float32', seed++)),
    beta: tf.variable(normal([c])),
    movingMean: tf.variable(normal([c], 0, 0.3), false),
    movingVariance: tf.variable(tf.randomUniform([c], 0.5, 2, 'float32', seed++), false),
  };
}

/** An independent copy, so the fast and the plain path each update their own statistics. */
function copyParams(p: ops.BatchNormParams): ops.BatchNormParams {
  return {
    gamma: tf.variable(p.gamma.clone()),
    beta: tf.variable(p.beta.clone()),
    movingMean: tf.variable(p.movingMean.clone(), false),
    movingVariance: tf.variable(p.movingVariance.clone(), false),
  };
}

function disposeParams(...ps: ops.BatchNormParams[]): void {
  for (const p of ps) tf.dispose([p.gamma, p.beta, p.movingMean, p.movingVariance]);
}

/** Σ w ⊙ f(inputs) and its gradients w.r.t. every input. */
function weightedGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], w: tf.Tensor): { value: tf.Tensor; grads: tf.Tensor[] } {
  return tf.valueAndGrads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), w)))(inputs);
}

/** Runs fast and plain on the same inputs and compares output and every gradient. */
function compare(name: string, fast: (...xs: tf.Tensor[]) => tf.Tensor, plain: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): void {
  tf.tidy(() => {
    const yFast = fast(...inputs);
    const yPlain = plain(...inputs);
    assertClose(yFast, yPlain, TOL, `${name} forward`);
    const w = normal(yPlain.shape);
    const a = weightedGrads(fast, inputs, w);
    const b = weightedGrads(plain, inputs, w);
    assertClose(a.value, b.value, TOL, `${name} weighted sum`);
    a.grads.forEach((g, i) => assertClose(g, b.grads[i], TOL, `${name} gradient w.r.t. input ${i}`));
  });
}

/** Asserts that the ReLU at the end of f's output cut part of the units, so that both sides of its gradient are tested. */
function assertReluCutsSome(y: tf.Tensor): void {
  const cut = tf.tidy(() => tf.mean(tf.cast(tf.equal(y, 0), 'float32')).dataSync()[0]);
  y.dispose();
  assert.ok(cut > 0.2 && cut < 0.8, `the ReLU cuts part of the units (${cut})`);
}

/** Runs f and the plain batchNorm on 3 batches (momentum 0.2), each with its own statistics, and compares the moving statistics. */
function assertSameRunningStats(f: (x: tf.Tensor, p: ops.BatchNormParams, opts: ops.BatchNormOptions) => tf.Tensor): void {
  const p = bnParams(7);
  const q = copyParams(p);
  for (let step = 0; step < 3; step++) {
    const x = normal([3, 5, 4, 7], step - 1, 1 + step);
    tf.dispose([f(x, p, { training: true, momentum: 0.2 }), ops.plainBatchNorm(x, q, { training: true, momentum: 0.2 })]);
    x.dispose();
  }
  assertClose(p.movingMean, q.movingMean, 1e-5, 'moving mean');
  assertClose(p.movingVariance, q.movingVariance, 1e-5, 'moving variance');
  disposeParams(p, q);
}

async function kernelsRun(f: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => f());
  return info.kernelNames;
}

for (const kernel of BN_KERNELS) {
  describe(`batchNorm, training mode (${kernel}'s kernel)`, () => {
    before(() => ops.setFusions({ bnlabBatchNorm: kernel === 'bnlab' }));
    after(() => ops.setFusions({ bnlabBatchNorm: true }));

    for (const shape of [
      [3, 5, 4, 7],
      [2, 3, 1, 5],
      [6, 5],
      [4, 3, 5],
    ]) {
      it(`matches the plain formula on [${shape}]: output and gradients w.r.t. x, γ, β`, () => {
        const c = shape[shape.length - 1];
        const p = bnParams(c);
        const q = copyParams(p);
        const x = normal(shape, 0.7, 2);
        // γ and β are passed as inputs so tf.grads differentiates them; the
        // moving statistics stay each path's own.
        const withStats = (pp: ops.BatchNormParams, f: typeof ops.batchNorm) => (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          f(xs, { ...pp, gamma: g as tf.Variable, beta: b as tf.Variable }, { training: true, updateMovingStats: false });
        compare(`batchNorm [${shape}]`, withStats(p, ops.batchNorm), withStats(q, ops.plainBatchNorm), [x, p.gamma, p.beta]);
        x.dispose();
        disposeParams(p, q);
      });
    }

    it('takes the fused kernel: no moments ops on the tape', async () => {
      const p = bnParams(3);
      const x = normal([2, 2, 2, 3]);
      const fast = await kernelsRun(() => ops.batchNorm(x, p, { training: true, updateMovingStats: false }));
      const plain = await kernelsRun(() => ops.plainBatchNorm(x, p, { training: true, updateMovingStats: false }));
      assert.ok(plain.includes('Mean'), `plain runs Mean: ${plain}`);
      assert.ok(!fast.includes('Mean') && !fast.includes('FusedBatchNorm'), `fast runs neither Mean nor tfjs's FusedBatchNorm: ${fast}`);
      x.dispose();
      disposeParams(p);
    });

    for (const momentum of [0.1, 0.35]) {
      it(`keeps the same running statistics as the plain version over 3 steps (momentum ${momentum}), for rank 4 and rank 2`, () => {
        for (const shape of [
          [3, 5, 4, 7],
          [6, 5],
        ]) {
          const c = shape[shape.length - 1];
          const p = bnParams(c);
          const q = copyParams(p);
          for (let step = 0; step < 3; step++) {
            const x = normal(shape, step - 1, 1 + step);
            tf.dispose([
              ops.batchNorm(x, p, { training: true, momentum }),
              ops.plainBatchNorm(x, q, { training: true, momentum }),
            ]);
            x.dispose();
          }
          assertClose(p.movingMean, q.movingMean, 1e-5, `moving mean [${shape}]`);
          assertClose(p.movingVariance, q.movingVariance, 1e-5, `moving variance [${shape}]`);
          disposeParams(p, q);
        }
      });
    }

    it('updates the running statistics under tf.grads too, once per forward', () => {
      const p = bnParams(4);
      const q = copyParams(p);
      const x = normal([5, 3, 2, 4], 1, 2);
      const w = normal([5, 3, 2, 4]);
      tf.tidy(() => {
        tf.grads((xs: tf.Tensor) => tf.sum(tf.mul(ops.batchNorm(xs, p, { training: true }), w)))([x]);
        ops.plainBatchNorm(x, q, { training: true });
      });
      assertClose(p.movingMean, q.movingMean, 1e-5, 'moving mean');
      assertClose(p.movingVariance, q.movingVariance, 1e-5, 'moving variance');
      tf.dispose([x, w]);
      disposeParams(p, q);
    });

    it('updateMovingStats: false leaves the running statistics bit-for-bit untouched', () => {
      for (const shape of [
        [3, 5, 4, 7],
        [6, 7],
      ]) {
        const p = bnParams(7);
        const mean0 = Array.from(p.movingMean.dataSync());
        const var0 = Array.from(p.movingVariance.dataSync());
        const x = normal(shape, 2, 3);
        const w = normal(shape);
        tf.tidy(() => {
          ops.batchNorm(x, p, { training: true, updateMovingStats: false });
          tf.grads((xs: tf.Tensor) => tf.sum(tf.mul(ops.batchNorm(xs, p, { training: true, updateMovingStats: false }), w)))([x]);
        });
        assert.deepEqual(Array.from(p.movingMean.dataSync()), mean0);
        assert.deepEqual(Array.from(p.movingVariance.dataSync()), var0);
        tf.dispose([x, w]);
        disposeParams(p);
      }
    });

    it('handles a batch of one value per channel (N·H·W = 1) like the plain version', () => {
      const p = bnParams(3);
      const q = copyParams(p);
      const x = normal([1, 1, 1, 3]);
      tf.tidy(() => assertClose(ops.batchNorm(x, p, { training: true }), ops.plainBatchNorm(x, q, { training: true }), TOL, 'output'));
      assertClose(p.movingVariance, q.movingVariance, 1e-5, 'moving variance');
      x.dispose();
      disposeParams(p, q);
    });
  });
}

describe('batchNorm, inference mode', () => {
  for (const shape of [
    [3, 5, 4, 7],
    [6, 7],
  ]) {
    it(`normalises [${shape}] with the moving statistics and leaves them alone`, () => {
      const p = bnParams(7);
      const x = normal(shape, 1, 2);
      const mean0 = Array.from(p.movingMean.dataSync());
      tf.tidy(() => {
        const y = ops.batchNorm(x, p, { training: false });
        const byHand = tf.add(tf.mul(tf.div(tf.sub(x, p.movingMean), tf.sqrt(tf.add(p.movingVariance, 1e-5))), p.gamma), p.beta);
        assertClose(y, byHand, TOL, 'inference output');
      });
      assert.deepEqual(Array.from(p.movingMean.dataSync()), mean0);
      x.dispose();
      disposeParams(p);
    });
  }
});

describe('relu', () => {
  for (const shape of [
    [3, 5, 4, 7],
    [5, 3],
    [7],
  ]) {
    it(`matches tf.relu on [${shape}], forward and gradient`, () => {
      const x = normal(shape);
      compare(`relu [${shape}]`, ops.relu, ops.plainRelu, [x]);
      x.dispose();
    });
  }
});

describe('biasAdd', () => {
  for (const shape of [
    [3, 5, 4, 7],
    [5, 3],
    [2, 3, 5],
  ]) {
    it(`matches x + b on [${shape}], gradients w.r.t. x and b`, () => {
      const x = normal(shape);
      const b = normal([shape[shape.length - 1]]);
      compare(`biasAdd [${shape}]`, ops.biasAdd, ops.plainBiasAdd, [x, b]);
      tf.dispose([x, b]);
    });
  }
});

describe('conv2d', () => {
  it("runs TF's oneDNN conv-with-bias kernel here (the wheel's TF has oneDNN)", () => {
    assert.ok(conv2dBiasAvailable());
  });

  for (const [xShape, k, cout, stride] of [
    [[3, 7, 5, 4], 3, 6, 1],
    [[2, 7, 5, 4], 3, 5, 2],
    [[2, 8, 6, 3], 3, 4, 2],
    [[3, 5, 5, 2], 1, 3, 1],
  ] as [number[], number, number, number][]) {
    it(`matches conv2d then x + b on [${xShape}], ${k}×${k}×${cout}, stride ${stride}: output and gradients w.r.t. x, kernel and bias`, () => {
      const x = normal(xShape);
      const w = normal([k, k, xShape[3], cout], 0, 0.5);
      const b = normal([cout]);
      compare(
        `conv2d [${xShape}] stride ${stride}`,
        (xs, ws, bs) => ops.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, bs as tf.Tensor1D, stride),
        (xs, ws, bs) => tf.add(tf.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, stride, 'same'), bs),
        [x, w, b],
      );
      tf.dispose([x, w, b]);
    });
  }

  for (const [xShape, cout, stride] of [
    [[2, 5, 5, 3], 4, 2],
    [[3, 7, 5, 4], 6, 1],
  ] as [number[], number, number][]) {
    it(`without a bias matches tf.conv2d on [${xShape}], stride ${stride}: output and gradients w.r.t. x and kernel`, () => {
      const x = normal(xShape);
      const w = normal([3, 3, xShape[3], cout], 0, 0.5);
      compare(
        `conv2d without bias [${xShape}] stride ${stride}`,
        (xs, ws) => ops.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, null, stride),
        (xs, ws) => tf.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, stride, 'same'),
        [x, w],
      );
      tf.dispose([x, w]);
    });
  }

  it("computes only the gradients asked for: none for an input that needs none (the network's input)", () => {
    const x = normal([2, 6, 6, 3]) as tf.Tensor4D;
    const w = normal([3, 3, 3, 4]) as tf.Tensor4D;
    for (const bias of [null, normal([4]) as tf.Tensor1D]) {
      const calls = (f: () => tf.Tensor | tf.Tensor[]) => {
        const timed = timeNativeOps(nativeBackend(), () => tf.dispose(f()));
        return (kernel: string) => timed.find((o) => o.kernel === kernel)?.calls ?? 0;
      };
      const loss = (xs: tf.Tensor, ws: tf.Tensor) => tf.sum(ops.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, bias, 1));
      const onlyW = calls(() => tf.grad((ws: tf.Tensor) => loss(x, ws))(w));
      assert.equal(onlyW('Conv2DBackpropInput'), 0, `${bias ? 'with' : 'without'} bias: no input gradient`);
      assert.equal(onlyW('Conv2DBackpropFilter'), 1);
      const both = calls(() => tf.grads((xs: tf.Tensor, ws: tf.Tensor) => loss(xs, ws))([x, w]));
      assert.equal(both('Conv2DBackpropInput'), 1, `${bias ? 'with' : 'without'} bias: the input gradient when asked for`);
      bias?.dispose();
    }
    tf.dispose([x, w]);
  });
});

describe('conv2dRelu', () => {
  it("runs TF's fused oneDNN conv kernel here (the binding passes its list attributes)", () => {
    assert.ok(conv2dReluAvailable());
  });

  const plain = (stride: number) => (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor, rs?: tf.Tensor) => {
    const y = tf.add(tf.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, stride, 'same'), bs);
    return tf.relu(rs ? tf.add(y, rs) : y);
  };

  for (const [xShape, cout, stride] of [
    [[3, 7, 5, 4], 6, 1],
    [[2, 7, 5, 4], 5, 2],
  ] as [number[], number, number][]) {
    it(`matches relu(conv2d + b) on [${xShape}], stride ${stride}: output and gradients w.r.t. x, kernel and bias`, () => {
      const x = normal(xShape);
      const w = normal([3, 3, xShape[3], cout], 0, 0.5);
      const b = normal([cout]);
      const fast = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => ops.conv2dRelu(xs as tf.Tensor4D, ws as tf.Tensor4D, bs as tf.Tensor1D, stride);
      compare(`conv2dRelu [${xShape}] stride ${stride}`, fast, plain(stride), [x, w, b]);
      assertReluCutsSome(fast(x, w, b));
      tf.dispose([x, w, b]);
    });

    it(`with a residual matches relu(conv2d + b + r) on [${xShape}], stride ${stride}: output and gradients w.r.t. x, kernel, bias and r`, () => {
      const x = normal(xShape);
      const w = normal([3, 3, xShape[3], cout], 0, 0.5);
      const b = normal([cout]);
      const r = normal([xShape[0], Math.ceil(xShape[1] / stride), Math.ceil(xShape[2] / stride), cout]);
      compare(
        `conv2dRelu with residual [${xShape}] stride ${stride}`,
        (xs, ws, bs, rs) => ops.conv2dRelu(xs as tf.Tensor4D, ws as tf.Tensor4D, bs as tf.Tensor1D, stride, rs as tf.Tensor4D),
        plain(stride),
        [x, w, b, r],
      );
      tf.dispose([x, w, b, r]);
    });
  }

  it('gives the unfused ops\' output to the last bit, and runs one native op forward instead of three', () => {
    const x = normal([4, 9, 9, 8]) as tf.Tensor4D;
    const w = normal([3, 3, 8, 8], 0, 0.3) as tf.Tensor4D;
    const b = normal([8]) as tf.Tensor1D;
    const r = normal([4, 9, 9, 8]) as tf.Tensor4D;
    const forward = (fused: boolean) => {
      ops.setFusions({ convBiasRelu: fused });
      let out: Float32Array = new Float32Array();
      const timed = timeNativeOps(nativeBackend(), () => {
        const y = ops.conv2dRelu(x, w, b, 1, r);
        out = y.dataSync() as Float32Array;
        y.dispose();
      });
      ops.setFusions({ convBiasRelu: true });
      // TF ops only (names like Conv2D, _MklNative…), not binding calls such as deleteTensor.
      const tfOps = timed.filter((o) => /^[A-Z_]/.test(o.kernel));
      return { out, calls: tfOps.reduce((n, o) => n + o.calls, 0), names: tfOps.map((o) => o.kernel).sort() };
    };
    const fused = forward(true);
    const separate = forward(false);
    assert.deepEqual(fused.out, separate.out);
    assert.deepEqual(fused.names, ['_MklNativeFusedConv2D']);
    assert.equal(fused.calls, 1);
    assert.equal(separate.calls, 3, `conv with bias, add, relu: ${separate.names}`);
    tf.dispose([x, w, b, r]);
  });

  it('trains a ResNet without BN to the same losses and weights, to the last bit, as the unfused ops', () => {
    assertTrainsTheSame((on) => ops.setFusions({ convBiasRelu: on }));
  });
});

for (const kernel of BN_KERNELS) {
  describe(`batchNormRelu, training mode (${kernel}'s kernel)`, () => {
    before(() => ops.setFusions({ bnlabBatchNorm: kernel === 'bnlab' }));
    after(() => ops.setFusions({ bnlabBatchNorm: true }));

    it("runs TF's oneDNN BN-with-ReLU kernel here", () => {
      assert.ok(batchNormReluAvailable());
    });

    for (const shape of [
      [3, 5, 4, 7],
      [2, 3, 1, 5],
    ]) {
      it(`matches relu(batchNorm) on [${shape}]: output and gradients w.r.t. x, γ, β`, () => {
        const c = shape[shape.length - 1];
        const p = bnParams(c);
        const q = copyParams(p);
        // β shifted so that about half the units are cut by the ReLU.
        const x = normal(shape, 0.3, 2);
        const fast = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          ops.batchNormRelu(xs, { ...p, gamma: g as tf.Variable, beta: b as tf.Variable }, { training: true, updateMovingStats: false });
        const plain = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.relu(ops.plainBatchNorm(xs, { ...q, gamma: g as tf.Variable, beta: b as tf.Variable }, { training: true, updateMovingStats: false }));
        compare(`batchNormRelu [${shape}]`, fast, plain, [x, p.gamma, p.beta]);
        assertReluCutsSome(fast(x, p.gamma, p.beta));
        x.dispose();
        disposeParams(p, q);
      });
    }

    it('keeps the same running statistics as the plain version over 3 steps', () => {
      assertSameRunningStats(ops.batchNormRelu);
    });

    it('in inference mode is relu of the moving-statistics batch norm', () => {
      const p = bnParams(5);
      const x = normal([2, 3, 3, 5]);
      tf.tidy(() => assertClose(ops.batchNormRelu(x, p, { training: false }), tf.relu(ops.plainBatchNorm(x, p, { training: false })), TOL, 'inference'));
      x.dispose();
      disposeParams(p);
    });
  });
}

describe("batchNormAddRelu, training mode (bnlab's kernel)", () => {
  it("runs bnlab's batch-norm kernel here (built into the patched binding)", () => {
    assert.ok(bnlabBatchNormAvailable());
  });

  for (const shape of [
    [3, 5, 4, 7],
    [2, 3, 1, 5],
  ]) {
    it(`matches relu(batchNorm(x) + r) on [${shape}]: output and gradients w.r.t. x, γ, β and r`, () => {
      const c = shape[shape.length - 1];
      const p = bnParams(c);
      const q = copyParams(p);
      const x = normal(shape, 0.3, 2);
      const r = normal(shape);
      const opts = { training: true, updateMovingStats: false };
      const fast = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor, rs: tf.Tensor) =>
        ops.batchNormAddRelu(xs, rs, { ...p, gamma: g as tf.Variable, beta: b as tf.Variable }, opts);
      const plain = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor, rs: tf.Tensor) =>
        tf.relu(tf.add(ops.plainBatchNorm(xs, { ...q, gamma: g as tf.Variable, beta: b as tf.Variable }, opts), rs));
      compare(`batchNormAddRelu [${shape}]`, fast, plain, [x, p.gamma, p.beta, r]);
      assertReluCutsSome(fast(x, p.gamma, p.beta, r));
      tf.dispose([x, r]);
      disposeParams(p, q);
    });
  }

  it('keeps the same running statistics as the plain version over 3 steps', () => {
    const r = normal([3, 5, 4, 7]);
    assertSameRunningStats((x, p, opts) => ops.batchNormAddRelu(x, r, p, opts));
    r.dispose();
  });

  it('runs one native op forward where TF\'s kernels take three', () => {
    const p = bnParams(8);
    const x = normal([4, 6, 6, 8]);
    const r = normal([4, 6, 6, 8]);
    const forward = (bnlab: boolean) => {
      ops.setFusions({ bnlabBatchNorm: bnlab });
      const timed = timeNativeOps(nativeBackend(), () => ops.batchNormAddRelu(x, r, p, { training: true, updateMovingStats: false }).dispose());
      ops.setFusions({ bnlabBatchNorm: true });
      return timed.filter((o) => /^[A-Z_]/.test(o.kernel)).map((o) => o.kernel).sort();
    };
    assert.deepEqual(forward(true), ['BnlabBatchNormTrain']);
    assert.deepEqual(forward(false), ['Add', 'FusedBatchNormV3', 'Relu']);
    tf.dispose([x, r]);
    disposeParams(p);
  });

  it('keeps a NaN a NaN (so that a diverging run is seen to diverge)', () => {
    const p = bnParams(3);
    const x = tf.tensor4d([1, 2, 3, 4, NaN, 6, 7, 8, 9, 10, 11, 12], [4, 1, 1, 3]);
    const y = ops.batchNormRelu(x, p, { training: true, updateMovingStats: false });
    const v = y.dataSync();
    assert.ok([1, 4, 7, 10].every((i) => Number.isNaN(v[i])), `channel 1 is NaN throughout: ${Array.from(v)}`);
    assert.ok([0, 2, 3, 5].every((i) => Number.isFinite(v[i])), 'the other channels are not');
    tf.dispose([x, y]);
    disposeParams(p);
  });

  it('rejects a residual of another shape with a clear error', () => {
    const be = nativeBackend();
    const b = be.binding as unknown as Parameters<typeof attr.float>[0];
    const attrs = [attr.float(b, 'epsilon', 1e-5), attr.float(b, 'exponential_avg_factor', 1), attr.bool(b, 'relu', true), attr.int(b, 'num_side', 1)];
    const [x, r, g, o, m, v] = [normal([2, 3, 3, 4]), normal([2, 3, 3, 5]), tf.ones([4]), tf.zeros([4]), tf.zeros([4]), tf.ones([4])];
    assert.throws(() => be.executeMultipleOutputs('BnlabBatchNormTrain', attrs, [x, g, o, m, v, r], 5), /residual input must have x's shape/);
    tf.dispose([x, r, g, o, m, v]);
  });
});

describe('globalAvgPool', () => {
  for (const shape of [
    [3, 5, 4, 7],
    [2, 1, 1, 3],
    [1, 3, 6, 2],
  ]) {
    it(`matches the mean over H and W on [${shape}], forward and gradient`, () => {
      const x = normal(shape);
      compare(`globalAvgPool [${shape}]`, (t) => ops.globalAvgPool(t as tf.Tensor4D), (t) => ops.plainGlobalAvgPool(t as tf.Tensor4D), [x]);
      x.dispose();
    });
  }
});

describe('tensor hygiene', () => {
  it('repeated forward and backward passes leave the tfjs and native tensor counts flat', () => {
    const p = bnParams(5);
    const x = normal([3, 4, 2, 5]);
    const bias = normal([5]);
    const w = normal([3, 5]);
    const k = normal([3, 3, 5, 5]);
    const net = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
      const pp = { ...p, gamma: g as tf.Variable, beta: b as tf.Variable };
      const h0 = ops.relu(ops.biasAdd(ops.batchNorm(xs, pp, { training: true }), c));
      const h1 = ops.conv2dRelu(h0 as tf.Tensor4D, k as tf.Tensor4D, c as tf.Tensor1D, 1, h0 as tf.Tensor4D);
      const h2 = ops.batchNormRelu(ops.conv2d(h1, k as tf.Tensor4D, c as tf.Tensor1D, 1), pp, { training: true });
      const h = ops.batchNormAddRelu(h2, h1, pp, { training: true });
      const z = ops.batchNorm(tf.reshape(ops.globalAvgPool(h as tf.Tensor4D), [3, 5]), pp, { training: true, updateMovingStats: false });
      return tf.sum(tf.mul(z, w));
    };
    const once = () => {
      const { value, grads } = tf.valueAndGrads(net)([x, p.gamma, p.beta, bias]);
      tf.dispose([value, ...grads]);
      // Forward only, with no tape: customGrad must save nothing then. (The
      // tidy frees net's intermediates, which are ordinary tracked tensors;
      // kept tensors, the kind a leaking custom gradient leaves, survive it.)
      tf.tidy(() => {
        net(x, p.gamma, p.beta, bias);
      });
      ops.batchNorm(x, p, { training: false }).dispose();
    };
    once();
    const start = liveTensors();
    for (let i = 0; i < 3; i++) {
      once();
      assert.deepEqual(liveTensors(), start, `after pass ${i + 1}`);
    }
    tf.dispose([x, bias, w, k]);
    disposeParams(p);
  });
});

describe('setFastOps(false)', () => {
  it('routes every op to the plain formula', async () => {
    const x = normal([2, 2, 2, 3]);
    ops.setFastOps(false);
    try {
      assert.equal(ops.fastOpsActive(), false);
      const k = await kernelsRun(() => ops.globalAvgPool(x as tf.Tensor4D));
      assert.ok(k.includes('Mean'), `plain pooling runs Mean: ${k}`);
    } finally {
      ops.setFastOps(true);
    }
    x.dispose();
  });
});
