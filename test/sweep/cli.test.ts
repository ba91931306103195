import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { HUGE_PAGES_TUNABLE, withHugePages } from '../../lib/src/backend/huge-pages';
import { readGrid, shardRuns } from '../../lib/src/grid';
import { RunStore, writeFileAtomic } from '../../lib/src/store';
import { estimateSweep, listSchedule } from '../../scripts/sweep/estimate';
import { compressIndices, expandTaskField, parseSqueue } from '../../scripts/sweep/slurm';
import { runStatuses, shardsToResubmit } from '../../scripts/sweep/status';
import { tempDir } from '../data/helpers';

const root = path.resolve(__dirname, '..', '..');

before(async () => {
  await initBackend({ quiet: true });
});

function sweep(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/sweep.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...env } });
}

describe('sweep --slurm --dry-run', () => {
  it('writes the array script into the store beside the sweep, with the shard count written out', () => {
    const { dir, cleanup } = tempDir('sweep-sbatch');
    const r = sweep(['depth-lr', '--profile', 'smoke', '--store', dir, '--slurm', '--dry-run', '--nodes', '2', '--cpus', '1', '--time', '00:10:00', '--partition', 'debug', '--sbatch', 'qos=short']);
    assert.equal(r.status, 0, r.stderr);
    const sweepDir = path.join(dir, 'sweeps', 'depth-lr-smoke');
    const script = fs.readFileSync(path.join(sweepDir, 'next.sbatch'), 'utf8');
    assert.equal(r.stdout.trim(), script.trim());
    for (const line of ['#SBATCH --array=0-1', '#SBATCH --cpus-per-task=1', '#SBATCH --time=00:10:00', '#SBATCH --partition=debug', '#SBATCH --qos=short', '#SBATCH --job-name=bnlab-depth-lr-smoke', `#SBATCH --output=${sweepDir}/logs/%A_%a.out`, `export BNLAB_RUNS_DIR=${dir}`, 'export BNLAB_PROFILE=smoke', `cd ${root}`]) {
      assert.ok(script.split('\n').includes(line), `missing ${line} in\n${script}`);
    }
    assert.match(script, /--shard "\$\{SLURM_ARRAY_TASK_ID\}\/2"$/m);
    assert.equal(spawnSync('bash', ['-n', path.join(sweepDir, 'next.sbatch')]).status, 0, 'valid bash');
    // The task's huge pages: added to the tunables it inherits, unless it already has a hugetlb choice.
    const hugePages = script.split('\n').find((l) => l.startsWith('case ') && l.includes('glibc.malloc.hugetlb'))!;
    const tunablesAfter = (inherited?: string) => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      if (inherited !== undefined) env.GLIBC_TUNABLES = inherited;
      return spawnSync('bash', ['-c', `${hugePages}\nprintf %s "$GLIBC_TUNABLES"`], { encoding: 'utf8', env }).stdout;
    };
    assert.equal(tunablesAfter(), HUGE_PAGES_TUNABLE);
    assert.equal(tunablesAfter('glibc.malloc.arena_max=1'), withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' }).GLIBC_TUNABLES);
    assert.equal(tunablesAfter('glibc.malloc.hugetlb=0'), 'glibc.malloc.hugetlb=0');
    // The sweep's expansion is kept beside it, with the keys the notebook will ask for.
    const record = JSON.parse(fs.readFileSync(path.join(sweepDir, 'sweep.json'), 'utf8'));
    const store = new RunStore(dir);
    assert.deepEqual(record.runs.map((x: { key: string }) => x.key), readGrid(path.join(root, 'notebooks/grids/depth-lr.json'), 'smoke').runs.map((x) => store.key(x.runSpec)));
    cleanup();
  });

  it('says clearly what is wrong with a bad command line', () => {
    const cases: [string[], RegExp][] = [
      [['no-such-grid'], /no grid file no-such-grid; the grids in notebooks\/grids are .*rq1-lr-sweep/],
      [['depth-lr', '--slurm', '--status'], /choose one of --slurm, --status/],
      [['depth-lr', '--workers', '0'], /--workers needs a positive integer/],
      [['depth-lr', '--profile', 'huge'], /--profile must be one of smoke, quick, long, paper/],
      [['depth-lr', '--shard', 'auto/2'], /none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX is set/],
      [['depth-lr', '--kubernetes'], /--kubernetes needs --image/],
    ];
    for (const [args, message] of cases) {
      const r = sweep(args, { SLURM_ARRAY_TASK_ID: '', JOB_COMPLETION_INDEX: '' });
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, message);
    }
  });
});

