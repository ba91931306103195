import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { readGrid } from '../../lib/src/grid';
import { RunStore } from '../../lib/src/store';
import { exportReport } from '../../report/exporter';
import { tempDir } from '../data/helpers';
import { slurmAvailable, startSlurmCluster, type SlurmCluster } from '../helpers/slurm-cluster';

/**
 * The sweep, for real, against a throwaway two-node Slurm cluster: RQ1's
 * smoke grid as an array job, one running shard cancelled with scancel,
 * --resubmit-failed, and then the notebook, which must find every run in
 * the store and train nothing, and whose report page shows where they were
 * trained. Skips without Slurm on a workstation; CI
 * installs it and sets BNLAB_REQUIRE_SLURM=1, and then it fails instead.
 */
const avail = slurmAvailable();
const skip = !avail.ok && !process.env.BNLAB_REQUIRE_SLURM ? `${avail.why}; CI sets BNLAB_REQUIRE_SLURM=1 and fails instead` : false;

const root = path.resolve(__dirname, '..', '..');
const GRID = 'rq1-lr-sweep';

before(async () => {
  await initBackend({ quiet: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => T | undefined | null | false, timeoutMs: number, everyMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

describe('a sweep on Slurm', () => {
  let cluster: SlurmCluster | undefined;
  const store = tempDir('slurm-sweep-store');
  after(async () => {
    await cluster?.stop();
    store.cleanup();
  });

  it('runs RQ1\'s grid as an array job over two nodes into one store; a cancelled shard is resubmitted; the notebook then trains nothing', { skip, timeout: 300_000 }, async () => {
    assert.ok(avail.ok, `Slurm required by BNLAB_REQUIRE_SLURM but unavailable: ${avail.ok ? '' : avail.why}`);
    cluster = await startSlurmCluster({ nodes: 2, cpusPerNode: 1 });
    const env = { ...cluster.env, TF_CPP_MIN_LOG_LEVEL: '2' };
    const sweep = (...args: string[]) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/sweep.ts', GRID, '--profile', 'smoke', '--store', store.dir, ...args], { cwd: root, encoding: 'utf8', env });
      assert.equal(r.status, 0, `sweep ${args.join(' ')} failed:\n${r.stderr}`);
      return r;
    };
    const slurm = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', env }).stdout;
    const liveTasks = (jobId: string) => slurm('squeue', '-h', '-r', `--jobs=${jobId}`, '-o', '%K %T').trim();
    const status = () => JSON.parse(sweep('--status', '--json').stdout) as { shards: number; jobs: string[]; runs: { index: number; shard: number; key: string; state: string; detail: string }[] };

    const grid = readGrid(GRID, 'smoke');
    const runStore = new RunStore(store.dir);
    const keys = grid.runs.map((r) => runStore.key(r.runSpec));
    // smoke: 3 rates x 2 norms x 2 seeds.
    assert.equal(keys.length, 12);

    // Four shards on two one-CPU nodes: two run at once, two wait.
    const jobId = sweep('--slurm', '--shards', '4', '--cpus', '1', '--time', '00:10:00').stdout.trim();
    assert.match(jobId, /^\d+$/);
    const sweepDir = path.join(store.dir, 'sweeps', `${GRID}-smoke`);
    assert.ok(fs.existsSync(path.join(sweepDir, `job-${jobId}.sbatch`)), 'the submitted script is kept beside the sweep');

    // Cancel shard 1 while it is inside a run: its running marker names its array task.
    const trainDir = path.join(store.dir, 'train');
    await until(
      'a run of shard 1 in progress',
      () =>
        fs.existsSync(trainDir) &&
        fs.readdirSync(trainDir).some((f) => {
          if (!f.endsWith('.running.json')) return false;
          try {
            return JSON.parse(fs.readFileSync(path.join(trainDir, f), 'utf8')).scheduler?.arrayTaskId === 1;
          } catch {
            return false;
          }
        }),
      60_000,
    );
    spawnSync('scancel', [`${jobId}_1`], { env });
    await until('the array job to finish', () => liveTasks(jobId) === '', 120_000, 250);

    const afterCancel = status();
    assert.equal(afterCancel.shards, 4);
    const shard1 = afterCancel.runs.filter((r) => r.shard === 1);
    const others = afterCancel.runs.filter((r) => r.shard !== 1);
    assert.deepEqual(others.map((r) => r.state), others.map(() => 'done'), JSON.stringify(others));
    assert.ok(shard1.some((r) => r.state === 'failed' || r.state === 'missing'), `shard 1 was cancelled mid-way: ${JSON.stringify(shard1)}`);
    assert.ok(shard1.every((r) => ['done', 'failed', 'missing'].includes(r.state)));
    // The run scancel interrupted says so.
    assert.ok(shard1.some((r) => r.state === 'failed' && /interrupted by SIGTERM/.test(r.detail)), JSON.stringify(shard1));

    // Only index 1 goes back to Slurm.
    const resubmit = sweep('--resubmit-failed');
    assert.match(resubmit.stderr, /in shard\(s\) 1 of 4/);
    const again = resubmit.stdout.trim();
    assert.match(again, /^\d+$/);
    assert.notEqual(again, jobId);
    await until('the resubmitted task to finish', () => liveTasks(again) === '', 120_000, 250);
    const tasks = slurm('squeue', '-h', '-r', '-t', 'all', `--jobs=${again}`, '-o', '%K').trim().split('\n');
    assert.deepEqual(tasks, ['1'], 'the resubmission ran index 1 alone');

    const final = status();
    assert.deepEqual(final.runs.map((r) => r.state), keys.map(() => 'done'), JSON.stringify(final.runs.filter((r) => r.state !== 'done')));
    assert.deepEqual(final.jobs, [jobId, again]);

    // Every run exactly once: one record per key, and across all task logs one completion per key.
    const records = runStore.list('train');
    assert.deepEqual(records.map((r) => r.key).sort(), [...keys].sort());
    assert.deepEqual(fs.readdirSync(trainDir).filter((f) => !/^[0-9a-f]{16}\.json$/.test(f)), [], 'no marker, failure or temporary file is left');
    const logs = fs.readdirSync(path.join(sweepDir, 'logs')).map((f) => fs.readFileSync(path.join(sweepDir, 'logs', f), 'utf8')).join('\n');
    const completions = [...logs.matchAll(/run \d+ ([0-9a-f]{16}) \(.*\): (?:completed|diverged) in/g)].map((m) => m[1]);
    assert.deepEqual([...completions].sort(), [...keys].sort(), 'each run trained exactly once');
    // Both nodes trained, and each record says which job and node it came from.
    assert.deepEqual([...new Set(records.map((r) => r.environment.scheduler?.system === 'slurm' ? r.environment.scheduler.node : null))].sort(), ['n1', 'n2']);

    // The notebook, executed now, finds all 12 runs (and Fig. 1's, which the smoke grid holds) and trains nothing.
    const out = tempDir('slurm-sweep-notebook');
    const nb = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', 'smoke', '--out', out.dir, 'rq1-learning-rate'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, BNLAB_RUNS_DIR: store.dir, TF_CPP_MIN_LOG_LEVEL: '2' },
    });
    assert.equal(nb.status, 0, nb.stderr);
    assert.equal(runStore.list('train').length, keys.length, 'the notebook trained nothing');
    const executed = JSON.parse(fs.readFileSync(path.join(out.dir, 'rq1-learning-rate.ipynb'), 'utf8'));
    const text = executed.cells.flatMap((c: { outputs?: { text?: string | string[]; data?: Record<string, string | string[]> }[] }) => (c.outputs ?? []).map((o) => [o.text, o.data?.['text/markdown']].flat().join(''))).join('\n');
    assert.match(text, /12 runs, 12 of them served from the store/);
    assert.match(text, /\| Slurm job \d+ \| n1 \|/);
    assert.match(text, /\| Slurm job \d+ \| n2 \|/);
    // And the report's RQ1 page shows them.
    const site = tempDir('slurm-sweep-report');
    await exportReport({ inDir: out.dir, outDir: site.dir, log: () => undefined });
    const page = fs.readFileSync(path.join(site.dir, 'rq1-learning-rate.html'), 'utf8');
    assert.match(page, /<td>Slurm job \d+<\/td>\s*<td>n1<\/td>/);
    assert.match(page, /<td>Slurm job \d+<\/td>\s*<td>n2<\/td>/);
    site.cleanup();
    out.cleanup();
  });
});
