import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { expandGrid, parseGrid, runShard, Grid } from '../../lib/src/grid';
import { RunStore } from '../../lib/src/store';
import { tempDir } from '../data/helpers';

before(async () => {
  await initBackend({ quiet: true });
});

const root = path.resolve(__dirname, '..', '..');
const quiet = () => ({});

function gridOf(value: unknown): Grid {
  const definition = parseGrid(value);
  return { definition, profile: 'smoke', runs: expandGrid(definition, { profile: 'smoke' }) };
}

describe('runShard', () => {
  it('trains its runs, skips the ones the store has, records a failure and goes on, and stores a divergence as a result', async () => {
    const { dir, cleanup } = tempDir('shard');
    const store = new RunStore(dir);
    // depth 9 is not 6n + 2: that run throws when its model is built.
    const grid = gridOf({ name: 't', base: 'lr-sweep', axes: [{ depth: [8, 9], norm: ['none'], learningRate: [0.01], seed: [1] }, { norm: ['none'], learningRate: [1000], seed: [1] }] });
    assert.equal(grid.runs.length, 3);
    const lines: string[] = [];
    const first = await runShard(grid, { index: 0, count: 1 }, { store, log: (l) => lines.push(l), progress: quiet });
    assert.deepEqual(first.map((o) => o.outcome), ['completed', 'failed', 'diverged']);
    const failed = first[1];
    assert.ok(failed.outcome === 'failed' && /depth must be 6n \+ 2/.test(failed.error));
    assert.match(store.failure(grid.runs[1].runSpec)!.error, /depth must be 6n \+ 2/);
    assert.equal(store.get(grid.runs[1].runSpec), null);
    assert.equal(store.get(grid.runs[2].runSpec)!.status, 'diverged');
    // No running marker is left behind by a finished, failed or diverged run.
    assert.deepEqual(fs.readdirSync(path.join(dir, 'train')).filter((f) => f.includes('.running')), []);

    // Again: the two stored runs are skipped, only the failed one is tried.
    const again = await runShard(grid, { index: 0, count: 1 }, { store, log: (l) => lines.push(l), progress: quiet });
    assert.deepEqual(again.map((o) => o.outcome), ['skipped', 'failed', 'skipped']);
    assert.ok(lines.some((l) => /done: 1 completed, 1 diverged, 0 already there, 1 failed/.test(l)));
    cleanup();
  });

  it('runs only its own share', async () => {
    const { dir, cleanup } = tempDir('shard');
    const store = new RunStore(dir);
    const grid = gridOf({ name: 't', base: 'lr-sweep', axes: { norm: ['batch', 'none'], learningRate: [0.01], seed: [1, 2] } });
    const out = await runShard(grid, { index: 1, count: 2 }, { store, log: () => undefined, progress: quiet });
    assert.deepEqual(out.map((o) => o.run.index), [1, 3]);
    assert.deepEqual(grid.runs.map((r) => store.get(r.runSpec) !== null), [false, true, false, true]);
    cleanup();
  });
});

describe('a shard process', () => {
  it('records the run it was in as interrupted when SIGTERM arrives (scancel), leaving no record or marker', async () => {
    const { dir, cleanup } = tempDir('shard-sigterm');
    // quick's ResNet on 4,000 images takes seconds a run: long enough to interrupt.
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/sweep.ts', 'depth-lr', '--profile', 'quick', '--shard', '0/4', '--store', dir], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Wait for the marker that says who is at a run: the run has started.
    const trainDir = path.join(dir, 'train');
    let ended = false;
    child.on('close', () => (ended = true));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let marker: string | undefined;
    while (!marker) {
      assert.ok(!ended, `the shard ended before training: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
      marker = fs.existsSync(trainDir) ? fs.readdirSync(trainDir).find((f) => f.endsWith('.running.json')) : undefined;
    }
    assert.ok(marker, 'a running marker while training');
    assert.equal(JSON.parse(fs.readFileSync(path.join(trainDir, marker), 'utf8')).pid, child.pid);
    child.kill('SIGTERM');
    assert.equal(await exited, 143, stderr);
    const files = fs.readdirSync(trainDir);
    assert.deepEqual(files.filter((f) => f.endsWith('.running.json')), [], 'marker removed');
    assert.deepEqual(files.filter((f) => /^[0-9a-f]{16}\.json$/.test(f)), [], 'no record of the interrupted run');
    const failed = files.filter((f) => f.endsWith('.failed.json'));
    assert.equal(failed.length, 1);
    assert.match(JSON.parse(fs.readFileSync(path.join(trainDir, failed[0]), 'utf8')).error, /interrupted by SIGTERM/);

    // --status reads the store: that run is failed, the rest of the grid missing.
    const status = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/sweep.ts', 'depth-lr', '--profile', 'quick', '--status', '--json', '--store', dir], { cwd: root, encoding: 'utf8' });
    assert.equal(status.status, 0, status.stderr);
    const runs = JSON.parse(status.stdout).runs as { index: number; state: string; detail: string }[];
    assert.deepEqual(runs.map((r) => r.state), ['failed', 'missing', 'missing', 'missing', 'missing', 'missing', 'missing', 'missing']);
    assert.match(runs[0].detail, /interrupted by SIGTERM/);
    cleanup();
  });

  it('gives TensorFlow the CPUs Slurm allotted (SLURM_CPUS_PER_TASK), so one shard per CPU does not oversubscribe', () => {
    // A matMul-bound loop under sizeThreadPools(1) must keep to one core: CPU time ≈ wall time.
    const probe = `
      const { sizeThreadPools, shardThreads } = require('./lib/src/grid/shard');
      sizeThreadPools(shardThreads(process.env));
      const { initBackend } = require('./lib/src/backend');
      initBackend({ quiet: true }).then((b) => {
        const tf = require('@tensorflow/tfjs-core');
        const a = tf.randomNormal([1024, 1024]);
        tf.matMul(a, a).sum().dataSync();
        const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
        for (let i = 0; i < 12; i++) tf.tidy(() => tf.matMul(a, a).sum().dataSync());
        const wall = Number(process.hrtime.bigint() - t0) / 1e6, c = process.cpuUsage(c0);
        console.log(JSON.stringify({ backend: b.name, intra: process.env.TF_NUM_INTRAOP_THREADS, cpuPerWall: (c.user + c.system) / 1000 / wall }));
      });`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: root, encoding: 'utf8', env: { ...process.env, SLURM_CPUS_PER_TASK: '1', TF_CPP_MIN_LOG_LEVEL: '2' } });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.intra, '1');
    if (out.backend === 'tensorflow') assert.ok(out.cpuPerWall < 1.15, `one thread should use at most one core, used ${out.cpuPerWall.toFixed(2)}`);
  });
});
