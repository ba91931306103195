import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { buildProbeModel, forEachProbeBatch } from '../../lib/src/analysis/probe-batches';
import { landscapeProbe, LandscapeProbeRow } from '../../lib/src/analysis/rq6';
import { initBackend } from '../../lib/src/backend';
import { loadData } from '../../lib/src/experiments/data';
import { landscapeAlongGradient } from '../../lib/src/instrument/landscape';
import { checkTrainConfig, train } from '../../lib/src/train/loop';
import { plateauSchedule } from '../../lib/src/experiments/convergence-rule';

before(async () => {
  await initBackend({ quiet: true });
});

const data = { dataset: 'fashion-mnist' as const, trainSize: 96, testSize: 32, seed: 1, downsample: 2 };
const cfg = {
  data,
  model: { family: 'resnet' as const, depth: 8, width: 4, norm: 'batch' as const, init: { scheme: 'xavier' as const, distribution: 'uniform' as const }, seed: 1 },
  batchSize: 32, // 3 steps an epoch: the checkpoints below cross epochs
  seed: 2,
  learningRate: 0.1,
  checkpoints: [7, 0, 4],
  batches: { count: 2, size: 16, seed: 3 },
  stepScales: [0.5, 2],
};

describe('the landscape probe', () => {
  it('probed along one warm-up gives exactly what a warm-up from scratch to each checkpoint gives (test metrics evaluated there)', async () => {
    const shared = await landscapeProbe(cfg);
    const ds = loadData(data);
    const reference: LandscapeProbeRow[] = [];
    for (const checkpoint of cfg.checkpoints) {
      const model = buildProbeModel(ds, cfg.model);
      if (checkpoint > 0)
        await train(model, ds, { epochs: 1_000_000, maxSteps: checkpoint, batchSize: cfg.batchSize, learningRate: cfg.learningRate, momentum: 0.9, weightDecay: 1e-4, seed: cfg.seed });
      forEachProbeBatch(ds.train, cfg.batches, (x, y, batch) => {
        const l = landscapeAlongGradient(model, x, y, { stepSizes: cfg.stepScales.map((k) => k * cfg.learningRate) });
        for (const r of l.rows) reference.push({ checkpoint, batch, lossBefore: l.lossBefore, ...r });
      });
      model.dispose();
    }
    assert.equal(shared.length, cfg.checkpoints.length * cfg.batches.count * cfg.stepScales.length);
    assert.deepEqual(shared, reference);
    assert.notDeepEqual(
      shared.filter((r) => r.checkpoint === 4).map((r) => r.loss),
      shared.filter((r) => r.checkpoint === 7).map((r) => r.loss),
      'the checkpoints differ, so the comparison can fail',
    );
  });

  it('a run that skips the test split trains the same weights, its epochs carrying no test metrics', async () => {
    const ds = loadData(data);
    const weights = async (evaluate: boolean) => {
      const model = buildProbeModel(ds, cfg.model);
      const r = await train(model, ds, { epochs: 2, batchSize: 32, learningRate: 0.1, seed: 1, evaluate });
      const w = [...model.trainable.values()].map((v) => Array.from(v.dataSync()));
      model.dispose();
      return { w, r };
    };
    const before = tf.memory().numTensors;
    const on = await weights(true);
    const off = await weights(false);
    assert.deepEqual(off.w, on.w);
    assert.ok(on.r.epochs.every((e) => Number.isFinite(e.testAccuracy)));
    assert.ok(off.r.epochs.every((e) => Number.isNaN(e.testAccuracy) && Number.isNaN(e.testLoss)));
    assert.equal(tf.memory().numTensors, before);
    assert.throws(
      () => checkTrainConfig({ epochs: 2, batchSize: 32, learningRate: 0.1, seed: 1, evaluate: false, schedule: plateauSchedule({ factor: 0.1, at: 0.5 }) }),
      /plateau schedule reads the test accuracy/,
    );
  });
});
