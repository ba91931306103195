import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { channelMoments, defaultActivationPoints, momentProfile } from '../../lib/src/instrument';
import { InitOptions, Model, plainCnn, resnet } from '../../lib/src/models';

before(async () => {
  await initBackend({ quiet: true });
});

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);

/** A copy of every variable's values, to check that instruments leave a model as they found it. */
const snapshot = (m: Model) => new Map([...m.trainable, ...m.state].map(([k, v]) => [k, Array.from(v.dataSync())]));

/** One 3×3 conv (3 channels) and a ReLU with weights set by hand. */
function handSetConv(inputShape: [number, number, number], kernel: number[], bias: number[]): Model {
  const m = plainCnn({ depth: 1, width: 3, norm: 'none', inputShape, numClasses: 2 });
  m.trainable.get('layer1/conv/kernel')!.assign(tf.tensor4d(kernel, [3, 3, 1, 3]));
  m.trainable.get('layer1/conv/bias')!.assign(tf.tensor1d(bias));
  return m;
}

describe('channelMoments', () => {
  it('matches the moments of a conv whose output is set by hand', () => {
    // On a 1×1 image a 'same' 3×3 conv sees only its centre tap: channel o is
    // w_o·x + b_o. With w = (1, −1, 2), b = (0, 1, −10) and x = 1…4 the conv
    // outputs (1,2,3,4), (0,−1,−2,−3), (−8,−6,−4,−2), and the ReLU keeps the first.
    const kernel = new Array(27).fill(0);
    [1, -1, 2].forEach((w, o) => (kernel[(1 * 3 + 1) * 3 + o] = w));
    const m = handSetConv([1, 1, 1], kernel, [0, 1, -10]);
    const x = tf.tensor4d([1, 2, 3, 4], [4, 1, 1, 1]);
    const rows = channelMoments(m, x, { points: ['layer1/conv', 'layer1/relu'] });
    const expected = [
      ['layer1/conv', 0, 2.5, Math.sqrt(1.25)],
      ['layer1/conv', 1, -1.5, Math.sqrt(1.25)],
      ['layer1/conv', 2, -5, Math.sqrt(5)],
      ['layer1/relu', 0, 2.5, Math.sqrt(1.25)],
      ['layer1/relu', 1, 0, 0],
      ['layer1/relu', 2, 0, 0],
    ] as const;
    assert.equal(rows.length, expected.length);
    rows.forEach((r, i) => {
      const [point, channel, mean, std] = expected[i];
      assert.equal(r.point, point);
      assert.equal(r.channel, channel);
      assert.equal(r.depth, 1);
      close(r.mean, mean, 1e-6, `${point}/${channel} mean`);
      close(r.std, std, 1e-5, `${point}/${channel} std`);
    });
    x.dispose();
    m.dispose();
  });

  it('sees the zero padding of a constant kernel on a constant image', () => {
    // All-ones 3×3 kernel on an all-ones 3×3 image: 4 at the corners, 6 at the
    // edges, 9 in the centre; mean 49/9, variance 289/9 − (49/9)² = 200/81.
    const m = handSetConv([3, 3, 1], new Array(27).fill(1), [0, 0, 0]);
    const x = tf.ones([2, 3, 3, 1]);
    const rows = channelMoments(m, x, { points: ['layer1/conv'] });
    for (const r of rows) {
      close(r.mean, 49 / 9, 1e-5, 'mean');
      close(r.std, Math.sqrt(200 / 81), 1e-5, 'std');
    }
    x.dispose();
    m.dispose();
  });

  it('finds BN outputs normalised in training mode, without touching the moving statistics or leaking', () => {
    const m = resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [8, 8, 3], numClasses: 5, seed: 2 });
    const x = tf.randomNormal([6, 8, 8, 3], 1, 3, 'float32', 5);
    const before = snapshot(m);
    const tensorsBefore = tf.memory().numTensors;
    const bnPoints = m.points.filter((p) => p.kind === 'bn').map((p) => p.name);
    const rows = channelMoments(m, x, { points: bnPoints });
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.deepEqual(snapshot(m), before);
    assert.equal(new Set(rows.map((r) => r.point)).size, bnPoints.length);
    for (const r of rows) {
      close(r.mean, 0, 1e-4, `${r.point}/${r.channel} mean`);
      close(r.std, 1, 1e-2, `${r.point}/${r.channel} std`); // √(σ²/(σ²+ε))
    }
    // Inference mode normalises with the moving statistics (0, 1): BN is then
    // the identity and the input's mean of 1 shows through the first conv.
    const inference = channelMoments(m, x, { points: ['stem/conv', 'stem/bn'], training: false });
    const conv = inference.filter((r) => r.point === 'stem/conv');
    const bn = inference.filter((r) => r.point === 'stem/bn');
    conv.forEach((r, c) => close(bn[c].mean, r.mean / Math.sqrt(1 + 1e-5), 1e-4, 'identity BN'));
    x.dispose();
    m.dispose();
  });

  it('defaults to the block outputs of a ResNet and the ReLU outputs of a plain CNN', () => {
    const r = resnet({ depth: 8, width: 4, norm: 'none', inputShape: [8, 8, 1], numClasses: 2 });
    const p = plainCnn({ depth: 3, width: 4, norm: 'none', inputShape: [8, 8, 1], numClasses: 2 });
    assert.deepEqual(defaultActivationPoints(r).map((q) => q.name), ['stage1/block0', 'stage2/block0', 'stage3/block0']);
    assert.deepEqual(defaultActivationPoints(p).map((q) => q.name), ['layer1/relu', 'layer2/relu', 'layer3/relu']);
    const x = tf.randomNormal([2, 8, 8, 1]);
    const rows = channelMoments(r, x);
    assert.deepEqual([...new Set(rows.map((q) => q.point))], ['stage1/block0', 'stage2/block0', 'stage3/block0']);
    assert.equal(rows.length, 4 + 8 + 16);
    assert.throws(() => channelMoments(r, x, { points: ['nope'] }), /has no point "nope"/);
    x.dispose();
    r.dispose();
    p.dispose();
  });
});

