import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import {
  channelPairGradientMap,
  channelPairMap,
  channelPairShare,
  convInputPoint,
  gradientHistogram,
  gradientSamples,
  kernelGradientCoherence,
  logitGradients,
  middleConv,
  record,
  summandSums,
  summarizeCoherence,
  weightGradients,
} from '../../lib/src/instrument';
import { Model, plainCnn, resnet } from '../../lib/src/models';
import { crossEntropy } from '../../lib/src/models/loss';

before(async () => {
  await initBackend({ quiet: true });
});

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
const snapshot = (m: Model) => new Map([...m.trainable, ...m.state].map(([k, v]) => [k, Array.from(v.dataSync())]));

/** A seeded Gaussian batch with labels 0, 1, …, classes−1, 0, 1, … */
function batch(n: number, shape: [number, number, number], classes: number, seed = 1): { x: tf.Tensor4D; y: tf.Tensor2D } {
  return tf.tidy(() => ({
    x: tf.randomNormal([n, ...shape], 0, 1, 'float32', seed) as tf.Tensor4D,
    y: tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes), 'float32') as tf.Tensor2D,
  }));
}

/** Gradients of the mean cross-entropy with respect to named parameters, the plain way (BN in training mode, no moving-stat update). */
function directGrads(m: Model, x: tf.Tensor, y: tf.Tensor2D, names: string[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  tf.tidy(() => {
    const vars = names.map((n) => m.trainable.get(n)!);
    const { grads } = tf.variableGrads(() => crossEntropy(y, m.apply(x, { training: true, updateMovingStats: false })), vars);
    names.forEach((n, i) => out.set(n, grads[vars[i].name].dataSync() as Float32Array));
  });
  return out;
}

function assertArraysClose(a: ArrayLike<number>, b: ArrayLike<number>, relTol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= relTol * scale + 1e-12, `${what}[${i}]: ${a[i]} vs ${b[i]} (scale ${scale})`);
}

describe('weightGradients', () => {
  it('returns every conv kernel gradient, equal to a plain variableGrads, without side effects or leaks', () => {
    const m = resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [8, 8, 2], numClasses: 3, seed: 4 });
    const { x, y } = batch(6, [8, 8, 2], 3);
    const before = snapshot(m);
    const tensors = tf.memory().numTensors;
    const g = weightGradients(m, x, y);
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(snapshot(m), before);
    const convs = m.points.filter((p) => p.kind === 'conv');
    assert.deepEqual(g.rows.map((r) => r.layer), convs.map((p) => p.name));
    assert.deepEqual(g.rows.map((r) => r.depth), convs.map((p) => p.depth));
    const direct = directGrads(m, x, y, convs.map((p) => `${p.name}/kernel`));
    for (const r of g.rows) {
      const v = g.values.get(r.layer)!;
      assertArraysClose(v, direct.get(`${r.layer}/kernel`)!, 1e-5, r.layer);
      assert.equal(r.count, m.trainable.get(`${r.layer}/kernel`)!.size);
      close(r.norm, Math.sqrt(v.reduce((s, a) => s + a * a, 0)), 1e-6 * r.norm, 'norm');
      assert.equal(r.maxAbs, v.reduce((s, a) => Math.max(s, Math.abs(a)), 0));
    }
    // Histogram and samples of one layer: every value lands somewhere.
    const layer = g.rows[2].layer;
    const hist = gradientHistogram(g.values.get(layer)!, { bins: 20, layer });
    assert.equal(hist.reduce((s, h) => s + h.count, 0), g.rows[2].count);
    const samples = gradientSamples(g.values, { perLayer: 50 });
    assert.equal(samples.length, 50 * g.rows.length);
    tf.dispose([x, y]);
    m.dispose();
  });

  it('accepts dense layers by name and rejects points without a kernel', () => {
    const m = plainCnn({ depth: 2, width: 4, norm: 'batch', inputShape: [6, 6, 1], numClasses: 3 });
    const { x, y } = batch(4, [6, 6, 1], 3);
    const g = weightGradients(m, x, y, { layers: ['logits'] });
    assert.deepEqual(g.values.get('logits')!.length, 8 * 3);
    assert.throws(() => weightGradients(m, x, y, { layers: ['layer1/bn'] }), /has no kernel layer1\/bn\/kernel/);
    tf.dispose([x, y]);
    m.dispose();
  });
});

