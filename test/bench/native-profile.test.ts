// bench/native-profile.ts: `npm run bench -- --profile`'s timing of the
// native binding's calls, and the per-thread CPU reading.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { nativeBackend } from '../../lib/src/ops/native';
import { threadCpu, threadCpuPerStep, timeNativeOps } from '../../bench/native-profile';

before(async () => {
  await initBackend({ backend: 'tensorflow', quiet: true });
});

test('timeNativeOps counts each op the binding runs, by TF name, and restores the binding', () => {
  const be = nativeBackend();
  const binding = be.binding;
  const a = tf.tensor2d([
    [1, 2],
    [3, 4],
  ]);
  let result: number[] = [];
  const times = timeNativeOps(be, () => {
    const b = tf.matMul(a, a); // one BatchMatMulV2
    const c = tf.relu(tf.neg(b)); // one Neg, one Relu
    const d = tf.relu(b);
    result = Array.from(d.dataSync());
    tf.dispose([b, c, d]);
  });
  const calls = Object.fromEntries(times.map((t) => [t.kernel, t.calls]));
  assert.equal(calls.BatchMatMulV2, 1);
  assert.equal(calls.Neg, 1);
  assert.equal(calls.Relu, 2);
  assert.ok(calls.deleteTensor >= 3, 'the disposals are binding calls too');
  assert.deepEqual(result, [7, 10, 15, 22], 'the ops still compute');
  assert.ok(times.every((t) => t.ms >= 0));
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1].ms >= times[i].ms, 'largest first');
  assert.equal(be.binding, binding, 'the binding is restored');
  assert.throws(
    () =>
      timeNativeOps(be, () => {
        throw new Error('inside');
      }),
    /inside/,
  );
  assert.equal(be.binding, binding, 'also after a throw');
  a.dispose();
});

test('threadCpu sees the JavaScript thread busy; threadCpuPerStep divides by steps and sorts the rest', () => {
  const before = threadCpu();
  if (before === null) return; // not Linux
  const t0 = Date.now();
  let x = 0;
  while (Date.now() - t0 < 200) x += Math.sqrt(x + 1); // ~200 ms on this thread
  const after = threadCpu()!;
  const { mainMs } = threadCpuPerStep(before, after, 2);
  assert.ok(mainMs >= 40 && mainMs <= 130, `main thread ${mainMs} ms per step of ~100`);
  const split = threadCpuPerStep(
    new Map([
      [1, 0],
      [2, 0],
      [3, 0],
    ]),
    new Map([
      [1, 10],
      [2, 40],
      [3, 1],
    ]),
    2,
    1,
  );
  assert.deepEqual(split, { mainMs: 5, otherThreadsMs: [20] });
});
