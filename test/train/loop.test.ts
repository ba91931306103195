import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { Dataset, loadFashionMnist, normalize, channelStats, subset } from '../../lib/src/data';
import { mlp, resnet } from '../../lib/src/models';
import { learningRateAt } from '../../lib/src/train/schedule';
import { EpochRecord, train, TrainResult } from '../../lib/src/train/loop';
import { Rng } from '../../lib/src/util/rng';

let fashion: { train: Dataset; test: Dataset };

before(async () => {
  await initBackend({ quiet: true });
  const rng = new Rng(0);
  const tr = subset(loadFashionMnist({ split: 'train' }), 1200, rng);
  const te = subset(loadFashionMnist({ split: 'test' }), 400, rng);
  const stats = channelStats(tr);
  fashion = { train: normalize(tr, stats), test: normalize(te, stats) };
});

const small = () => mlp({ depth: 2, width: 64, norm: 'batch', inputShape: [28, 28, 1], numClasses: 10, seed: 1 });

describe('train', () => {
  it('learns Fashion-MNIST well above chance in two epochs, and evaluates on the test split', async () => {
    const m = small();
    const r = await train(m, fashion, { epochs: 2, batchSize: 50, learningRate: 0.05, seed: 1 });
    assert.equal(r.status, 'completed');
    assert.equal(r.backend.name, tf.getBackend());
    assert.equal(r.epochs.length, 2);
    assert.equal(r.totalSteps, 2 * 24);
    assert.ok(r.final!.testAccuracy > 0.6, `test accuracy ${r.final!.testAccuracy}`);
    assert.ok(r.epochs[1].trainLoss < r.epochs[0].trainLoss);
    m.dispose();
  });

  it('repeats exactly for a seed, and differs for another', async () => {
    const losses = async (seed: number) => {
      const m = small();
      const r = await train(m, fashion, { epochs: 1, batchSize: 100, learningRate: 0.05, seed, maxSteps: 5 });
      m.dispose();
      return r.steps.map((s) => s.loss);
    };
    const a = await losses(3);
    const b = await losses(3);
    const c = await losses(4);
    a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-5, `step ${i}: ${x} vs ${b[i]}`));
    assert.ok(a.some((x, i) => Math.abs(x - c[i]) > 1e-4), 'another seed gave the same data order');
  });

  it('marks a run whose loss explodes as diverged, without throwing', async () => {
    const m = mlp({ depth: 4, width: 64, norm: 'none', inputShape: [28, 28, 1], numClasses: 10, seed: 1, init: { scheme: 'he', scale: 3 } });
    const ended: TrainResult[] = [];
    const r = await train(m, fashion, { epochs: 3, batchSize: 50, learningRate: 5, momentum: 0.9, seed: 1 }, { onEnd: (x) => void ended.push(x) });
    assert.equal(r.status, 'diverged');
    assert.deepEqual(ended, [r], 'onEnd once, with the result');
    assert.ok(r.divergence && r.divergence.step >= 1);
    assert.ok(!Number.isFinite(r.divergence!.loss) || r.divergence!.loss > 1e3, String(r.divergence!.loss));
    assert.equal(r.final, null);
    assert.ok(r.totalSteps < 3 * 24, 'it stopped early');
    m.dispose();
  });

  it('leaks no tensors: the count is flat across epochs', async () => {
    const m = resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const counts: number[] = [];
    await train(m, { train: subset(fashion.train, 300, new Rng(1)), test: subset(fashion.test, 100, new Rng(1)) }, { epochs: 3, batchSize: 50, learningRate: 0.05, seed: 1 }, {
      onEpoch: () => void counts.push(tf.memory().numTensors),
    });
    assert.equal(counts.length, 3);
    assert.equal(new Set(counts).size, 1, `numTensors per epoch: ${counts}`);
    m.dispose();
  });

  it('follows a step schedule and reports progress on every step', async () => {
    const m = small();
    const seen: number[] = [];
    const epochs: EpochRecord[] = [];
    const ended: TrainResult[] = [];
    const r = await train(m, fashion, { epochs: 2, batchSize: 100, learningRate: 0.1, schedule: { kind: 'step', at: [0.5], factor: 0.1 }, seed: 1 }, {
      onStep: (s) => void seen.push(s.step),
      onEpoch: (e) => void epochs.push(e),
      onEnd: (x) => void ended.push(x),
    });
    assert.deepEqual(seen, Array.from({ length: 24 }, (_, i) => i + 1));
    assert.deepEqual(ended.map((x) => [x === r, x.status]), [[true, 'completed']], 'onEnd once, after the last epoch');
    assert.equal(r.steps[0].learningRate, 0.1);
    assert.ok(Math.abs(r.steps[23].learningRate - 0.01) < 1e-12);
    assert.equal(epochs.length, 2);
    assert.equal(learningRateAt(1, { kind: 'step', at: [0.5, 0.75], factor: 0.1 }, 0.8), 0.1 * 0.1);
    m.dispose();
  });

  it('rejects a bad config with a message that names the field', async () => {
    const m = small();
    await assert.rejects(train(m, fashion, { epochs: 0, batchSize: 50, learningRate: 0.1, seed: 1 }), /epochs must be a positive integer/);
    await assert.rejects(train(m, fashion, { epochs: 1, batchSize: 50, learningRate: -1, seed: 1 }), /learningRate must be a positive number/);
    await assert.rejects(train(m, fashion, { epochs: 1, batchSize: 5000, learningRate: 0.1, seed: 1 }), /batchSize 5000 is larger than the training set/);
    await assert.rejects(train(m, fashion, { epochs: 1, batchSize: 50, learningRate: 0.1, seed: 1, schedule: { kind: 'step', at: [2], factor: 0.1 } }), /drop points are fractions/);
    m.dispose();
  });
});
