import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '../..');

/** Runs initBackend in a fresh process with the given environment; returns its BackendInfo or error. */
function initIn(env: Record<string, string>): { info?: Record<string, unknown>; error?: string; stderr: string } {
  const code = `
    const { initBackend } = require('./lib/src/backend');
    initBackend().then((info) => console.log(JSON.stringify({ info })), (e) => console.log(JSON.stringify({ error: e.message })));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: root, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()!), stderr: r.stderr };
}

describe('initBackend', () => {
  it('loads the native TensorFlow backend by default, with the wheel\'s libtensorflow', (t) => {
    const { info, stderr } = initIn({ BNLAB_BACKEND: '' });
    if (info?.name !== 'tensorflow' && !process.env.BNLAB_REQUIRE_NATIVE) {
      t.skip(`native backend not available here (${info?.reason}); CI sets BNLAB_REQUIRE_NATIVE=1 and fails instead`);
      return;
    }
    assert.equal(info?.name, 'tensorflow', `fell back: ${info?.reason}`);
    assert.equal(info?.libtensorflowVersion, '2.21.0');
    // A user sees which backend is active and why.
    assert.match(stderr, /\[bnlab\] backend tensorflow \(libtensorflow 2\.21\.0\)/);
  });

  it('can be forced with BNLAB_BACKEND, and says so', () => {
    const { info, stderr } = initIn({ BNLAB_BACKEND: 'cpu' });
    assert.equal(info?.name, 'cpu');
    assert.match(String(info?.reason), /forced by BNLAB_BACKEND=cpu/);
    assert.match(stderr, /\[bnlab\] backend cpu/);
  });

  it('rejects an unknown backend name, listing the known ones', () => {
    const { error } = initIn({ BNLAB_BACKEND: 'cuda' });
    assert.match(String(error), /BNLAB_BACKEND=cuda is not a backend bnlab knows; use one of auto, tensorflow, wasm, cpu/);
  });
});
