import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { threadSpinning } from '../../lib/src/backend/thread-spinning';

const root = path.resolve(__dirname, '..', '..');

/** Runs `script` in a fresh process (TF reads the setting as its context is made) with the native backend loaded through initBackend. */
function runWithBackend(spinning: string | undefined, script: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', TF_NUM_INTRAOP_THREADS: '2', BNLAB_BACKEND: 'tensorflow' };
  if (spinning === undefined) delete env.BNLAB_TF_THREAD_SPINNING;
  else env.BNLAB_TF_THREAD_SPINNING = spinning;
  const probe = `
    const tf = require('@tensorflow/tfjs-core');
    const { initBackend } = require('./lib/src/backend');
    initBackend({ quiet: true }).then((b) => { ${script} }).catch((e) => { console.error(e.message); process.exit(3); });`;
  return spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: root, encoding: 'utf8', env });
}

describe("TensorFlow's idle threads", () => {
  it('spin, as TF has them, unless BNLAB_TF_THREAD_SPINNING=off; any other value is refused', () => {
    assert.equal(threadSpinning({}), 'on');
    assert.equal(threadSpinning({ BNLAB_TF_THREAD_SPINNING: '' }), 'on');
    assert.equal(threadSpinning({ BNLAB_TF_THREAD_SPINNING: 'off' }), 'off');
    assert.equal(threadSpinning({ BNLAB_TF_THREAD_SPINNING: 'on' }), 'on');
    // The binding takes exactly these values, so the check does too.
    for (const bad of ['ON', ' on', 'yes', '1']) {
      assert.throws(() => threadSpinning({ BNLAB_TF_THREAD_SPINNING: bad }), /BNLAB_TF_THREAD_SPINNING=.* use on .* or off/);
    }
  });

  it('a bad value stops initBackend with its message, not a fallback to wasm', { timeout: 60_000 }, () => {
    const r = runWithBackend('yes', 'console.log(b.name);');
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /BNLAB_TF_THREAD_SPINNING=yes is not a choice bnlab knows/);
  });

  // The behaviour itself. One op at a time from JavaScript, each followed by
  // 300 µs in which JavaScript works and gives TF nothing to do: a spinning
  // worker burns CPU through that wait, a sleeping one does not. So the CPU
  // time of every thread but JavaScript's, per op, drops with spinning off
  // (about twice as much spinning on this project's 2-core machine; the
  // test prints its figures). Linux's per-thread schedstat gives that time
  // in nanoseconds.
  const skip =
    fs.existsSync('/proc/self/task') && fs.existsSync(`/proc/self/task/${process.pid}/schedstat`)
      ? false
      : 'no per-thread schedstat (Linux only)';
  it('an idle worker spins by default and sleeps at once with BNLAB_TF_THREAD_SPINNING=off', { skip, timeout: 120_000 }, (t) => {
    const script = `
      const fs = require('fs');
      const otherThreadsNs = () => fs.readdirSync('/proc/self/task').filter((t) => t !== String(process.pid)).reduce((sum, t) => {
        try { return sum + Number(fs.readFileSync('/proc/self/task/' + t + '/schedstat', 'utf8').split(' ')[0]); } catch { return sum; }
      }, 0);
      const x = tf.ones([1 << 18]);
      const work = (us) => { const end = process.hrtime.bigint() + BigInt(us * 1000); while (process.hrtime.bigint() < end); };
      const op = () => { tf.tidy(() => { tf.add(x, x); }); work(300); };
      for (let i = 0; i < 100; i++) op();
      const ns0 = otherThreadsNs();
      for (let i = 0; i < 1000; i++) op();
      console.log(JSON.stringify({ backend: b.name, otherThreadsUsPerOp: (otherThreadsNs() - ns0) / 1000 / 1000 }));`;
    const measure = (spinning: string | undefined) => {
      const r = runWithBackend(spinning, script);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as { backend: string; otherThreadsUsPerOp: number };
    };
    const byDefault = measure(undefined);
    const on = measure('on');
    const off = measure('off');
    assert.equal(byDefault.backend, 'tensorflow');
    const shown = `CPU of TF's threads per op: default ${byDefault.otherThreadsUsPerOp.toFixed(1)} µs, on ${on.otherThreadsUsPerOp.toFixed(1)}, off ${off.otherThreadsUsPerOp.toFixed(1)}`;
    assert.ok(byDefault.otherThreadsUsPerOp > 1.5 * off.otherThreadsUsPerOp, shown);
    assert.ok(on.otherThreadsUsPerOp > 1.5 * off.otherThreadsUsPerOp, shown);
    t.diagnostic(shown); // the figures the README quotes
  });
});