describe('sweep --kubernetes', () => {
  it('writes an Indexed Job whose container command, run here with JOB_COMPLETION_INDEX set, trains that shard', () => {
    const { dir, cleanup } = tempDir('sweep-k8s');
    const r = sweep(['depth-lr', '--profile', 'smoke', '--store', dir, '--kubernetes', '--image', 'registry.example/bnlab:1', '--shards', '4', '--parallelism', '2', '--cpus', '1', '--claim', 'runs-nfs']);
    assert.equal(r.status, 0, r.stderr);
    const file = r.stdout.trim();
    assert.equal(file, path.join(dir, 'sweeps', 'depth-lr-smoke', 'indexed-job.json'));
    const job = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(job.apiVersion, 'batch/v1');
    assert.equal(job.kind, 'Job');
    assert.equal(job.spec.completionMode, 'Indexed');
    assert.equal(job.spec.completions, 4);
    assert.equal(job.spec.parallelism, 2);
    const pod = job.spec.template.spec;
    assert.equal(pod.restartPolicy, 'Never');
    const [c] = pod.containers;
    assert.equal(c.image, 'registry.example/bnlab:1');
    assert.deepEqual(c.resources.limits, { cpu: '1' });
    const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    assert.equal(env.BNLAB_RUNS_DIR, c.volumeMounts[0].mountPath);
    assert.equal(pod.volumes[0].persistentVolumeClaim.claimName, 'runs-nfs');
    assert.ok(c.command.includes('auto/4'));

    // The pod's command, here: its working dir is this checkout, its store a temp dir, its index 2.
    const local = tempDir('sweep-k8s-store');
    const run = spawnSync(c.command[0], c.command.slice(1), { cwd: root, encoding: 'utf8', env: { ...process.env, ...env, BNLAB_RUNS_DIR: local.dir, JOB_COMPLETION_INDEX: '2' } });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /shard 2\/4/);
    assert.match(run.stderr, /TensorFlow threads: 1/);
    const grid = readGrid(path.join(root, 'notebooks/grids/depth-lr.json'), 'smoke');
    const store = new RunStore(local.dir);
    const mine = new Set(shardRuns(grid.runs, { index: 2, count: 4 }).map((x) => x.index));
    assert.deepEqual(grid.runs.map((x) => store.get(x.runSpec) !== null), grid.runs.map((x) => mine.has(x.index)));
    local.cleanup();
    cleanup();
  });
});

describe('Slurm parsing', () => {
  it('reads squeue lines, pending ranges included, and writes --array lists', () => {
    assert.deepEqual(expandTaskField('[2-4,7%2]'), [2, 3, 4, 7]);
    assert.deepEqual(parseSqueue('12|0|RUNNING|n1\n12|[1-2]|PENDING|\n15|3|CANCELLED|n2\n'), [
      { jobId: '12', task: 0, state: 'RUNNING', node: 'n1' },
      { jobId: '12', task: 1, state: 'PENDING', node: '' },
      { jobId: '12', task: 2, state: 'PENDING', node: '' },
      { jobId: '15', task: 3, state: 'CANCELLED', node: 'n2' },
    ]);
    assert.equal(compressIndices([5, 0, 1, 2, 7, 8, 2]), '0-2,5,7-8');
  });
});

describe('run states', () => {
  it('combine the store and the scheduler: done, running, pending, failed (incl. interrupted) and missing', async () => {
    const { dir, cleanup } = tempDir('sweep-status');
    const store = new RunStore(dir);
    const grid = readGrid(path.join(root, 'notebooks/grids/depth-lr.json'), 'smoke');
    const [r0, r1, , r3, r4, r5] = grid.runs;
    // r0 done
    await store.getOrRun(r0.runSpec, async () => ({ result: {} }));
    // r1 running: its marker names a Slurm task squeue reports RUNNING
    const markerOf = (run: typeof r1, scheduler: object, pid = 1, hostname = 'n1') =>
      writeFileAtomic(path.join(dir, 'train', `${store.key(run.runSpec)}.running.json`), JSON.stringify({ key: store.key(run.runSpec), kind: 'train', hostname, pid, startedAt: 'now', scheduler }));
    markerOf(r1, { system: 'slurm', jobId: '13', arrayJobId: '12', arrayTaskId: 1, node: 'n2' });
    // r3 interrupted: its marker names a task Slurm reports CANCELLED
    markerOf(r3, { system: 'slurm', jobId: '14', arrayJobId: '12', arrayTaskId: 3, node: 'n2' });
    // r4 failed with an error
    store.recordFailure(r4.runSpec, new Error('out of memory'));
    const tasks = parseSqueue('12|1|RUNNING|n2\n12|2|PENDING|\n12|3|CANCELLED|n2\n12|0|COMPLETED|n1\n');
    const statuses = runStatuses(grid.runs.slice(0, 6), store, 4, tasks, [{ jobId: '12', shards: 4, script: 's', submittedAt: 't' }]);
    assert.deepEqual(statuses.map((s) => [s.index, s.shard, s.state]), [[0, 0, 'done'], [1, 1, 'running'], [2, 2, 'pending'], [3, 3, 'failed'], [4, 0, 'failed'], [5, 1, 'pending']]);
    assert.match(statuses[3].detail, /interrupted/);
    assert.match(statuses[4].detail, /out of memory/);
    // Shard 0 has a failed run and no live task: resubmit it; shard 3 too. Shards 1 and 2 are still at work.
    assert.deepEqual(shardsToResubmit(statuses), [0, 3]);
    // A run that failed inside the task still running its shard is failed, not pending.
    const started = parseSqueue('12|0|RUNNING|n1|2000-01-01T00:00:00\n');
    assert.equal(started[0].start?.getTime(), new Date('2000-01-01T00:00:00').getTime());
    assert.equal(runStatuses([r4], store, 4, started, [{ jobId: '12', shards: 4, script: 's', submittedAt: 't' }])[0].state, 'failed');
    assert.equal(runStatuses([r4], store, 4, parseSqueue('12|0|RUNNING|n1|2999-01-01T00:00:00\n'), [{ jobId: '12', shards: 4, script: 's', submittedAt: 't' }])[0].state, 'pending');
    // Without the scheduler (a job Slurm has forgotten): a marker from a dead local process is stale.
    markerOf(r5, {}, 2 ** 22 + 12345, os.hostname());
    const alone = runStatuses([r5], store, 4, []);
    assert.equal(alone[0].state, 'failed');
    cleanup();
  });
});

