import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { buildModel, countForwardMacs, initStd, mlp, NORM_LABEL, normLabel, NORMS, optionAShortcut, plainCnn, resnet } from '../../lib/src/models';

before(async () => {
  await initBackend({ quiet: true });
});

const input = (n: number, shape: [number, number, number]) => tf.randomNormal([n, ...shape]);

describe('resnet', () => {
  it('has 6n+2 weight layers, the CIFAR widths and the parameter count of ResNet-20', () => {
    const m = resnet({ depth: 20, norm: 'batch', inputShape: [32, 32, 3], numClasses: 10 });
    const weightLayers = m.points.filter((p) => p.kind === 'conv' || p.kind === 'dense');
    assert.equal(weightLayers.length, 20);
    assert.deepEqual(m.trainable.get('stage3/block2/conv2/kernel')!.shape, [3, 3, 64, 64]);
    // By hand: stem 3·3·3·16 = 432; stage 1: 6 · 3·3·16·16 = 13,824; stage 2:
    // 3·3·16·32 + 5 · 3·3·32·32 = 50,688; stage 3: 3·3·32·64 + 5 · 3·3·64·64 =
    // 202,752; 19 BN layers' γ and β: 2 · (7·16 + 6·32 + 6·64) = 1,376;
    // classifier 64·10 + 10 = 650. He et al. quote 0.27 M.
    assert.equal(m.parameterCount(), 432 + 13824 + 50688 + 202752 + 1376 + 650);
    assert.equal(m.state.size, 2 * 19); // moving mean and variance of 19 BN layers
    m.dispose();
  });

  it('counts the multiply-adds of ResNet-20 on 32×32×3 layer by layer', () => {
    const m = resnet({ depth: 20, norm: 'batch', inputShape: [32, 32, 3], numClasses: 10 });
    const macs = countForwardMacs(m).perImageForward;
    // By hand: stem 32²·432; stage 1: 6 · 32²·2304; stages 2 and 3: 16²·4608 +
    // 5 · 16²·9216 and 8²·18432 + 5 · 8²·36864; classifier 640. That is 40.55 M;
    // the 40.8 M often quoted adds the 1×1 projection shortcuts (option B).
    const byHand = 32 * 32 * 432 + 6 * 32 * 32 * 2304 + (16 * 16 * 4608 + 5 * 16 * 16 * 9216) + (8 * 8 * 18432 + 5 * 8 * 8 * 36864) + 640;
    assert.equal(macs, byHand);
    assert.equal(byHand, 40551040);
    m.dispose();
  });

  it("norm 'none' has no BN and conv biases; 'final-only' has exactly one BN, before the classifier", () => {
    const none = resnet({ depth: 8, norm: 'none', inputShape: [8, 8, 1], numClasses: 3 });
    assert.equal(none.points.filter((p) => p.kind === 'bn').length, 0);
    assert.ok(none.trainable.has('stem/conv/bias'));
    const fin = resnet({ depth: 8, norm: 'final-only', inputShape: [8, 8, 1], numClasses: 3 });
    const bns = fin.points.filter((p) => p.kind === 'bn');
    assert.deepEqual(bns.map((p) => p.name), ['final/bn']);
    const names = fin.points.map((p) => p.name);
    assert.equal(names.indexOf('final/bn') + 2, names.indexOf('logits'));
    none.dispose();
    fin.dispose();
  });

  it('produces logits of the right shape and shows every named point to a tap, in order', () => {
    const m = resnet({ depth: 8, norm: 'batch', inputShape: [9, 7, 2], numClasses: 4 });
    const seen: string[] = [];
    const logits = tf.tidy(() => m.apply(input(3, [9, 7, 2]), { training: true, tap: (name) => void seen.push(name) }));
    assert.deepEqual(logits.shape, [3, 4]);
    assert.deepEqual(seen, m.points.map((p) => p.name));
    logits.dispose();
    m.dispose();
  });

  it('gives the same logits and gradients whether or not a tap listens (a tap splits the fused BN [+ shortcut] + ReLU and conv + bias [+ shortcut] + ReLU)', () => {
    for (const m of [
      resnet({ depth: 8, norm: 'batch', inputShape: [9, 7, 2], numClasses: 4, seed: 5 }),
      resnet({ depth: 8, norm: 'none', inputShape: [9, 7, 2], numClasses: 4, seed: 5 }),
      plainCnn({ depth: 3, norm: 'batch', inputShape: [6, 6, 2], numClasses: 3, seed: 5 }),
      plainCnn({ depth: 3, norm: 'none', inputShape: [6, 6, 2], numClasses: 3, seed: 5 }),
    ]) {
      const [h, w, c] = m.options.inputShape;
      const x = tf.randomNormal([3, h, w, c], 0, 1, 'float32', 9);
      const vars = [...m.trainable.values()];
      const run = (tap?: () => void) =>
        tf.variableGrads(() => tf.sum(tf.square(m.apply(x, { training: true, updateMovingStats: false, tap }))) as tf.Scalar, vars);
      const plain = run();
      const tapped = run(() => undefined);
      assert.ok(Math.abs(plain.value.dataSync()[0] - tapped.value.dataSync()[0]) <= 1e-4 * Math.abs(plain.value.dataSync()[0]), `${m.name}: loss`);
      for (const v of vars) {
        const a = plain.grads[v.name].dataSync();
        const b = tapped.grads[v.name].dataSync();
        const scale = Math.max(1, ...Array.from(b, Math.abs));
        const worst = Math.max(...Array.from(a, (ai, i) => Math.abs(ai - b[i])));
        assert.ok(worst <= 1e-4 * scale, `${m.name}: gradient of ${v.name} differs by ${worst}`);
      }
      tf.dispose([x, plain.value, tapped.value, ...Object.values(plain.grads), ...Object.values(tapped.grads)]);
      m.dispose();
    }
  });

  it('is seeded: the same seed gives the same weights, another seed other weights', () => {
    const w = (seed: number) => {
      const m = resnet({ depth: 8, norm: 'batch', inputShape: [8, 8, 1], numClasses: 2, seed });
      const v = Array.from(m.trainable.get('stem/conv/kernel')!.dataSync());
      m.dispose();
      return v;
    };
    assert.deepEqual(w(3), w(3));
    assert.notDeepEqual(w(3), w(4));
  });

  it('rejects a depth that is not 6n+2 and an unknown norm, saying what is allowed', () => {
    assert.throws(() => resnet({ depth: 21, norm: 'batch', inputShape: [8, 8, 1], numClasses: 2 }), /6n \+ 2/);
    assert.throws(() => resnet({ depth: 20, norm: 'instance' as never, inputShape: [8, 8, 1], numClasses: 2 }), /norm must be one of batch, layer, group, none, final-only/);
    assert.throws(() => buildModel({ family: 'vgg' } as never), /unknown model family "vgg"/);
  });

  it('rejects an input of the wrong shape', () => {
    const m = resnet({ depth: 8, norm: 'none', inputShape: [8, 8, 1], numClasses: 2 });
    assert.throws(() => m.apply(tf.zeros([2, 8, 8, 3]), { training: false }), /input must be \[batch, 8, 8, 1\]/);
    m.dispose();
  });
});

