/**
 * What each run of a sweep is doing, from two sources: the run store (a
 * record, a failure, a running marker) and the scheduler (what squeue says
 * of each array task). Neither alone is enough: a task killed with SIGKILL
 * leaves a running marker no one will remove, and a pending task has
 * written nothing yet.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { shardOf, type GridRun } from '../../lib/src/grid';
import type { RunningMarker, RunStore } from '../../lib/src/store';
import type { ArrayTaskState } from './slurm';

export type RunState = 'done' | 'running' | 'pending' | 'failed' | 'missing';

export interface RunStatus {
  index: number;
  shard: number;
  key: string;
  label: string;
  state: RunState;
  /** done: completed or diverged; failed: the error's first line or "interrupted"; running: where. */
  detail: string;
}

/** A submission of the sweep to Slurm, as kept in its folder. */
export interface Submission {
  jobId: string;
  /** The array indices submitted; all of 0..shards-1 when absent. */
  indices?: number[];
  shards: number;
  script: string;
  submittedAt: string;
}

/** The folder of a sweep in the store: its expansion, scripts, submissions and task logs. */
export function sweepDir(store: RunStore, name: string, profile: string): string {
  return path.join(store.dir, 'sweeps', `${name}-${profile}`);
}

export function readSubmissions(dir: string): Submission[] {
  const file = path.join(dir, 'submissions.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Submission);
}

/** Appends one line: only the submitting process writes this file, and appends never rewrite what is there. */
export function appendSubmission(dir: string, s: Submission): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, 'submissions.jsonl'), JSON.stringify(s) + '\n');
}

const LIVE_TASK_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'REQUEUED', 'RESIZING', 'SUSPENDED']);

/** Each shard's latest task state: later submissions of an index supersede earlier ones. */
export function latestTaskStates(submissions: Submission[], tasks: ArrayTaskState[]): Map<number, ArrayTaskState> {
  const order = new Map(submissions.map((s, i) => [s.jobId, i]));
  const out = new Map<number, ArrayTaskState>();
  for (const t of tasks) {
    const prev = out.get(t.task);
    if (!prev || (order.get(t.jobId) ?? -1) >= (order.get(prev.jobId) ?? -1)) out.set(t.task, t);
  }
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether whoever wrote a running marker is still at it, as far as this machine can tell. */
function markerAlive(m: RunningMarker, tasks: ArrayTaskState[]): boolean | 'unknown' {
  if (m.scheduler?.system === 'slurm') {
    const { arrayJobId, arrayTaskId, jobId } = m.scheduler;
    const t = tasks.find((x) => (arrayJobId !== undefined ? x.jobId === arrayJobId && x.task === arrayTaskId : x.jobId === jobId));
    if (t) return t.state === 'RUNNING' || t.state === 'COMPLETING';
    // Slurm forgot the job, or we did not ask about it: on this host we can still check the process.
    return m.hostname === os.hostname() ? pidAlive(m.pid) : false;
  }
  if (m.hostname === os.hostname()) return pidAlive(m.pid);
  return 'unknown';
}

export function runStatuses(runs: GridRun[], store: RunStore, shards: number, tasks: ArrayTaskState[], submissions: Submission[] = []): RunStatus[] {
  const latest = latestTaskStates(submissions, tasks);
  return runs.map((run) => {
    const shard = shardOf(run, shards);
    const base = { index: run.index, shard, key: store.key(run.runSpec), label: run.spec.label ?? '' };
    const rec = store.get(run.runSpec);
    if (rec) return { ...base, state: 'done', detail: `${rec.status}${rec.environment.scheduler?.system === 'slurm' && rec.environment.scheduler.node ? ` on ${rec.environment.scheduler.node}` : ` on ${rec.environment.hostname}`}, ${rec.seconds.toFixed(1)} s` };
    const marker = store.running(run.runSpec);
    const alive = marker ? markerAlive(marker, tasks) : false;
    if (marker && alive !== false) {
      const where = marker.scheduler?.system === 'slurm' ? `job ${marker.scheduler.arrayJobId ?? marker.scheduler.jobId}_${marker.scheduler.arrayTaskId ?? ''} on ${marker.scheduler.node ?? marker.hostname}` : `pid ${marker.pid} on ${marker.hostname}`;
      return { ...base, state: 'running', detail: `${where} since ${marker.startedAt}${alive === 'unknown' ? ' (cannot check from here)' : ''}` };
    }
    const task = latest.get(shard);
    const failure = store.failure(run.runSpec);
    // A task still at work will get to this run, unless it already tried it and failed.
    const failedInThisTask = failure && task?.start && new Date(failure.failedAt) >= task.start;
    if (task && LIVE_TASK_STATES.has(task.state) && !failedInThisTask) {
      return { ...base, state: 'pending', detail: `task ${task.jobId}_${task.task} ${task.state}${task.node ? ` on ${task.node}` : ''}` };
    }
    if (marker) return { ...base, state: 'failed', detail: `interrupted: its process (pid ${marker.pid} on ${marker.hostname}) is gone${task ? `; task ${task.jobId}_${task.task} ${task.state}` : ''}` };
    if (failure) return { ...base, state: 'failed', detail: failure.error.split('\n')[0] + (task ? `; task ${task.jobId}_${task.task} ${task.state}` : '') };
    return { ...base, state: 'missing', detail: task ? `not reached: task ${task.jobId}_${task.task} ${task.state}` : submissions.length ? 'not run' : 'not submitted' };
  });
}

/** Shards with a run that is failed or missing and no task that will still get to it. */
export function shardsToResubmit(statuses: RunStatus[]): number[] {
  const live = new Set(statuses.filter((s) => s.state === 'running' || s.state === 'pending').map((s) => s.shard));
  return [...new Set(statuses.filter((s) => (s.state === 'failed' || s.state === 'missing') && !live.has(s.shard)).map((s) => s.shard))].sort((a, b) => a - b);
}

export function formatStatusTable(statuses: RunStatus[]): string {
  const counts = (['done', 'running', 'pending', 'failed', 'missing'] as RunState[]).map((s) => `${s} ${statuses.filter((x) => x.state === s).length}`).join(' · ');
  const header = ['run', 'shard', 'state', 'key', 'run', 'detail'];
  const rows = statuses.map((s) => [String(s.index), String(s.shard), s.state, s.key, s.label, s.detail]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmt = (r: string[]) => r.map((x, c) => (c < 2 ? x.padStart(widths[c]) : c === r.length - 1 ? x : x.padEnd(widths[c]))).join('  ');
  return [counts, fmt(header), ...rows.map(fmt)].join('\n');
}