describe('gradients at initialisation with and without BN (Fig. 2)', () => {
  it('without BN the middle-layer gradients of a 20-layer plain CNN are heavy-tailed; with BN close to Gaussian', () => {
    const kurtosis = (norm: 'batch' | 'none') => {
      const m = plainCnn({ depth: 20, width: 8, norm, inputShape: [16, 16, 3], numClasses: 10, seed: 1, init: { scheme: 'he' } });
      const { x, y } = batch(32, [16, 16, 3], 10);
      const mid = middleConv(m).name;
      const row = weightGradients(m, x, y, { layers: [mid] }).rows[0];
      tf.dispose([x, y]);
      m.dispose();
      return row.kurtosis;
    };
    const withBn = kurtosis('batch');
    const without = kurtosis('none');
    // Seen: ≈ 0.4 with BN, ≈ 20 without (Fashion-MNIST batches: 0.1–0.8 against 6–33).
    assert.ok(withBn < 2, `BN: excess kurtosis ${withBn}`);
    assert.ok(without > 5, `no BN: excess kurtosis ${without}`);
  });

  it('without BN a ResNet-20 (He init) has gradients an order of magnitude and more larger', () => {
    const std = (norm: 'batch' | 'none') => {
      const m = resnet({ depth: 20, width: 8, norm, inputShape: [16, 16, 3], numClasses: 10, seed: 1, init: { scheme: 'he' } });
      const { x, y } = batch(32, [16, 16, 3], 10);
      const row = weightGradients(m, x, y, { layers: [middleConv(m).name] }).rows[0];
      tf.dispose([x, y]);
      m.dispose();
      return row.std;
    };
    // Seen: 1.7 against 0.019, ≈ 90× (the paper: ≈ 100× for ResNet-110).
    const ratio = std('none') / std('batch');
    assert.ok(ratio > 10, `std ratio no-BN / BN = ${ratio}`);
  });
});

describe('logitGradients (Fig. 6)', () => {
  it('equals (softmax(z) − y) / B, and the backward hook on the logits point agrees', () => {
    const m = plainCnn({ depth: 3, width: 4, norm: 'batch', inputShape: [6, 6, 2], numClasses: 5, seed: 2 });
    const { x, y } = batch(7, [6, 6, 2], 5, 3);
    const tensors = tf.memory().numTensors;
    const rows = logitGradients(m, x, y);
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(rows.length, 7 * 5);
    const [z, labels] = tf.tidy(() => [m.apply(x, { training: true, updateMovingStats: false }).arraySync(), tf.argMax(y, 1).arraySync() as number[]]);
    for (const r of rows) {
      const zb = z[r.example];
      const max = Math.max(...zb);
      const denom = zb.reduce((s, v) => s + Math.exp(v - max), 0);
      const p = Math.exp(zb[r.class] - max) / denom;
      assert.equal(r.label, labels[r.example]);
      close(r.prob, p, 1e-6, 'prob');
      close(r.grad, (p - (r.class === labels[r.example] ? 1 : 0)) / 7, 1e-7, `grad ${r.example},${r.class}`);
    }
    const rec = record(m, x, y, { outputGrads: ['logits'] });
    const hooked = rec.outputGrads.get('logits')!.dataSync();
    rows.forEach((r) => close(hooked[r.example * 5 + r.class], r.grad, 1e-7, 'hook'));
    rec.dispose();
    assert.equal(tf.memory().numTensors, tensors);
    tf.dispose([x, y]);
    m.dispose();
  });
});

describe('record (forward and backward hooks)', () => {
  it('reads ∂L/∂activation at an inner point as the zero-probe trick does', () => {
    const m = plainCnn({ depth: 3, width: 4, norm: 'batch', inputShape: [6, 6, 2], numClasses: 3, seed: 5 });
    const { x, y } = batch(5, [6, 6, 2], 3);
    const point = 'layer2/relu';
    const rec = record(m, x, y, { activations: [point], outputGrads: [point] });
    const act = rec.activations.get(point)!;
    // The probe: x + p at the point, with p = 0; ∂L/∂p = ∂L/∂x there.
    const viaProbe = tf.tidy(() => {
      const probe = tf.zeros(act.shape);
      return tf.grad((p) => crossEntropy(y, m.apply(x, { training: true, updateMovingStats: false, tap: (name, t) => (name === point ? tf.add(t, p) : undefined) })))(probe);
    });
    assertArraysClose(rec.outputGrads.get(point)!.dataSync(), viaProbe.dataSync(), 1e-6, 'hook vs probe');
    assert.ok(Math.abs(rec.loss - tf.tidy(() => crossEntropy(y, m.apply(x, { training: true, updateMovingStats: false })).dataSync()[0])) < 1e-6);
    tf.dispose([viaProbe, x, y]);
    rec.dispose();
    m.dispose();
  });

  it('rejects unknown points and gradients without labels', () => {
    const m = plainCnn({ depth: 1, width: 2, norm: 'none', inputShape: [4, 4, 1], numClasses: 2 });
    const x = tf.zeros([1, 4, 4, 1]);
    assert.throws(() => record(m, x, null, { activations: ['layer9/relu'] }), /has no point "layer9\/relu"/);
    assert.throws(() => record(m, x, null, { outputGrads: ['layer1/relu'] }), /gradients need labels/);
    x.dispose();
    m.dispose();
  });
});