describe('optionAShortcut', () => {
  it('subsamples every other pixel and zero-pads the channels evenly', () => {
    const x = tf.tensor4d(Array.from({ length: 1 * 4 * 4 * 2 }, (_, i) => i), [1, 4, 4, 2]);
    const y = optionAShortcut(x, 4);
    assert.deepEqual(y.shape, [1, 2, 2, 4]);
    // pixel (0,0) channels [0,1] → [0, 0, 1, 0]; pixel (0,2) = index 4 → channels 4,5
    assert.deepEqual(Array.from(y.dataSync()).slice(0, 8), [0, 0, 1, 0, 0, 4, 5, 0]);
    x.dispose();
    y.dispose();
  });

  it('handles odd sizes like a stride-2 same conv (ceil)', () => {
    const y = tf.tidy(() => optionAShortcut(tf.ones([1, 7, 5, 1]), 2));
    assert.deepEqual(y.shape, [1, 4, 3, 2]);
    y.dispose();
  });
});

describe('plainCnn and mlp', () => {
  it('plain CNN: depth convs, width doubling at thirds', () => {
    const m = plainCnn({ depth: 6, width: 4, norm: 'batch', inputShape: [8, 8, 1], numClasses: 3 });
    assert.equal(m.points.filter((p) => p.kind === 'conv').length, 6);
    assert.deepEqual(m.trainable.get('layer6/conv/kernel')!.shape, [3, 3, 16, 16]);
    const out = tf.tidy(() => m.apply(input(2, [8, 8, 1]), { training: false }));
    assert.deepEqual(out.shape, [2, 3]);
    out.dispose();
    m.dispose();
  });

  it('MLP: depth hidden layers of width units', () => {
    const m = mlp({ depth: 3, width: 5, norm: 'final-only', inputShape: [2, 2, 1], numClasses: 3 });
    assert.deepEqual([...m.trainable.keys()].filter((k) => k.endsWith('/kernel')), ['layer1/dense/kernel', 'layer2/dense/kernel', 'layer3/dense/kernel', 'logits/kernel']);
    assert.ok(m.trainable.has('final/bn/gamma'));
    const out = tf.tidy(() => m.apply(input(4, [2, 2, 1]), { training: true }));
    assert.deepEqual(out.shape, [4, 3]);
    out.dispose();
    m.dispose();
  });
});

describe('initialisation', () => {
  it('He and Xavier standard deviations, times the scale', () => {
    assert.equal(initStd({ scheme: 'he' }, 50, 10), Math.sqrt(2 / 50));
    assert.equal(initStd({ scheme: 'xavier', scale: 2 }, 50, 10), 2 * Math.sqrt(2 / 60));
  });

  it("the drawn weights have the scheme's standard deviation", () => {
    for (const distribution of ['normal', 'uniform'] as const) {
      const m = mlp({ depth: 1, width: 400, norm: 'none', inputShape: [20, 20, 1], numClasses: 2, init: { scheme: 'he', distribution } });
      const w = Array.from(m.trainable.get('layer1/dense/kernel')!.dataSync());
      const mean = w.reduce((a, b) => a + b, 0) / w.length;
      const sd = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
      assert.ok(Math.abs(sd / Math.sqrt(2 / 400) - 1) < 0.01, `${distribution}: sd ${sd}`);
      m.dispose();
    }
  });
});

describe('norm names', () => {
  it('name every norm once, as charts, tables and run labels call it; anything else keeps its own name', () => {
    assert.deepEqual(NORMS.map((n) => NORM_LABEL[n]), ['BN', 'LN', 'GN', 'no BN', 'final-only BN']);
    assert.equal(normLabel('final-only'), 'final-only BN');
    assert.equal(normLabel('instance'), 'instance');
  });
});
