/**
 * `npm run bench:sweep`: how much a sweep gains from more processes or
 * nodes. Times the same grid (default notebooks/grids/depth-lr.json, 8 runs,
 * smoke profile) into a fresh store each time:
 *
 *   --workers 1 against --workers 2 on this machine, and
 *   as a Slurm array job (2 shards, 1 CPU each) on a throwaway cluster of
 *   one node against two (needs Slurm and root, as the sweep test does).
 *
 * One JSON line per timing (the median of --repeats, default 3), then the
 * speed-ups. Wall time covers everything a user waits for: process start,
 * TensorFlow's load, reading the data, training, writing the records; for
 * Slurm, from sbatch until squeue shows no task left.
 *
 *   npm run bench:sweep [-- --grid NAME] [--profile smoke] [--repeats N] [--no-slurm]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { slurmAvailable, startSlurmCluster } from '../test/helpers/slurm-cluster';
import { median } from './median';
import { eachOption } from './options';

const root = path.resolve(__dirname, '..');

interface Args {
  grid: string;
  profile: string;
  repeats: number;
  slurm: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { grid: 'depth-lr', profile: 'smoke', repeats: 3, slurm: true };
  eachOption(argv, (k, v) => {
    if (k === '--grid') a.grid = v();
    else if (k === '--profile') a.profile = v();
    else if (k === '--repeats') a.repeats = Number(v());
    else if (k === '--no-slurm') a.slurm = false;
    else throw new Error(`unknown option ${k}; see the header of bench/sweep-scaling.ts`);
  });
  if (!Number.isInteger(a.repeats) || a.repeats < 1) throw new Error('--repeats takes a positive whole number');
  return a;
}


function freshStore(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-bench-sweep-'));
}

function sweep(a: Args, store: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/sweep.ts', a.grid, '--profile', a.profile, '--store', store, ...args], { cwd: root, encoding: 'utf8', env: { ...env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  if (r.status !== 0) throw new Error(`sweep ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

function runCount(a: Args): number {
  const store = freshStore();
  try {
    return sweep(a, store, ['--list']).trim().split('\n').length;
  } finally {
    fs.rmSync(store, { recursive: true, force: true });
  }
}

function timeWorkers(a: Args, workers: number): number[] {
  return Array.from({ length: a.repeats }, () => {
    const store = freshStore();
    const t0 = performance.now();
    sweep(a, store, ['--workers', String(workers)]);
    const s = (performance.now() - t0) / 1000;
    fs.rmSync(store, { recursive: true, force: true });
    return s;
  });
}

async function timeSlurm(a: Args, nodes: number, runs: number): Promise<number[]> {
  const cluster = await startSlurmCluster({ nodes, cpusPerNode: 1 });
  try {
    const out: number[] = [];
    for (let i = 0; i < a.repeats; i++) {
      const store = freshStore();
      const t0 = performance.now();
      const jobId = sweep(a, store, ['--slurm', '--shards', '2', '--cpus', '1'], cluster.env).trim();
      for (;;) {
        const q = spawnSync('squeue', ['-h', '-r', `--jobs=${jobId}`, '-o', '%K'], { encoding: 'utf8', env: cluster.env });
        if (q.stdout.trim() === '') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      out.push((performance.now() - t0) / 1000);
      const done = JSON.parse(sweep(a, store, ['--status', '--json'], cluster.env)).runs.filter((r: { state: string }) => r.state === 'done').length;
      if (done !== runs) throw new Error(`the Slurm sweep ended with ${done} of ${runs} runs done`);
      fs.rmSync(store, { recursive: true, force: true });
    }
    return out;
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const runs = runCount(a);
  console.error(`[bench:sweep] grid ${a.grid} (${runs} runs, profile ${a.profile}), ${a.repeats} repeat(s) each, ${os.cpus().length} cores`);
  const report = (setting: string, times: number[]) => {
    const r = { setting, grid: a.grid, profile: a.profile, runs, seconds: +median(times).toFixed(2), repeats: times.map((t) => +t.toFixed(2)) };
    console.log(JSON.stringify(r));
    return r.seconds;
  };
  const w1 = report('workers 1', timeWorkers(a, 1));
  const w2 = report('workers 2', timeWorkers(a, 2));
  console.log(JSON.stringify({ speedup: 'workers 2 vs 1', value: +(w1 / w2).toFixed(2) }));
  if (!a.slurm) return;
  const avail = slurmAvailable();
  if (!avail.ok) {
    console.error(`[bench:sweep] no Slurm timing: ${avail.why}`);
    return;
  }
  const n1 = report('slurm 1 node (2 shards, 1 CPU each)', await timeSlurm(a, 1, runs));
  const n2 = report('slurm 2 nodes (2 shards, 1 CPU each)', await timeSlurm(a, 2, runs));
  console.log(JSON.stringify({ speedup: 'slurm 2 nodes vs 1', value: +(n1 / n2).toFixed(2) }));
}

main().catch((err) => {
  console.error(`[bench:sweep] ${(err as Error).message}`);
  process.exit(1);
});