describe('summandSums and the Table 1 ratio', () => {
  it('is 1 where every summand is positive and 0 where they cancel exactly', () => {
    tf.tidy(() => {
      const input = tf.add(tf.randomUniform([2, 5, 5, 2], 0, 1, 'float32', 1), 0.1) as tf.Tensor4D;
      const grad = tf.add(tf.randomUniform([2, 5, 5, 3], 0, 1, 'float32', 2), 0.1) as tf.Tensor4D;
      const pos = summandSums(input, grad, [3, 3], 1);
      // All d > 0: Σd = Σ|d| exactly (same summands, same order).
      const ratio = tf.div(tf.abs(pos.sum), pos.absSum).dataSync();
      ratio.forEach((r) => close(r, 1, 1e-6, 'all positive'));
      // Two copies of one example whose output gradients have opposite signs:
      // every summand of the first is cancelled by one of the second.
      const twin = tf.concat([tf.slice(input, [0, 0, 0, 0], [1, 5, 5, 2]), tf.slice(input, [0, 0, 0, 0], [1, 5, 5, 2])]) as tf.Tensor4D;
      const g0 = tf.slice(grad, [0, 0, 0, 0], [1, 5, 5, 3]);
      const cancel = summandSums(twin, tf.concat([g0, tf.neg(g0)]) as tf.Tensor4D, [3, 3], 1);
      const absSum = cancel.absSum.dataSync();
      cancel.sum.dataSync().forEach((s, i) => {
        assert.ok(absSum[i] > 0.5, `Σ|d| = ${absSum[i]}`);
        assert.ok(Math.abs(s) / absSum[i] < 1e-6, `cancelling: ratio ${Math.abs(s) / absSum[i]}`);
      });
    });
  });

  it('sums to the kernel gradient at every conv of a ResNet (strided convs and shortcuts included), with and without BN', () => {
    for (const norm of ['batch', 'none'] as const) {
      const m = resnet({ depth: 8, width: 4, norm, inputShape: [7, 7, 2], numClasses: 3, seed: 6 });
      const { x, y } = batch(5, [7, 7, 2], 3);
      const convs = m.points.filter((p) => p.kind === 'conv').map((p) => p.name);
      const tensors = tf.memory().numTensors;
      const rows = kernelGradientCoherence(m, x, y, { layers: convs });
      assert.equal(tf.memory().numTensors, tensors);
      const direct = directGrads(m, x, y, convs.map((c) => `${c}/kernel`));
      for (const c of convs) {
        const mine = rows.filter((r) => r.layer === c);
        assert.equal(mine.length, m.trainable.get(`${c}/kernel`)!.size);
        assertArraysClose(mine.map((r) => r.sum), direct.get(`${c}/kernel`)!, 1e-4, `${norm} ${c}`);
        for (const r of mine) {
          assert.ok(r.absSum >= Math.abs(r.sum) * (1 - 1e-5), `${c}: Σ|d| ${r.absSum} < |Σd| ${Math.abs(r.sum)}`);
          // A kernel entry whose input channel is a dead ReLU everywhere has no summands: ratio NaN.
          if (r.absSum === 0) assert.ok(Number.isNaN(r.ratio));
          else assert.ok(r.ratio >= 0 && r.ratio <= 1 + 1e-5, `${c}: ratio ${r.ratio}`);
        }
      }
      tf.dispose([x, y]);
      m.dispose();
    }
  });

  it('takes each conv input from the point applied just before it', () => {
    const m = resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [8, 8, 1], numClasses: 2 });
    assert.equal(convInputPoint(m, 'stem/conv'), null);
    assert.equal(convInputPoint(m, 'stage1/block0/conv1'), 'stem/relu');
    assert.equal(convInputPoint(m, 'stage1/block0/conv2'), 'stage1/block0/relu1');
    assert.equal(convInputPoint(m, 'stage2/block0/conv1'), 'stage1/block0');
    assert.throws(() => convInputPoint(m, 'stem/bn'), /not a conv/);
    m.dispose();
  });

  it('fails loudly when the point before a conv is not its input', () => {
    const m = plainCnn({ depth: 2, width: 4, norm: 'none', inputShape: [6, 6, 1], numClasses: 3, seed: 2 });
    // Hide layer1/relu: the point before layer2/conv becomes the pre-ReLU conv output.
    const broken: Model = { ...m, points: m.points.filter((p) => p.name !== 'layer1/relu'), apply: m.apply };
    const { x, y } = batch(4, [6, 6, 1], 3);
    const tensors = tf.memory().numTensors;
    assert.throws(() => kernelGradientCoherence(broken, x, y, { layers: ['layer2/conv'] }), /the point before a conv is not its input/);
    assert.equal(tf.memory().numTensors, tensors);
    tf.dispose([x, y]);
    m.dispose();
  });

  it('without BN the summands agree in sign far more than with BN (ResNet-20, He init)', () => {
    const median = (norm: 'batch' | 'none') => {
      const m = resnet({ depth: 20, width: 8, norm, inputShape: [16, 16, 3], numClasses: 10, seed: 1, init: { scheme: 'he' } });
      const { x, y } = batch(32, [16, 16, 3], 10);
      const [s] = summarizeCoherence(kernelGradientCoherence(m, x, y));
      tf.dispose([x, y]);
      m.dispose();
      return s.medianRatio;
    };
    const withBn = median('batch');
    const without = median('none');
    // Seen: 0.04 with BN, 0.27 without (Fashion-MNIST batches: ≈ 0.02 against 0.19–0.28).
    assert.ok(withBn < 0.1, `BN median |Σd|/Σ|d| ${withBn}`);
    assert.ok(without > 3 * withBn, `no BN ${without} vs BN ${withBn}`);
  });
});

