import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '../..');

describe('initBackend with BNLAB_BACKEND=wasm', () => {
  // A fresh process: initBackend caches its answer, and BNLAB_BACKEND is read
  // only when no backend is passed.
  it('reports wasm with a reason, and can then take a conv gradient', () => {
    const code = `
      const tf = require('@tensorflow/tfjs-core');
      const { initBackend } = require('./lib/src/backend');
      initBackend().then((info) => {
        // The filter gradient needs Conv2DBackpropFilter, which only bnlab supplies on wasm.
        const g = tf.grad((w) => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 2]), w, 2, 'same')))(tf.ones([3, 3, 2, 1]));
        console.log(JSON.stringify({ info, backend: tf.getBackend(), gradShape: g.shape }));
      }, (e) => console.log(JSON.stringify({ error: e.message })));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      cwd: root,
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', BNLAB_BACKEND: 'wasm' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.error, undefined);
    assert.equal(out.info.name, 'wasm');
    assert.equal(out.info.requested, 'wasm');
    assert.match(out.info.reason, /forced by BNLAB_BACKEND=wasm/);
    assert.equal(out.info.libtensorflowVersion, null);
    assert.equal(out.backend, 'wasm');
    assert.deepEqual(out.gradShape, [3, 3, 2, 1]);
    assert.match(r.stderr, /\[bnlab\] backend wasm: forced by BNLAB_BACKEND=wasm/);
  });
});
