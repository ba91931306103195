import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { configureThreads, loadedThreads, profileThreads, useEveryCore } from '../../lib/src/backend/threads';

const root = path.resolve(__dirname, '..', '..');

describe('TensorFlow thread counts', () => {
  it('smoke and quick fix one thread; long and paper take the machine or the scheduler', () => {
    assert.equal(profileThreads('smoke'), 1);
    assert.equal(profileThreads('quick'), 1);
    assert.equal(profileThreads('long'), null);
    assert.equal(profileThreads('paper'), null);
  });

  it('sizes every pool from the profile, else BNLAB_THREADS or Slurm, and leaves pools sized already', () => {
    const quick: NodeJS.ProcessEnv = { SLURM_CPUS_PER_TASK: '8' };
    assert.equal(configureThreads('quick', quick), 1);
    assert.deepEqual([quick.TF_NUM_INTRAOP_THREADS, quick.TF_NUM_INTEROP_THREADS, quick.OMP_NUM_THREADS], ['1', '1', '1']);
    assert.equal(loadedThreads(quick), 1);

    const slurm: NodeJS.ProcessEnv = { SLURM_CPUS_PER_TASK: '8' };
    assert.equal(configureThreads('paper', slurm), 8);
    assert.equal(slurm.TF_NUM_INTRAOP_THREADS, '8');

    const machine: NodeJS.ProcessEnv = {};
    assert.equal(configureThreads('long', machine), null);
    assert.equal(machine.TF_NUM_INTRAOP_THREADS, undefined);
    assert.equal(loadedThreads(machine), null);

    // A count set on purpose (a sweep shard, the user) wins over the profile's.
    const set: NodeJS.ProcessEnv = { TF_NUM_INTRAOP_THREADS: '2' };
    assert.equal(configureThreads('quick', set), 2);
    assert.equal(set.TF_NUM_INTEROP_THREADS, undefined);
    assert.throws(() => configureThreads('quick', { TF_NUM_INTRAOP_THREADS: 'two' }), /TF_NUM_INTRAOP_THREADS=two/);
    assert.throws(() => configureThreads('paper', { BNLAB_THREADS: '0' }), /BNLAB_THREADS=0/);
  });

  it('the benchmarks take every core unless the pools were sized', () => {
    const env: NodeJS.ProcessEnv = {};
    useEveryCore(env, 4);
    assert.equal(env.TF_NUM_INTRAOP_THREADS, '4');
    const set: NodeJS.ProcessEnv = { TF_NUM_INTRAOP_THREADS: '1' };
    useEveryCore(set, 4);
    assert.equal(set.TF_NUM_INTRAOP_THREADS, '1');
  });

  it('a quick-profile process loads TensorFlow on one thread and records it in its runs', () => {
    const probe = `
      const { initBackend } = require('./lib/src/backend');
      const { runEnvironment } = require('./lib/src/store');
      initBackend({ quiet: true }).then(() => console.log(JSON.stringify({ intra: process.env.TF_NUM_INTRAOP_THREADS ?? null, threads: runEnvironment().threads })));`;
    const env: NodeJS.ProcessEnv = { ...process.env, BNLAB_PROFILE: 'quick', TF_CPP_MIN_LOG_LEVEL: '2' };
    delete env.TF_NUM_INTRAOP_THREADS;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: root, encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { intra: '1', threads: 1 });
  });
});
