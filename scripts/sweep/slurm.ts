/**
 * Slurm, through its own commands only: the sbatch array script a sweep
 * submits, `sbatch` to submit it, and `squeue` to ask what its tasks are
 * doing. bnlab has no scheduler of its own: Slurm's array job is the
 * scheduler, and the run store is the only shared state.
 */
import { spawnSync } from 'node:child_process';
import { HUGE_PAGES_TUNABLE } from '../../lib/src/backend/huge-pages';

export interface SlurmOptions {
  /** Array tasks (shards); task i trains the grid's runs i, i+n, i+2n, … */
  shards: number;
  /** CPUs per task: Slurm's --cpus-per-task, and TensorFlow's thread pools through SLURM_CPUS_PER_TASK. */
  cpus: number;
  partition?: string;
  /** Slurm's time limit per task, e.g. 04:00:00 or 2-00:00:00. */
  time?: string;
  mem?: string;
  account?: string;
  /** At most this many tasks at once (the array's %throttle). */
  maxRunning?: number;
  /** Further #SBATCH lines, verbatim (e.g. --qos=long). */
  extra?: string[];
}

export interface SbatchScriptInput {
  jobName: string;
  /** Absolute: the script runs on other nodes, which share the filesystem. */
  projectDir: string;
  storeDir: string;
  logDir: string;
  /** The grid file as the command line gave it, relative to projectDir or absolute. */
  gridArg: string;
  profile: string;
  runs: number;
  node: string;
  command: string;
  options: SlurmOptions;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The array job script: one task per shard, each running `sweep --shard $SLURM_ARRAY_TASK_ID/n`. */
export function sbatchScript(i: SbatchScriptInput): string {
  const o = i.options;
  const array = `0-${o.shards - 1}${o.maxRunning ? `%${o.maxRunning}` : ''}`;
  const directives = [
    `--job-name=${i.jobName}`,
    `--array=${array}`,
    '--nodes=1',
    '--ntasks=1',
    `--cpus-per-task=${o.cpus}`,
    ...(o.time ? [`--time=${o.time}`] : []),
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.mem ? [`--mem=${o.mem}`] : []),
    ...(o.account ? [`--account=${o.account}`] : []),
    `--output=${i.logDir}/%A_%a.out`,
    ...(o.extra ?? []),
  ];
  return [
    '#!/bin/bash',
    `# ${i.jobName}: ${i.runs} runs of ${i.gridArg} (profile ${i.profile}) in ${o.shards} array tasks.`,
    `# Written by: ${i.command}`,
    '#',
    `# Task i trains the grid's runs i, i+${o.shards}, i+${2 * o.shards}, … in order. A run already complete in`,
    '# the store is skipped, so a task can be resubmitted (npm run sweep -- … --resubmit-failed) and trains',
    '# only what is missing. The shard count is written out below, not taken from SLURM_ARRAY_TASK_COUNT,',
    '# which shrinks when only some indices are resubmitted.',
    ...directives.map((d) => `#SBATCH ${d}`),
    '',
    'set -euo pipefail',
    `cd ${shellQuote(i.projectDir)}`,
    '# The shared run store (a shared filesystem such as NFS): every task writes its runs here, each record',
    '# written to a temporary file and renamed into place, so it appears whole or not at all.',
    `export BNLAB_RUNS_DIR=${shellQuote(i.storeDir)}`,
    `export BNLAB_PROFILE=${shellQuote(i.profile)}`,
    'export TF_CPP_MIN_LOG_LEVEL=2',
    "# TensorFlow's buffers in transparent huge pages (lib/src/backend/huge-pages.ts): other tunables,",
    '# and a glibc.malloc.hugetlb setting of your own, are kept.',
    `case ":\${GLIBC_TUNABLES:-}:" in *:glibc.malloc.hugetlb=*) ;; *) export GLIBC_TUNABLES="\${GLIBC_TUNABLES:+\${GLIBC_TUNABLES}:}${HUGE_PAGES_TUNABLE}" ;; esac`,
    '# TensorFlow sizes its thread pools from SLURM_CPUS_PER_TASK (set by --cpus-per-task above).',
    '# exec: scancel and time limits signal the shard itself, which records the interrupted run as failed.',
    `exec ${shellQuote(i.node)} --import tsx scripts/sweep.ts ${shellQuote(i.gridArg)} --profile ${shellQuote(i.profile)} --shard "\${SLURM_ARRAY_TASK_ID}/${o.shards}"`,
    '',
  ].join('\n');
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  if (r.error) {
    const why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${cmd} is not installed or not on PATH (run this on a Slurm login node)` : r.error.message;
    throw new Error(why);
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Submits a script (optionally only some array indices) and returns the job id. */
export function sbatch(scriptFile: string, opts: { indices?: number[]; env?: NodeJS.ProcessEnv } = {}): string {
  const args = ['--parsable', ...(opts.indices ? [`--array=${compressIndices(opts.indices)}`] : []), scriptFile];
  const r = run('sbatch', args, opts.env);
  if (r.status !== 0) throw new Error(`sbatch ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  // --parsable prints "jobid" or "jobid;cluster"
  const id = r.stdout.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new Error(`sbatch printed ${JSON.stringify(r.stdout)}, not a job id`);
  return id;
}

/** 0,1,2,5,7,8 → "0-2,5,7-8" (Slurm's --array syntax). */
export function compressIndices(indices: number[]): string {
  const s = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let k = 0; k < s.length; ) {
    let j = k;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(j === k ? `${s[k]}` : `${s[k]}-${s[j]}`);
    k = j + 1;
  }
  return parts.join(',');
}

/** One array task as squeue reports it. */
export interface ArrayTaskState {
  jobId: string;
  task: number;
  /** PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, … */
  state: string;
  node: string;
  /** When the task started (squeue's local time), for a running one. */
  start?: Date;
}

/** Expands squeue's task field: "3", or a pending range "[2-5,7%2]". */
export function expandTaskField(field: string): number[] {
  const inner = field.replace(/^\[/, '').replace(/\]$/, '').replace(/%\d+$/, '');
  return inner.split(',').flatMap((part) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return [];
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    return Array.from({ length: b - a + 1 }, (_, k) => a + k);
  });
}

/** Parses `squeue -h -r -t all -o '%F|%K|%T|%N|%S'`. */
export function parseSqueue(text: string): ArrayTaskState[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .flatMap((line) => {
      const [jobId, task, state, node = '', start = ''] = line.split('|');
      // squeue prints the start as local time without a zone, like Date's own parse of that form
      const started = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(start) ? new Date(start) : undefined;
      return expandTaskField(task).map((t) => ({ jobId, task: t, state, node, ...(started ? { start: started } : {}) }));
    });
}

/**
 * The tasks of the given array jobs that Slurm still knows, pending,
 * running or recently ended (squeue -t all shows ended ones for the
 * cluster's MinJobAge). A job Slurm has forgotten is simply absent.
 */
export function squeueTasks(jobIds: string[], env: NodeJS.ProcessEnv = process.env): ArrayTaskState[] {
  if (jobIds.length === 0) return [];
  const r = run('squeue', ['-h', '-r', '-t', 'all', `--jobs=${jobIds.join(',')}`, '-o', '%F|%K|%T|%N|%S'], env);
  // squeue exits non-zero when none of the ids is known any more: nothing to report.
  if (r.status !== 0) {
    if (/Invalid job id/i.test(r.stderr)) return [];
    throw new Error(`squeue failed (exit ${r.status}): ${r.stderr.trim()}`);
  }
  return parseSqueue(r.stdout).filter((t) => jobIds.includes(t.jobId));
}
