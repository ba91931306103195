/**
 * `npm run sweep`: train an experiment grid in shards, into one run store.
 *
 *   npm run sweep -- <grid> [--profile P]              every run, here (as --workers 1)
 *   npm run sweep -- <grid> --workers N                N shard processes on this machine
 *   npm run sweep -- <grid> --shard i/n [--reverse]    shard i of n (0-based); auto/n takes i from
 *                                                      SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX;
 *                                                      --reverse trains its runs last first
 *   npm run sweep -- <grid> --slurm [--nodes K | --shards N] [--cpus C] [--partition P]
 *                           [--time T] [--mem M] [--account A] [--max-running M] [--sbatch ARG]… [--dry-run]
 *   npm run sweep -- <grid> --status [--json]          each run: done, running, pending, failed or missing
 *   npm run sweep -- <grid> --resubmit-failed [--dry-run]
 *   npm run sweep -- <grid> --kubernetes --image IMG [--claim PVC] [--workdir DIR] [--shards N]
 *                           [--parallelism P] [--cpus C] [--memory M]
 *   npm run sweep -- <grid> --list                     the expansion: index, shard, key, run
 *   npm run sweep -- <grid> --estimate MS [--nodes K,…] its cost on paper at MS ms per training step
 *                                                      (measure it: npm run bench -- --depth D)
 *
 * <grid> is a grid file, or the name of one in notebooks/grids/ (rq1-lr-sweep). The store is
 * BNLAB_RUNS_DIR or runs/ (--store DIR). Every mode expands the grid the way the notebook does
 * (lib/src/grid), so the runs it trains are the runs the notebook finds.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../lib/src/backend';
import { defaultStore } from '../lib/src/experiments/runs';
import { activeProfile, PROFILES, ProfileName } from '../lib/src/experiments/profile';
import { parseShard, readGrid, resolveGridFile, runShard, shardOf, shardThreads, sizeThreadPools, Grid } from '../lib/src/grid';
import { profileThreads } from '../lib/src/backend/threads';
import { withHugePages } from '../lib/src/backend/huge-pages';
import { onLines } from './lines';
import { RunStore, writeFileAtomic } from '../lib/src/store';
import { estimateSweep } from './sweep/estimate';
import { indexedJobManifest } from './sweep/kubernetes';
import { sbatch, sbatchScript, squeueTasks, SlurmOptions } from './sweep/slurm';
import { appendSubmission, formatStatusTable, readSubmissions, runStatuses, shardsToResubmit, sweepDir } from './sweep/status';

const root = path.resolve(__dirname, '..');

type Mode = 'local' | 'shard' | 'slurm' | 'status' | 'resubmit' | 'kubernetes' | 'list' | 'estimate';

interface Args {
  grid: string;
  mode: Mode;
  profile: ProfileName;
  store?: string;
  shard?: string;
  workers: number;
  threads?: number;
  /** --reverse: a shard trains its runs last first (the report's idle core meets a notebook halfway through its grid). */
  reverse: boolean;
  json: boolean;
  dryRun: boolean;
  /** --nodes: one count for --slurm, a list (8,16,64) for --estimate. */
  nodeCounts: number[];
  msPerStep?: number;
  shards?: number;
  cpus?: number;
  partition?: string;
  time?: string;
  mem?: string;
  account?: string;
  maxRunning?: number;
  sbatchExtra: string[];
  image?: string;
  claim: string;
  workdir: string;
  parallelism?: number;
}

const USAGE = 'usage: npm run sweep -- <grid> [--profile smoke|quick|long|paper] [--workers N | --shard i/n | --slurm … | --status | --resubmit-failed | --kubernetes --image IMG | --list] (see scripts/sweep.ts)';

