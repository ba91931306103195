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

describe('tfjs chained ops (x.reshape(…), x.add(y) …) on every backend', () => {
  // tfjs-core alone does not register them on the Tensor class: on the native
  // backend tfjs-node's @tensorflow/tfjs did, on wasm and cpu nothing did and
  // `x.reshape` was "not a function". Fresh processes, one per backend, and
  // one in plain Node on the compiled lib (as a notebook kernel runs it).
  const code = (lib: string) => `
    const { initBackend } = require(${JSON.stringify(lib)});
    const tf = require('@tensorflow/tfjs-core');
    initBackend({ quiet: true }).then((info) => {
      const x = tf.tensor([1, 2, 3, 4]).reshape([2, 2]);
      const y = x.add(tf.scalar(1)).square().sum(1);
      console.log(JSON.stringify({ backend: info.name, shape: x.shape, x: x.arraySync(), y: y.arraySync(), flat: x.flatten().shape, cast: x.asType('int32').dtype }));
    }, (e) => console.log(JSON.stringify({ error: e.message })));`;
  for (const backend of ['wasm', 'cpu']) {
    it(`works on ${backend}`, () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code('./lib/src/backend')], { cwd: root, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', BNLAB_BACKEND: backend }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.deepEqual(out, { backend, shape: [2, 2], x: [[1, 2], [3, 4]], y: [4 + 9, 16 + 25], flat: [4], cast: 'int32' });
    });
  }

  it('works on wasm in plain Node, on the compiled lib, with the conv gradient', () => {
    // No tsx: tfjs-core's ES-module registrations cannot be required there, the package's CommonJS can.
    const tsc = spawnSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', path.join(root, 'lib')], { encoding: 'utf8' });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    const grad = `;const g = tf.grad((w) => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 2]), w, 2, 'same')))(tf.ones([3, 3, 2, 1])); console.log(JSON.stringify({ gradShape: g.shape }));`;
    const r = spawnSync(process.execPath, ['-e', code('./lib/dist/backend').replace("}, (e) =>", `${grad} }, (e) =>`)], { cwd: root, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', BNLAB_BACKEND: 'wasm' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.slice(-2), [{ backend: 'wasm', shape: [2, 2], x: [[1, 2], [3, 4]], y: [13, 41], flat: [4], cast: 'int32' }, { gradShape: [3, 3, 2, 1] }]);
  });
});
