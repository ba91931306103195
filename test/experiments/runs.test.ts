import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { byProfile, loadData, PAPER_SETTING, trainRun } from '../../lib/src/experiments';
import { RunStore } from '../../lib/src/store';
import { tempDir, writeCifarDir } from '../data/helpers';

before(async () => {
  await initBackend({ quiet: true });
});

const quiet = () => ({});

describe('trainRun', () => {
  it('trains once and serves the same config from the store; a changed config trains only itself', async () => {
    const { dir, cleanup } = tempDir('bnlab-runs-');
    const store = new RunStore(dir);
    const spec = {
      data: { dataset: 'fashion-mnist' as const, trainSize: 200, testSize: 100, seed: 1 },
      model: { family: 'resnet' as const, depth: 8, width: 4, norm: 'batch' as const, seed: 1 },
      train: { epochs: 1, batchSize: 50, learningRate: 0.05, seed: 1 },
    };
    let cached = 0;
    const a = await trainRun(spec, { store, profile: 'smoke', progress: quiet, onCached: () => cached++ });
    const b = await trainRun({ ...spec, label: 'another label, same run' }, { store, profile: 'smoke', progress: quiet, onCached: () => cached++ });
    assert.equal(cached, 1);
    assert.equal(b.key, a.key);
    assert.equal(a.result.totalSteps, 4);
    assert.equal(a.environment.backend, b.environment.backend);
    const c = await trainRun({ ...spec, train: { ...spec.train, learningRate: 0.01 } }, { store, profile: 'smoke', progress: quiet, onCached: () => cached++ });
    assert.notEqual(c.key, a.key);
    assert.equal(cached, 1);
    assert.equal(store.list('train').length, 2);
    // The profile is part of the key.
    const d = await trainRun(spec, { store, profile: 'quick', progress: quiet, onCached: () => cached++ });
    assert.notEqual(d.key, a.key);
    cleanup();
  });

  it('the paper profile (ResNet-110 on CIFAR-10, the paper\'s hyperparameters) runs a step on fixture-sized CIFAR-10', async () => {
    const { dir, cleanup } = tempDir('bnlab-cifar-');
    writeCifarDir(dir, 26); // 130 training images: one batch of 128
    const store = new RunStore(dir + '/runs');
    const r = await trainRun(
      {
        data: { ...PAPER_SETTING.data, dir },
        model: { ...PAPER_SETTING.model, norm: 'batch', seed: 1 },
        train: { ...PAPER_SETTING.train, learningRate: 0.1, seed: 1, maxSteps: 1 },
      },
      { store, profile: 'paper', progress: quiet },
    );
    assert.equal(r.result.totalSteps, 1);
    assert.equal(r.result.status, 'completed');
    assert.ok(Number.isFinite(r.result.steps[0].loss));
    // ResNet-110 with widths 16/32/64: 1.7 M parameters (He et al.).
    assert.ok(Math.abs(r.result.parameters - 1.73e6) < 0.02e6, String(r.result.parameters));
    assert.deepEqual(loadData({ ...PAPER_SETTING.data, dir }).train.shape, [32, 32, 3]);
    cleanup();
  });

  it('byProfile picks the active profile and rejects an unknown one', () => {
    const prev = process.env.BNLAB_PROFILE;
    try {
      process.env.BNLAB_PROFILE = 'smoke';
      assert.equal(byProfile({ smoke: 1, quick: 2, paper: 3 }), 1);
      process.env.BNLAB_PROFILE = 'huge';
      assert.throws(() => byProfile({ smoke: 1, quick: 2, paper: 3 }), /BNLAB_PROFILE=huge is not a profile; use one of smoke, quick, long, paper/);
    } finally {
      if (prev === undefined) delete process.env.BNLAB_PROFILE;
      else process.env.BNLAB_PROFILE = prev;
    }
  });
});