function positiveInt(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> & { sbatchExtra: string[] } = { sbatchExtra: [], nodeCounts: [], workers: 1, json: false, reverse: false, dryRun: false, claim: 'bnlab-runs', workdir: '/bnlab' };
  const modes: Mode[] = [];
  const value = (i: number) => {
    if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value\n${USAGE}`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const take = () => (inline !== undefined ? inline : value(i++));
    switch (flag) {
      case '--profile': {
        const p = take();
        if (!(PROFILES as readonly string[]).includes(p)) throw new Error(`--profile must be one of ${PROFILES.join(', ')}, got ${p}`);
        a.profile = p as ProfileName;
        break;
      }
      case '--store': a.store = take(); break;
      case '--shard': a.shard = take(); modes.push('shard'); break;
      case '--workers': a.workers = positiveInt(flag, take()); modes.push('local'); break;
      case '--threads': a.threads = positiveInt(flag, take()); break;
      case '--slurm': modes.push('slurm'); break;
      case '--status': modes.push('status'); break;
      case '--resubmit-failed': modes.push('resubmit'); break;
      case '--kubernetes': modes.push('kubernetes'); break;
      case '--list': modes.push('list'); break;
      case '--json': a.json = true; break;
      case '--reverse': a.reverse = true; break;
      case '--dry-run': a.dryRun = true; break;
      case '--nodes': {
        a.nodeCounts = take().split(',').map((x) => positiveInt(flag, x));
        break;
      }
      case '--estimate': {
        const ms = Number(take());
        if (!(ms > 0)) throw new Error(`--estimate needs the measured milliseconds per training step (npm run bench -- --depth D gives it)`);
        a.msPerStep = ms;
        modes.push('estimate');
        break;
      }
      case '--shards': a.shards = positiveInt(flag, take()); break;
      case '--cpus': a.cpus = positiveInt(flag, take()); break;
      case '--partition': a.partition = take(); break;
      case '--time': a.time = take(); break;
      case '--mem': a.mem = take(); break;
      case '--account': a.account = take(); break;
      case '--max-running': a.maxRunning = positiveInt(flag, take()); break;
      case '--sbatch': a.sbatchExtra.push(take()); break;
      case '--image': a.image = take(); break;
      case '--claim': a.claim = take(); break;
      case '--workdir': a.workdir = take(); break;
      case '--parallelism': a.parallelism = positiveInt(flag, take()); break;
      case '--help': case '-h': console.log(USAGE); process.exit(0);
      default:
        if (arg.startsWith('-')) throw new Error(`unknown option ${arg}\n${USAGE}`);
        if (a.grid) throw new Error(`one grid at a time (got ${a.grid} and ${arg})`);
        a.grid = arg;
    }
  }
  if (!a.grid) throw new Error(`which grid? ${USAGE}`);
  const distinct = [...new Set(modes)];
  if (distinct.length > 1) throw new Error(`choose one of ${distinct.map((m) => `--${m}`).join(', ')}`);
  return { ...(a as Args), mode: distinct[0] ?? 'local', profile: a.profile ?? activeProfile() };
}

/** The grid file, and how the scripts it writes name it: relative to the project root when inside it (every node runs from there). */
function resolveGrid(arg: string): { file: string; arg: string } {
  const file = resolveGridFile(arg);
  const rel = path.relative(root, file);
  return { file, arg: rel.startsWith('..') ? file : rel };
}

function storeFor(a: Args): RunStore {
  if (a.store) {
    process.env.BNLAB_RUNS_DIR = path.resolve(a.store);
    return new RunStore(path.resolve(a.store));
  }
  return defaultStore();
}

const log = (line: string) => process.stderr.write(line + '\n');

/** Writes the sweep's expansion beside its scripts: what was asked, for the record. */
function writeSweepRecord(dir: string, grid: Grid, gridArg: string, store: RunStore): void {
  const record = {
    name: grid.definition.name,
    profile: grid.profile,
    grid: gridArg,
    definition: grid.definition,
    runs: grid.runs.map((r) => ({ index: r.index, key: store.key(r.runSpec), label: r.spec.label, point: r.point })),
    writtenAt: new Date().toISOString(),
  };
  writeFileAtomic(path.join(dir, 'sweep.json'), JSON.stringify(record, null, 2) + '\n');
}

async function runLocalWorkers(a: Args, gridArg: string, store: RunStore, runCount: number): Promise<number> {
  const n = Math.min(a.workers, runCount);
  // Each worker gets its share of the cores, so N workers never run N × cores threads.
  const threads = profileThreads(a.profile) ?? a.threads ?? Math.max(1, Math.floor(os.cpus().length / n));
  log(`[sweep] ${runCount} runs in ${n} worker process(es), ${threads} TensorFlow thread(s) each, store ${store.dir}`);
  const children = Array.from({ length: n }, (_, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'sweep.ts'), gridArg, '--profile', a.profile, '--shard', `${i}/${n}`, '--threads', String(threads)], {
      cwd: root,
      env: withHugePages({ ...process.env, BNLAB_RUNS_DIR: store.dir, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' }),
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    onLines(child.stderr, (l) => log(n > 1 ? `w${i} ${l}` : l));
    return new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  });
  // Ctrl-C reaches the workers too (one process group): each records its interrupted run; we wait for them.
  process.on('SIGINT', () => undefined);
  const codes = await Promise.all(children);
  return Math.max(0, ...codes);
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const { file, arg: gridArg } = resolveGrid(a.grid);

  // Thread pools are sized before TensorFlow loads: it reads the sizes once, at start.
  // A profile that fixes its count (quick: 1) keeps it, so that a sweep's runs are the notebook's.
  if (a.mode === 'shard') {
    const threads = profileThreads(a.profile) ?? shardThreads(process.env, a.threads);
    if (threads) sizeThreadPools(threads);
  }
  const store = storeFor(a);
  await initBackend({ quiet: a.mode !== 'shard' });
  const grid = readGrid(file, a.profile);
  const dir = sweepDir(store, grid.definition.name, grid.profile);

  switch (a.mode) {
    case 'estimate': {
      const e = estimateSweep(grid.runs, a.msPerStep!, a.nodeCounts.length ? a.nodeCounts : [1, 8, 16, grid.runs.length]);
      const h = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
      console.log(`${grid.definition.name} (profile ${grid.profile}): ${e.runs} runs of up to ${Math.max(...e.stepsPerRun).toLocaleString('en')} training steps, at ${a.msPerStep} ms a step`);
      console.log(`  longest run: ${h(e.hoursPerRun)} h (training, plus a test-split evaluation each epoch); all runs: ${h(e.nodeHours)} node-hours`);
      for (const w of e.wall) console.log(`  on ${w.nodes} node(s), one run each at a time, in grid order: ${h(w.hours)} h wall (${h(w.hours / 24)} days)`);
      console.log('  an upper bound: a run that diverges stops early');
      return 0;
    }
    case 'list': {
      const shards = a.shards ?? 1;
      for (const r of grid.runs) console.log(`${String(r.index).padStart(3)}  shard ${shardOf(r, shards)}  ${store.key(r.runSpec)}  ${r.spec.label}`);
      return 0;
    }
    case 'shard': {
      const shard = parseShard(a.shard!);
      const threads = process.env.TF_NUM_INTRAOP_THREADS;
      log(`[sweep] shard ${shard.index}/${shard.count} on ${os.hostname()} (pid ${process.pid}), TensorFlow threads: ${threads ?? 'default (all cores)'}`);
      const outcomes = await runShard(grid, shard, { store, log, handleSignals: true, reverse: a.reverse });
      return outcomes.some((o) => o.outcome === 'failed') ? 1 : 0;
    }
    case 'local':
      return runLocalWorkers(a, gridArg, store, grid.runs.length);
    case 'slurm': {
      const shards = Math.min(a.shards ?? a.nodeCounts[0] ?? grid.runs.length, grid.runs.length);
      const options: SlurmOptions = { shards, cpus: a.cpus ?? 2, partition: a.partition, time: a.time, mem: a.mem, account: a.account, maxRunning: a.maxRunning, extra: a.sbatchExtra.map((x) => (x.startsWith('--') ? x : `--${x}`)) };
      fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
      writeSweepRecord(dir, grid, gridArg, store);
      const script = sbatchScript({
        jobName: `bnlab-${grid.definition.name}-${grid.profile}`,
        projectDir: root,
        storeDir: store.dir,
        logDir: path.join(dir, 'logs'),
        gridArg,
        profile: grid.profile,
        runs: grid.runs.length,
        node: process.execPath,
        command: `npm run sweep -- ${process.argv.slice(2).join(' ')}`,
        options,
      });
      const draft = path.join(dir, 'next.sbatch');
      writeFileAtomic(draft, script);
      if (a.dryRun) {
        console.log(script);
        log(`[sweep] dry run: script written to ${draft}, nothing submitted`);
        return 0;
      }
      const jobId = sbatch(draft);
      // Slurm keeps its own copy of a submitted script; ours is named after the job, for the record.
      const kept = path.join(dir, `job-${jobId}.sbatch`);
      fs.renameSync(draft, kept);
      appendSubmission(dir, { jobId, shards, script: kept, submittedAt: new Date().toISOString() });
      log(`[sweep] submitted ${grid.runs.length} runs as array job ${jobId} (${shards} tasks, ${options.cpus} CPU(s) each); script ${kept}, logs ${path.join(dir, 'logs')}`);
      log(`[sweep] follow it with: npm run sweep -- ${gridArg} --profile ${grid.profile} --status`);
      console.log(jobId);
      return 0;
    }
    case 'status':
    case 'resubmit': {
      const submissions = readSubmissions(dir);
      const last = submissions[submissions.length - 1];
      const shards = last?.shards ?? a.shards ?? 1;
      let tasks: ReturnType<typeof squeueTasks> = [];
      if (submissions.length) {
        try {
          tasks = squeueTasks([...new Set(submissions.map((s) => s.jobId))]);
        } catch (err) {
          log(`[sweep] cannot ask Slurm (${(err as Error).message}); the states below come from the store alone`);
        }
      }
      const statuses = runStatuses(grid.runs, store, shards, tasks, submissions);
      if (a.mode === 'status') {
        if (a.json) console.log(JSON.stringify({ name: grid.definition.name, profile: grid.profile, shards, jobs: submissions.map((s) => s.jobId), runs: statuses }, null, 2));
        else console.log(`${grid.definition.name} (profile ${grid.profile}): ${grid.runs.length} runs in ${shards} shard(s)${submissions.length ? `; Slurm job(s) ${submissions.map((s) => s.jobId).join(', ')}` : ''}\n${formatStatusTable(statuses)}`);
        return 0;
      }
      if (!last) throw new Error(`${grid.definition.name} (profile ${grid.profile}) was never submitted to Slurm from this store (${dir}); submit it with --slurm`);
      const indices = shardsToResubmit(statuses);
      if (indices.length === 0) {
        log('[sweep] nothing to resubmit: every run is done, running or pending');
        return 0;
      }
      const missing = statuses.filter((s) => indices.includes(s.shard) && (s.state === 'failed' || s.state === 'missing'));
      log(`[sweep] ${missing.length} run(s) failed or missing, in shard(s) ${indices.join(', ')} of ${shards}`);
      if (a.dryRun) return 0;
      const jobId = sbatch(last.script, { indices });
      appendSubmission(dir, { jobId, indices, shards, script: last.script, submittedAt: new Date().toISOString() });
      log(`[sweep] resubmitted shard(s) ${indices.join(', ')} as job ${jobId}`);
      console.log(jobId);
      return 0;
    }
    case 'kubernetes': {
      if (!a.image) throw new Error('--kubernetes needs --image: an image with this project (npm ci and npm run setup done) at --workdir');
      const shards = Math.min(a.shards ?? grid.runs.length, grid.runs.length);
      const manifest = indexedJobManifest({
        name: `bnlab-${grid.definition.name}-${grid.profile}`,
        gridArg,
        profile: grid.profile,
        image: a.image,
        workdir: a.workdir,
        claim: a.claim,
        shards,
        parallelism: a.parallelism ?? shards,
        cpus: a.cpus ?? 2,
        memory: a.mem,
        retriesPerIndex: 2,
      });
      const out = path.join(dir, 'indexed-job.json');
      writeFileAtomic(out, JSON.stringify(manifest, null, 2) + '\n');
      log(`[sweep] Kubernetes Indexed Job written to ${out} (${shards} pods). Apply it with: kubectl apply -f ${out}`);
      console.log(out);
      return 0;
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`[sweep] ${(err as Error).message}`);
    process.exit(2);
  },
);