describe('sweep --estimate', () => {
  it("costs the paper profile's RQ1 grid from a step time: steps from each run's data and its rate's budget, plus an evaluation per epoch", () => {
    const grid = readGrid('rq1-lr-sweep', 'paper');
    const e = estimateSweep(grid.runs, 1000, [8, 65]);
    assert.equal(e.runs, 65);
    // CIFAR-10's 50,000 images at batch 128, last partial batch dropped: 390
    // steps an epoch; 160 epochs at lr 0.1, ×(0.1/lr)^0.5 below, at most 640.
    const epochsAt: Record<number, number> = { 0.1: 160, 0.03: 293, 0.01: 506, 0.003: 640, 0.001: 640, 0.0001: 640, 0.00003: 640 };
    assert.deepEqual(e.stepsPerRun, grid.runs.map((r) => 390 * epochsAt[r.spec.train.learningRate]));
    // 1 s a step, and 10,000 test images an epoch at a third of a step per 128 images.
    const hours = (epochs: number) => (390 * epochs + (10_000 * epochs) / 128 / 3) / 3600;
    assert.ok(Math.abs(e.hoursPerRun - hours(640)) < 1e-9);
    const total = grid.runs.reduce((s, r) => s + hours(epochsAt[r.spec.train.learningRate]), 0);
    assert.ok(Math.abs(e.nodeHours - total) < 1e-6);
    // One node per run: the longest run. Fewer nodes: at least the total over them.
    assert.ok(Math.abs(e.wall[1].hours - hours(640)) < 1e-9);
    assert.ok(e.wall[0].hours >= total / 8 && e.wall[0].hours <= total / 8 + hours(640));
  });

  it('schedules runs in grid order, each on the first free node', () => {
    assert.equal(listSchedule([3, 1, 1, 1], 2), 3);
    assert.equal(listSchedule([1, 1, 3], 2), 4);
    assert.equal(listSchedule([2, 2], 5), 2);
    assert.equal(listSchedule([], 3), 0);
  });
});

describe('sweep --workers', () => {
  it('runs the grid as N local shard processes into one store, each run once; run again, it trains nothing', () => {
    const { dir, cleanup } = tempDir('sweep-workers');
    const r = sweep(['depth-lr', '--profile', 'smoke', '--store', dir, '--workers', '2']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /8 runs in 2 worker process\(es\), 1 TensorFlow thread\(s\) each/);
    const store = new RunStore(dir);
    const grid = readGrid('depth-lr', 'smoke');
    assert.deepEqual(store.list('train').map((x) => x.key).sort(), grid.runs.map((x) => store.key(x.runSpec)).sort());
    const completed = (text: string, w: string) => [...text.matchAll(new RegExp(`^${w} .*: completed in`, 'gm'))].length;
    assert.equal(completed(r.stderr, 'w0') + completed(r.stderr, 'w1'), 8);
    assert.equal(completed(r.stderr, 'w0'), 4);
    const again = sweep(['depth-lr', '--profile', 'smoke', '--store', dir, '--workers', '2']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal([...again.stderr.matchAll(/already in the store, skipped/g)].length, 8);
    assert.equal(completed(again.stderr, 'w0') + completed(again.stderr, 'w1'), 0);
    cleanup();
  });
});