describe('activation scale against depth at initialisation (Fig. 5), 20-layer plain CNN', () => {
  const x = () => tf.randomNormal([16, 16, 16, 3], 0, 1, 'float32', 11);
  const stdByDepth = (norm: 'batch' | 'none', init: InitOptions) => {
    const m = plainCnn({ depth: 20, width: 8, norm, inputShape: [16, 16, 3], numClasses: 10, seed: 3, init });
    const input = x();
    const s = momentProfile(channelMoments(m, input));
    input.dispose();
    m.dispose();
    return s.map((r) => r.meanStd);
  };

  it('with BN the ReLU outputs keep std ≈ 0.58 at every depth, whatever the init scale', () => {
    // ReLU of a unit Gaussian has std √(1/2 − 1/(2π)) ≈ 0.584.
    const he = stdByDepth('batch', { scheme: 'he' });
    assert.equal(he.length, 20);
    he.forEach((s, i) => assert.ok(s > 0.45 && s < 0.7, `depth ${i + 1}: std ${s}`));
    // BN undoes any rescaling of the conv weights (the convs have no bias).
    const big = stdByDepth('batch', { scheme: 'he', scale: 2 });
    const xavier = stdByDepth('batch', { scheme: 'xavier' });
    he.forEach((s, i) => {
      close(big[i], s, 1e-3 * s, `scale 2, depth ${i + 1}`);
      close(xavier[i], s, 1e-3 * s, `xavier, depth ${i + 1}`);
    });
  });

  it('without BN the scale drifts with depth: He keeps its order of magnitude, Xavier shrinks it, a 2× He init explodes it', () => {
    const he = stdByDepth('none', { scheme: 'he' });
    const xavier = stdByDepth('none', { scheme: 'xavier' });
    const big = stdByDepth('none', { scheme: 'he', scale: 2 });
    const ratio = (s: number[]) => s[s.length - 1] / s[0];
    // He preserves the second moment of a ReLU net only in expectation: at
    // width 8 (fan-in 72) each layer's gain is itself random, so the scale
    // does a multiplicative random walk (seeds 1–3 end at 0.05–0.5 of the
    // first layer's std) rather than a steady trend.
    assert.ok(ratio(he) > 0.02 && ratio(he) < 50, `He: last/first std ${ratio(he)}`);
    // Xavier with fan_in = fan_out halves the variance at every ReLU layer: 2^(−19/2) ≈ 1.4e-3 in std.
    assert.ok(ratio(xavier) < 1e-2, `Xavier: last/first std ${ratio(xavier)}`);
    // Twice the He std doubles it per layer: up to 2^19 ≈ 5e5.
    assert.ok(ratio(big) > 1e3, `2× He: last/first std ${ratio(big)}`);
  });
});
