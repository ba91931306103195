/**
 * Asynchronous execution (withAsyncOps, on bnlab's patched tfjs-node
 * binding): the same numbers as synchronous execution, the shapes tfjs needs
 * without waiting, errors reported and the backend usable afterwards, and no
 * leaked tensors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { resnet } from '../../lib/src/models';
import { attr, asyncOpsAvailable, nativeBackend, setAsyncOps, withAsyncOps } from '../../lib/src/ops/native';
import { SgdMomentum } from '../../lib/src/train/optimizer';
import { evaluate, trainStep } from '../../lib/src/train/loop';
import { loadFashionMnist, subset } from '../../lib/src/data';
import { Rng } from '../../lib/src/util/rng';
import { liveTensors } from './helpers';

before(async () => {
  await initBackend({ backend: 'tensorflow', quiet: true });
});

after(() => setAsyncOps(true));

describe('withAsyncOps', () => {
  it('is available on the native backend (the set-up patches and builds the binding)', () => {
    assert.ok(asyncOpsAvailable(), 'binding.bnlabSetAsync exists');
  });

  it('queues ops: issuing ten convolutions returns long before they finish', () => {
    const x = tf.randomNormal([64, 32, 32, 16], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 16, 16], 0, 0.1, 'float32', 2) as tf.Tensor4D;
    x.dataSync();
    const chain = () => {
      let y = x;
      for (let i = 0; i < 10; i++) {
        const z = tf.conv2d(y, w, 1, 'same');
        if (y !== x) y.dispose();
        y = z;
      }
      return y;
    };
    // The first convolution of a process creates oneDNN's primitives, which
    // happens while the op is issued: run the chain once before timing it.
    chain().dispose();
    // Compared with the same process's own total, not with a clock figure:
    // the ten convolutions must still have been running when chain()
    // returned. The best of three tries, since another process on the
    // machine can stall the issuing thread; a binding that ran each op to
    // completion would issue for about the whole time in every try.
    let y: tf.Tensor = x;
    let best = { issued: Infinity, total: 1 };
    for (let attempt = 0; attempt < 3 && !(best.issued < best.total / 2); attempt++) {
      if (y !== x) y.dispose();
      let issued = 0;
      let total = 0;
      y = withAsyncOps(() => {
        const t0 = performance.now();
        const out = chain();
        issued = performance.now() - t0;
        out.dataSync(); // waits for the chain
        total = performance.now() - t0;
        return out;
      });
      if (issued / total < best.issued / best.total) best = { issued, total };
    }
    assert.ok(best.issued < best.total / 2, `issuing took ${best.issued.toFixed(1)} ms of ${best.total.toFixed(1)} ms`);
    const sync = chain();
    assert.deepEqual(Array.from(y.dataSync()), Array.from(sync.dataSync()));
    tf.dispose([x, w, y, sync]);
  });

  it('gives tfjs the right shapes of ops whose shapes depend on small int inputs (pad, slice, reshape, reductions, strided convs)', () => {
    const x = tf.randomNormal([3, 7, 5, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const k = tf.randomNormal([3, 3, 4, 6], 0, 1, 'float32', 4) as tf.Tensor4D;
    const f = () => {
      const a = tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]]);
      const b = tf.slice(a, [1, 2, 0, 1], [2, 5, 4, 3]);
      const c = tf.reshape(b, [2, 20, 3]);
      const d = tf.sum(c, 1);
      const e = tf.conv2d(x, k, 2, 'same');
      const g = tf.conv2dTranspose(e, k, [3, 7, 5, 4], 2, 'same');
      return [a, b, c, d, e, g];
    };
    const queued = withAsyncOps(() => f());
    const plain = f();
    queued.forEach((t, i) => {
      assert.deepEqual(t.shape, plain[i].shape, `output ${i}: shape`);
      assert.deepEqual(Array.from(t.dataSync()), Array.from(plain[i].dataSync()), `output ${i}: values`);
    });
    tf.dispose([x, k, ...queued, ...plain]);
  });

  it('trains exactly as synchronous execution: same losses and weights over 3 steps, BN and no BN', () => {
    for (const norm of ['batch', 'none'] as const) {
      const run = (asyncOn: boolean) => {
        setAsyncOps(asyncOn);
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
        setAsyncOps(true);
        return { losses, weights };
      };
      const a = run(true);
      const b = run(false);
      assert.deepEqual(a.losses, b.losses, `${norm}: losses`);
      assert.deepEqual(a.weights, b.weights, `${norm}: weights`);
    }
  });

  it('evaluates exactly as synchronous execution: the same test loss and accuracy', async () => {
    const rng = new Rng(0);
    const test = subset(loadFashionMnist({ split: 'test' }), 300, rng);
    const m = resnet({ depth: 8, norm: 'batch', inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
    const queued = await evaluate(m, test, 128);
    setAsyncOps(false);
    const plain = await evaluate(m, test, 128);
    setAsyncOps(true);
    assert.deepEqual(queued, plain);
    m.dispose();
  });

  it('reports an op that fails in the queue, and leaves the backend synchronous and working', () => {
    const be = nativeBackend();
    const nan = tf.tensor1d([1, NaN, 3]);
    const checkNumerics = (t: tf.Tensor) =>
      be.executeSingleOutput('CheckNumerics', [attr.type(be.binding, 'T'), attr.str(be.binding, 'message', 'bnlab test')], [t]);
    // CheckNumerics passes shape inference and fails only when it runs.
    assert.throws(
      () => withAsyncOps(() => void checkNumerics(nan).dispose()),
      /queued in async mode failed.*bnlab test/s,
    );
    // Synchronous again: the same failure is reported at the op itself.
    assert.throws(() => checkNumerics(nan), /bnlab test/);
    const ok = tf.tidy(() => tf.add(tf.scalar(2), tf.scalar(3)).dataSync()[0]);
    assert.equal(ok, 5);
    // And a new async section works.
    assert.equal(withAsyncOps(() => tf.tidy(() => tf.mul(tf.scalar(4), tf.scalar(5)).dataSync()[0])), 20);
    nan.dispose();
  });

  it('rethrows an error thrown inside f, and the backend stays usable', () => {
    assert.throws(() => withAsyncOps(() => {
      tf.tidy(() => tf.add(tf.ones([2]), tf.ones([2])));
      throw new Error('thrown by f');
    }), /thrown by f/);
    assert.equal(tf.tidy(() => tf.sum(tf.ones([3])).dataSync()[0]), 3);
  });

  it('survives tensors made from JS values being disposed while queued ops still use them', () => {
    // The queue drops its last reference to such an input on TF's own
    // thread. With tfjs-node's own binding the tensor is a view of V8 memory
    // released through N-API, and V8 aborted the process ("Fatal error in ,
    // line 0"), in about one notebook run in three. The patch copies the
    // values instead. This stress does not bring the crash back reliably
    // with the old binding; the notebook tests are the stronger check.
    const w = tf.randomNormal([3, 3, 8, 8], 0, 0.1, 'float32', 6) as tf.Tensor4D;
    let total = 0;
    for (let round = 0; round < 5; round++) {
      total += withAsyncOps(() => {
        const outs: tf.Tensor[] = [];
        for (let i = 0; i < 40; i++) {
          const x = tf.tensor4d(new Float32Array(16 * 16 * 16 * 8).fill(i), [16, 16, 16, 8]);
          outs.push(tf.tidy(() => tf.sum(tf.conv2d(x, w, 1, 'same'))));
          x.dispose();
        }
        const s = tf.addN(outs);
        const v = s.dataSync()[0];
        tf.dispose([...outs, s]);
        return v;
      });
    }
    assert.ok(Number.isFinite(total));
    w.dispose();
  });

  it('leaks no tfjs or native tensors over repeated training steps', () => {
    const m = resnet({ depth: 8, norm: 'batch', inputShape: [8, 8, 3], numClasses: 4, seed: 3 });
    const opt = new SgdMomentum(m.trainable, { learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4 });
    const x = tf.randomNormal([4, 8, 8, 3]) as tf.Tensor4D;
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4) as tf.Tensor2D;
    const step = () => {
      const { loss, accuracy } = trainStep(m, opt, x, y, 0.05);
      tf.dispose([loss, accuracy]);
    };
    step();
    const start = liveTensors();
    for (let i = 0; i < 3; i++) {
      step();
      assert.deepEqual(liveTensors(), start, `after step ${i + 1}`);
    }
    tf.dispose([x, y]);
    opt.dispose();
    m.dispose();
  });
});