describe('channelPairGradientMap (Fig. 7)', () => {
  it('averages |∂L/∂W| over the kernel offsets for every (input, output) channel pair', () => {
    const m = plainCnn({ depth: 3, width: 4, norm: 'none', inputShape: [6, 6, 2], numClasses: 3, seed: 8 });
    const { x, y } = batch(4, [6, 6, 2], 3);
    const tensors = tf.memory().numTensors;
    const rows = channelPairGradientMap(m, x, y, { layers: ['layer2/conv'] });
    assert.equal(tf.memory().numTensors, tensors);
    const g = directGrads(m, x, y, ['layer2/conv/kernel']).get('layer2/conv/kernel')!;
    const [, , cin, cout] = m.trainable.get('layer2/conv/kernel')!.shape; // 4 → 8: the width doubles at layer 2
    assert.equal(rows.length, cin * cout);
    for (const r of rows) {
      let s = 0;
      for (let k = 0; k < 9; k++) s += Math.abs(g[k * cin * cout + r.inChannel * cout + r.outChannel]);
      close(r.meanAbsGrad, s / 9, 1e-6 * (s / 9) + 1e-12, `(${r.inChannel}, ${r.outChannel})`);
    }
    tf.dispose([x, y]);
    m.dispose();
  });

  it('channelPairMap averages |g| over the spatial offsets of a [kh, kw, cin, cout] kernel', () => {
    // kh = 1, kw = 2, cin = 2, cout = 1: offset 0 holds [1, -2], offset 1 holds [3, 4].
    assert.deepEqual(channelPairMap([1, -2, -3, 4], [1, 2, 2, 1]), [
      { inChannel: 0, outChannel: 0, meanAbsGrad: 2 },
      { inChannel: 1, outChannel: 0, meanAbsGrad: 3 },
    ]);
    assert.throws(() => channelPairMap([1, 2, 3], [1, 2, 2, 1]), /do not fill/);
  });

  it('channelPairMap of weightGradients\' values (float64 sums, as RQ2 measures) agrees with tfjs\'s float32 mean |∂L/∂W| over the offsets', () => {
    const model = resnet({ depth: 8, width: 4, norm: 'none', inputShape: [8, 8, 1], numClasses: 3, seed: 2 });
    const { x, y } = batch(6, [8, 8, 1], 3, 3);
    try {
      const mid = middleConv(model).name;
      const values = weightGradients(model, x, y, { layers: [mid] }).values.get(mid)!;
      const kernel = model.trainable.get(`${mid}/kernel`)!;
      const ours = channelPairMap(values, kernel.shape as [number, number, number, number]);
      const reference = tf.tidy(() => tf.mean(tf.abs(tf.tensor(values, kernel.shape)), [0, 1]).dataSync());
      assert.equal(ours.length, reference.length);
      ours.forEach((c, i) => close(c.meanAbsGrad, reference[i], 1e-6 * Math.max(1e-6, reference[i]), `pair ${i}`));
    } finally {
      tf.dispose([x, y]);
      model.dispose();
    }
  });

  it('channelPairShare is 1 for a rank-one map, 1/n for a flat diagonal one, NaN for none', () => {
    const rankOne = [];
    for (let i = 0; i < 3; i++) for (let o = 0; o < 4; o++) rankOne.push({ inChannel: i, outChannel: o, meanAbsGrad: (i + 1) * (o + 2) });
    close(channelPairShare(rankOne), 1, 1e-9, 'rank one');
    const diag = [0, 1, 2].flatMap((i) => [0, 1, 2].map((o) => ({ inChannel: i, outChannel: o, meanAbsGrad: i === o ? 1 : 0 })));
    close(channelPairShare(diag), 1 / 3, 1e-9, 'identity');
    assert.ok(Number.isNaN(channelPairShare([])));
  });
});
