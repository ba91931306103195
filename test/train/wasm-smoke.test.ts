/** The fallback: where the native backend cannot load, a small ResNet still trains on wasm. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { loadFashionMnist, subset } from '../../lib/src/data';
import { resnet } from '../../lib/src/models';
import { train } from '../../lib/src/train';
import { Rng } from '../../lib/src/util/rng';

describe('training on the wasm fallback', () => {
  it('runs the training loop on a small ResNet with BN, evaluates, and leaks nothing', async () => {
    const info = await initBackend({ backend: 'wasm', quiet: true });
    assert.equal(info.name, 'wasm');
    const data = { train: subset(loadFashionMnist({ split: 'train' }), 128, new Rng(1)), test: subset(loadFashionMnist({ split: 'test' }), 64, new Rng(1)) };
    const m = resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const counts: number[] = [];
    const r = await train(m, data, { epochs: 2, batchSize: 32, learningRate: 0.05, seed: 1 }, { onEpoch: () => void counts.push(tf.memory().numTensors) });
    assert.equal(r.status, 'completed');
    assert.equal(r.totalSteps, 8);
    assert.ok(Number.isFinite(r.final!.testLoss));
    assert.equal(counts[0], counts[1]);
    m.dispose();
  });
});
