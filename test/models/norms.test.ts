/**
 * The norms beyond BN in the one model builder (layer and group norm, RQ6)
 * and Fixup's initialisation: what each model holds, that layer and group
 * norm use no batch statistics, and that a Fixup network starts as the
 * identity per block with a zero classifier.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { mlp, NORM_LABEL, NORMALISER_LABEL, normGroups, plainCnn, resnet } from '../../lib/src/models';
import { setClosedFormGroupNorm } from '../../lib/src/ops';
import { crossEntropy } from '../../lib/src/models/loss';
import { assertClose } from '../ops/helpers';

before(async () => {
  await initBackend({ quiet: true });
});

const inputShape: [number, number, number] = [8, 8, 3];
const images = (n: number, seed = 1) => tf.randomNormal([n, ...inputShape], 0, 1, 'float32', seed);

describe('layer and group norm in resnet', () => {
  for (const norm of ['layer', 'group'] as const) {
    it(`${norm}: a norm after every conv named ${norm === 'layer' ? 'ln' : 'gn'}<i>, γ and β as BN's, no conv biases and no moving statistics`, () => {
      const withNorm = resnet({ depth: 8, width: 4, norm, inputShape, numClasses: 10, groups: 2 });
      const bn = resnet({ depth: 8, width: 4, norm: 'batch', inputShape, numClasses: 10 });
      const prefix = norm === 'layer' ? 'ln' : 'gn';
      const normPoints = withNorm.points.filter((p) => p.kind === 'bn').map((p) => p.name);
      assert.deepEqual(
        normPoints,
        bn.points.filter((p) => p.kind === 'bn').map((p) => p.name.replace(/bn(\d*)$/, `${prefix}$1`)),
      );
      assert.ok(normPoints.includes(`stage1/block0/${prefix}1`));
      assert.equal(withNorm.parameterCount(), bn.parameterCount());
      assert.ok(![...withNorm.trainable.keys()].some((k) => k.endsWith('conv/bias') || k.endsWith('conv1/bias')));
      assert.equal(withNorm.state.size, 0);
      withNorm.dispose();
      bn.dispose();
    });

    it(`${norm}: an example's logits do not depend on the rest of its batch, and training and inference agree`, () => {
      const m = resnet({ depth: 8, width: 4, norm, inputShape, numClasses: 10, groups: 2, seed: 3 });
      const x = images(4);
      const alone = m.apply(tf.slice(x, [0, 0, 0, 0], [1, -1, -1, -1]), { training: true });
      const inBatch = m.apply(x, { training: true });
      assertClose(alone, tf.slice(inBatch, [0, 0], [1, -1]), 1e-5, 'example 0 alone vs in a batch of 4');
      assertClose(m.apply(x, { training: false }), inBatch, 1e-5, 'inference vs training');
      // BN, for contrast, does depend on the batch.
      const bn = resnet({ depth: 8, width: 4, norm: 'batch', inputShape, numClasses: 10, seed: 3 });
      const a = bn.apply(tf.slice(x, [0, 0, 0, 0], [2, -1, -1, -1]), { training: true, updateMovingStats: false });
      const b = bn.apply(x, { training: true, updateMovingStats: false });
      assert.ok((tf.max(tf.abs(tf.sub(a, tf.slice(b, [0, 0], [2, -1])))).arraySync() as number) > 1e-3);
      m.dispose();
      bn.dispose();
    });
  }

  it("group norm's gradients of every parameter are the same on the closed-form fast path and the plain formula", () => {
    const m = resnet({ depth: 8, width: 4, norm: 'group', groups: 2, inputShape, numClasses: 10, seed: 5 });
    const x = images(4, 2);
    const y = tf.oneHot(tf.tensor1d([1, 2, 3, 4], 'int32'), 10);
    const grads = () =>
      tf.variableGrads(() => crossEntropy(y as tf.Tensor2D, m.apply(x, { training: true })), [...m.trainable.values()]).grads;
    const fast = grads();
    setClosedFormGroupNorm(false);
    const plain = grads();
    setClosedFormGroupNorm(true);
    assert.equal(Object.keys(fast).length, m.trainable.size);
    for (const k of Object.keys(plain)) assertClose(fast[k], plain[k], 1e-4, k);
    m.dispose();
  });

  it('groups: 32 by default, capped at the channels; a count that does not divide them is refused at build time', () => {
    assert.equal(normGroups('group', 16), 16);
    assert.equal(normGroups('group', 64), 32);
    assert.equal(normGroups('group', 64, 8), 8);
    assert.equal(normGroups('layer', 64, 8), 1);
    assert.throws(() => resnet({ depth: 8, width: 6, norm: 'group', groups: 4, inputShape, numClasses: 10 }), /4 does not divide 6/);
    assert.throws(() => resnet({ depth: 8, norm: 'group', groups: 0, inputShape, numClasses: 10 }), /groups must be a positive integer/);
  });

  it('plain-cnn and mlp take the same norms', () => {
    const cnn = plainCnn({ depth: 3, width: 4, norm: 'group', groups: 2, inputShape, numClasses: 10 });
    const net = mlp({ depth: 2, width: 6, norm: 'layer', inputShape, numClasses: 10 });
    assert.deepEqual(
      cnn.points.filter((p) => p.kind === 'bn').map((p) => p.name),
      ['layer1/gn', 'layer2/gn', 'layer3/gn'],
    );
    assert.deepEqual(
      net.points.filter((p) => p.kind === 'bn').map((p) => p.name),
      ['layer1/ln', 'layer2/ln'],
    );
    assert.deepEqual(net.apply(images(2), { training: true }).shape, [2, 10]);
    assert.deepEqual(cnn.apply(images(2), { training: true }).shape, [2, 10]);
    cnn.dispose();
    net.dispose();
  });

  it('names the norms once: LN and GN', () => {
    assert.equal(NORM_LABEL.layer, 'LN');
    assert.equal(NORM_LABEL.group, 'GN');
    assert.equal(NORMALISER_LABEL.fixup, 'Fixup');
  });
});

describe('Fixup', () => {
  const fixup = (seed = 1, depth = 14) =>
    resnet({ depth, width: 4, norm: 'none', init: { scheme: 'fixup' }, inputShape, numClasses: 10, seed });

  it('zeroes the last conv of every branch and the classifier, scales the first conv by L^(−1/2), with scalar biases and multipliers', () => {
    const m = fixup(1, 14); // 2 blocks per stage: L = 6 branches
    const he = resnet({
      depth: 14,
      width: 4,
      norm: 'none',
      init: { scheme: 'he', distribution: 'normal' },
      inputShape,
      numClasses: 10,
      seed: 1,
    });
    const std = (name: string, model = m) => tf.sqrt(tf.moments(model.trainable.get(name)!).variance).arraySync() as number;
    for (let s = 1; s <= 3; s++) {
      for (let b = 0; b < 2; b++) {
        assert.equal(tf.max(tf.abs(m.trainable.get(`stage${s}/block${b}/conv2/kernel`)!)).arraySync(), 0);
        assert.equal(m.trainable.get(`stage${s}/block${b}/scale`)!.arraySync(), 1);
        for (const bias of ['bias1a', 'conv1/bias_after', 'bias2a', 'bias2b'])
          assert.equal(m.trainable.get(`stage${s}/block${b}/${bias}`)!.arraySync(), 0);
      }
    }
    assert.equal(tf.max(tf.abs(m.trainable.get('logits/kernel')!)).arraySync(), 0);
    // stage3/block1/conv1: 3·3·16 = 144 inputs, He's std √(2/144); Fixup's a factor 6^(−1/2) smaller (uniform, as drawn by default).
    const expected = Math.sqrt(2 / 144) / Math.sqrt(6);
    assert.ok(Math.abs(std('stage3/block1/conv1/kernel') / expected - 1) < 0.1, `std ${std('stage3/block1/conv1/kernel')} vs ${expected}`);
    assert.ok(Math.abs(std('stem/conv/kernel') / Math.sqrt(2 / 27) - 1) < 0.2, 'the stem keeps He');
    assert.ok(![...m.trainable.keys()].some((k) => k.endsWith('conv1/bias') || k.endsWith('conv2/bias')), 'no conv biases');
    assert.equal(m.name, 'resnet14-fixup');
    m.dispose();
    he.dispose();
  });

  it('starts as the identity per block: every block passes on relu(shortcut), and the logits are zero', () => {
    const m = fixup(2, 8);
    const seen = new Map<string, tf.Tensor>();
    const logits = m.apply(images(3), { training: true, tap: (name, x) => void seen.set(name, tf.keep(x.clone())) });
    assert.equal(tf.max(tf.abs(logits)).arraySync(), 0);
    // Stage 1's block keeps its input: the stem's ReLU output.
    assertClose(seen.get('stage1/block0')!, seen.get('stem/relu')!, 0, 'stage1/block0 = its input');
    tf.dispose([...seen.values()]);
    m.dispose();
  });

  it('learns: one SGD step on a batch lowers its loss and moves the zeroed weights', () => {
    const m = fixup(3, 8);
    const x = images(8, 4);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10);
    const loss = () => crossEntropy(y as tf.Tensor2D, m.apply(x, { training: true }));
    const before = loss().arraySync();
    assert.ok(Math.abs(before - Math.log(10)) < 1e-5, 'a zero classifier gives the uniform distribution');
    for (let i = 0; i < 3; i++) {
      const { grads } = tf.variableGrads(loss, [...m.trainable.values()]);
      for (const [k, v] of m.trainable) v.assign(tf.sub(v, tf.mul(grads[v.name] ?? grads[k], 0.1)));
    }
    assert.ok(loss().arraySync() < before);
    assert.ok((tf.max(tf.abs(m.trainable.get('logits/kernel')!)).arraySync() as number) > 0);
    m.dispose();
  });

  it("a block is Fixup's formula, relu(x + scale·conv2(relu(conv1(x + b1a) + b1b) + b2a) + b2b), and the scalars' gradients match finite differences", () => {
    const m = fixup(4, 8);
    // Every parameter nonzero (the zero-initialised ones too), so that every term is tested.
    let seed = 10;
    for (const v of m.trainable.values()) v.assign(tf.randomNormal(v.shape, v.rank === 0 ? 0.5 : 0, 0.3, 'float32', seed++));
    const x = images(2, 5);
    const seen = new Map<string, tf.Tensor>();
    m.apply(x, { training: true, tap: (name, t) => void seen.set(name, tf.keep(t.clone())) });
    const p = (n: string) => m.trainable.get(`stage1/block0/${n}`)!;
    const input = seen.get('stem/relu')! as tf.Tensor4D;
    const conv = (t: tf.Tensor4D, n: string) => tf.conv2d(t, p(`${n}/kernel`) as tf.Tensor4D, 1, 'same');
    const byHand = tf.relu(
      tf.add(
        input,
        tf.add(
          tf.mul(
            conv(tf.add(tf.relu(tf.add(conv(tf.add(input, p('bias1a')), 'conv1'), p('conv1/bias_after'))), p('bias2a')), 'conv2'),
            p('scale'),
          ),
          p('bias2b'),
        ),
      ),
    );
    assertClose(seen.get('stage1/block0')!, byHand, 1e-5, 'stage1/block0');
    tf.dispose([...seen.values()]);

    const y = tf.oneHot(tf.tensor1d([1, 7], 'int32'), 10) as tf.Tensor2D;
    const loss = () => crossEntropy(y, m.apply(x, { training: true }));
    const names = [
      'stage1/block0/bias1a',
      'stage1/block0/conv1/bias_after',
      'stage1/block0/bias2a',
      'stage1/block0/scale',
      'stage1/block0/bias2b',
      'logits/bias_before',
    ];
    const vars = names.map((n) => m.trainable.get(n)!);
    const { grads } = tf.variableGrads(loss, vars);
    const h = 1e-3;
    for (const [i, v] of vars.entries()) {
      const at = v.arraySync() as number;
      v.assign(tf.scalar(at + h));
      const up = loss().arraySync() as number;
      v.assign(tf.scalar(at - h));
      const down = loss().arraySync() as number;
      v.assign(tf.scalar(at));
      const fd = (up - down) / (2 * h);
      const g = grads[v.name].arraySync() as number;
      assert.ok(Math.abs(g - fd) <= 0.02 * Math.abs(fd) + 1e-3, `${names[i]}: autodiff ${g} vs finite difference ${fd}`);
    }
    m.dispose();
  });

  it('is for residual networks without a norm: elsewhere it is refused, saying why', () => {
    assert.throws(
      () => resnet({ depth: 8, norm: 'batch', init: { scheme: 'fixup' }, inputShape, numClasses: 10 }),
      /init 'fixup' is for residual networks without normalisation/,
    );
    assert.throws(
      () => plainCnn({ depth: 3, norm: 'none', init: { scheme: 'fixup' }, inputShape, numClasses: 10 }),
      /family resnet, norm 'none'/,
    );
  });
});
