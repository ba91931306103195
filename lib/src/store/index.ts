/**
 * The run store: every training run or measurement is kept as one JSON file
 * under a key derived from its full config, the backend and the code
 * version, so re-executing a notebook (or a forked one with one change)
 * reuses what was already computed and trains only what changed.
 *
 *   runs/<kind>/<key>.json          a complete record, pretty-printed: a
 *                                   person can read and diff it
 *   runs/<kind>/<key>.failed.json   the last error of a run that threw
 *   runs/<kind>/<key>.running.json  who is computing it now (host, pid, Slurm
 *                                   job): removed when the run ends, left
 *                                   behind by a process that was killed, so
 *                                   a reader must check it is still alive
 *
 * A record is written to a temporary file and renamed into place, so it
 * appears whole or not at all: an interrupted run leaves no record that
 * looks complete, and the next call simply runs it again. No index file is
 * kept (a listing reads the folder), so concurrent writers never rewrite a
 * shared file.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { activeBackend } from '../backend';
import { loadedThreads } from '../backend/threads';
import { cpuVectorExtension } from '../util/cpu';

export interface RunSpec {
  /** What sort of run: 'train', 'probe', 'moments', … (a folder of the store). */
  kind: string;
  /** The full config: model, data, training, seed, profile. JSON-serialisable. */
  config: unknown;
}

/** The batch system a run was computed under, from the variables it sets. */
export type SchedulerInfo =
  | { system: 'slurm'; jobId: string; arrayJobId?: string; arrayTaskId?: number; node?: string }
  | { system: 'kubernetes'; completionIndex: number; pod: string };

export function schedulerInfo(env: NodeJS.ProcessEnv = process.env): SchedulerInfo | null {
  if (env.SLURM_JOB_ID) {
    return {
      system: 'slurm',
      jobId: env.SLURM_JOB_ID,
      ...(env.SLURM_ARRAY_JOB_ID ? { arrayJobId: env.SLURM_ARRAY_JOB_ID } : {}),
      ...(env.SLURM_ARRAY_TASK_ID ? { arrayTaskId: Number(env.SLURM_ARRAY_TASK_ID) } : {}),
      ...(env.SLURMD_NODENAME ? { node: env.SLURMD_NODENAME } : {}),
    };
  }
  if (env.JOB_COMPLETION_INDEX) return { system: 'kubernetes', completionIndex: Number(env.JOB_COMPLETION_INDEX), pod: os.hostname() };
  return null;
}

export interface RunEnvironment {
  backend: string;
  libtensorflow: string | null;
  tfjs: string;
  node: string;
  platform: string;
  cpus: number;
  /**
   * The CPU's widest vector extension ('AVX-512', 'AVX2', …): TensorFlow's
   * kernels round differently by it, so a run's curves are reproduced bit for
   * bit only on a CPU with the same one (util/cpu). Absent in older records.
   */
  vectorExtension?: string | null;
  /**
   * TensorFlow's intra-op threads (null: its default, every core). Runs on
   * different thread counts round differently (backend/threads). Absent in
   * older records.
   */
  threads?: number | null;
  hostname: string;
  /** Set when the run was computed by a Slurm or Kubernetes job. */
  scheduler?: SchedulerInfo;
}

/** The marker of a run being computed. */
export interface RunningMarker {
  key: string;
  kind: string;
  hostname: string;
  pid: number;
  startedAt: string;
  scheduler?: SchedulerInfo;
}

export interface RunRecord<T = unknown> {
  key: string;
  kind: string;
  config: unknown;
  codeVersion: string;
  status: 'completed' | 'diverged';
  environment: RunEnvironment;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  result: T;
}

export interface FailedRun {
  key: string;
  kind: string;
  config: unknown;
  codeVersion: string;
  error: string;
  failedAt: string;
}

/** JSON with object keys sorted, so equal configs hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, (v as Record<string, unknown>)[k]]),
      );
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
}

function libRoot(): string {
  let dir = __dirname;
  while (
    !fs.existsSync(path.join(dir, 'package.json')) ||
    JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== 'bnlab'
  ) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`run store: cannot find the bnlab package above ${__dirname}`);
    dir = up;
  }
  return dir;
}

function filesUnder(dir: string, ext: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p, ext) : e.name.endsWith(ext) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

let cachedCodeVersion: string | null = null;

/**
 * A hash of lib's TypeScript sources (the science), so a run made by other
 * code is never mistaken for this code's. BNLAB_CODE_VERSION overrides it,
 * e.g. to keep reusing runs across an edit known not to change results.
 */
export function codeVersion(): string {
  if (process.env.BNLAB_CODE_VERSION) return process.env.BNLAB_CODE_VERSION;
  if (cachedCodeVersion) return cachedCodeVersion;
  const root = libRoot();
  const src = path.join(root, 'src');
  const files = fs.existsSync(src) ? filesUnder(src, '.ts') : filesUnder(path.join(root, 'dist'), '.js');
  const h = createHash('sha256');
  for (const f of files.sort()) {
    h.update(path.relative(root, f) + '\0');
    h.update(fs.readFileSync(f));
  }
  cachedCodeVersion = h.digest('hex').slice(0, 12);
  return cachedCodeVersion;
}

export function runEnvironment(): RunEnvironment {
  const b = activeBackend();
  const scheduler = schedulerInfo();
  return {
    backend: b.name,
    libtensorflow: b.libtensorflowVersion,
    tfjs: tf.version_core,
    node: process.versions.node,
    platform: `${os.platform()}-${os.arch()}`,
    cpus: os.cpus().length,
    vectorExtension: cpuVectorExtension(),
    threads: loadedThreads(),
    hostname: os.hostname(),
    ...(scheduler ? { scheduler } : {}),
  };
}

/** JSON has no Infinity or NaN: records store them as strings, and reading turns them back. */
function reviveNonFinite(_key: string, v: unknown): unknown {
  return v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : v;
}

/** Writes `text` to `file` atomically: a temporary file in the same folder, then a rename. */
export function writeFileAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** How often a process waiting for another's run looks for its record. */
const WAIT_POLL_MS = 1000;

/**
 * Writes `marker` to `file` unless a live process of this host holds it;
 * returns that process's marker then, else null (claimed). The marker is
 * written whole to a temporary file and hard-linked into place: a link
 * fails if the name exists, so of two processes claiming at once one wins.
 */
export function claimMarker(file: string, marker: RunningMarker): RunningMarker | null {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  fs.writeFileSync(tmp, JSON.stringify(marker, null, 2) + '\n');
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(tmp, file);
        return null;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let other: RunningMarker | null = null;
      try {
        other = JSON.parse(fs.readFileSync(file, 'utf8')) as RunningMarker;
      } catch {
        other = null; // removed this instant: try again
      }
      if (other && markerIsLive(other)) return other;
      fs.rmSync(file, { force: true }); // stale, or another host's: ours now
    }
    fs.renameSync(tmp, file); // still contended: claim it as before, at worst computing twice
    return null;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Whether a marker's process is alive on this host (and is not this one, nor a later process with its pid). */
export function markerIsLive(m: RunningMarker): boolean {
  if (m.hostname !== os.hostname() || m.pid === process.pid) return false;
  try {
    process.kill(m.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = processStartTime(m.pid);
  // A pid the system reused: the process started after the marker was written.
  return started === null || started <= Date.parse(m.startedAt) + 2000; // btime is whole seconds
}

/** When a process started (ms since the epoch), from /proc on Linux; null elsewhere. */
function processStartTime(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const btime = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(btime)) return null;
    return btime * 1000 + (ticks / 100) * 1000; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** A complete record's file name: the key alone (not .failed, .running or a temporary file). */
const RECORD_FILE = /^[0-9a-f]{16}\.json$/;

export class RunStore {
  constructor(readonly dir: string) {}

  /** The key of a run: config, backend and code version, hashed. */
  key(spec: RunSpec): string {
    if (!/^[a-z][a-z0-9-]*$/.test(spec.kind))
      throw new Error(`run store: kind must be lower-case letters, digits and dashes, got ${JSON.stringify(spec.kind)}`);
    const backend = activeBackend().name;
    return createHash('sha256')
      .update(canonicalJson({ kind: spec.kind, config: spec.config, backend, code: codeVersion() }))
      .digest('hex')
      .slice(0, 16);
  }

  private file(kind: string, key: string, suffix = '.json'): string {
    return path.join(this.dir, kind, key + suffix);
  }

  /** The complete record of a run, or null if there is none (never a partial one). */
  get<T>(spec: RunSpec): RunRecord<T> | null {
    const file = this.file(spec.kind, this.key(spec));
    if (!fs.existsSync(file)) return null;
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8'), reviveNonFinite) as RunRecord<T>;
    } catch (err) {
      throw new Error(`run store: ${file} is not valid JSON (${(err as Error).message}); delete it to recompute that run`);
    }
  }

  failure(spec: RunSpec): FailedRun | null {
    return this.readJson<FailedRun>(this.file(spec.kind, this.key(spec), '.failed.json'));
  }

  /** The marker of a run someone is computing (or was, if it was killed): check `pid`/`scheduler` to tell. */
  running(spec: RunSpec): RunningMarker | null {
    return this.readJson<RunningMarker>(this.file(spec.kind, this.key(spec), '.running.json'));
  }

  private readJson<T>(file: string): T | null {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    } catch {
      // absent, or being replaced this instant: either way there is nothing whole to read
      return null;
    }
  }

  /**
   * Records that a run failed (its error, for whoever looks at the sweep),
   * and clears its running marker. Synchronous, so a signal handler can
   * call it on the way out.
   */
  recordFailure(spec: RunSpec, error: unknown): void {
    const key = this.key(spec);
    const failed: FailedRun = {
      key,
      kind: spec.kind,
      config: spec.config,
      codeVersion: codeVersion(),
      error: String((error as Error)?.stack ?? error),
      failedAt: new Date().toISOString(),
    };
    writeFileAtomic(this.file(spec.kind, key, '.failed.json'), JSON.stringify(failed, null, 2) + '\n');
    fs.rmSync(this.file(spec.kind, key, '.running.json'), { force: true });
  }

  /**
   * Returns the stored record of `spec`, or runs `compute` and stores its
   * result. `compute` returns the result and whether the run diverged. A
   * throw is recorded as a failure (and rethrown); nothing is stored as
   * complete. While it computes, a running marker says who is at it.
   */
  async getOrRun<T>(
    spec: RunSpec,
    compute: () => Promise<{ result: T; diverged?: boolean }>,
    hooks: { onCached?(r: RunRecord<T>): void; onWaiting?(other: RunningMarker): void } = {},
  ): Promise<RunRecord<T>> {
    const key = this.key(spec);
    const markerFile = this.file(spec.kind, key, '.running.json');
    const scheduler = schedulerInfo();
    let startedAt = new Date();
    // Two processes of this machine that need the same run (the report's
    // notebooks side by side, or two open in JupyterLab) compute it once:
    // the first claims it, the other waits for its record. A marker left by
    // a process that has died, or written on another host (a cluster's
    // shards never share a run), does not hold anyone up.
    let told = false;
    for (;;) {
      const cached = this.get<T>(spec);
      if (cached) {
        hooks.onCached?.(cached);
        return cached;
      }
      startedAt = new Date();
      const marker: RunningMarker = {
        key,
        kind: spec.kind,
        hostname: os.hostname(),
        pid: process.pid,
        startedAt: startedAt.toISOString(),
        ...(scheduler ? { scheduler } : {}),
      };
      const other = claimMarker(markerFile, marker);
      if (!other) break;
      if (!told) hooks.onWaiting?.(other);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
    let out: { result: T; diverged?: boolean };
    try {
      out = await compute();
    } catch (err) {
      this.recordFailure(spec, err);
      throw err;
    }
    const finishedAt = new Date();
    const record: RunRecord<T> = {
      key,
      kind: spec.kind,
      config: spec.config,
      codeVersion: codeVersion(),
      status: out.diverged ? 'diverged' : 'completed',
      environment: runEnvironment(),
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      seconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      result: out.result,
    };
    writeFileAtomic(
      this.file(spec.kind, key),
      JSON.stringify(record, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n',
    );
    fs.rmSync(this.file(spec.kind, key, '.failed.json'), { force: true });
    fs.rmSync(markerFile, { force: true });
    return record;
  }

  /** Every complete record of a kind (all kinds if omitted). */
  list(kind?: string): RunRecord[] {
    const kinds = kind
      ? [kind]
      : fs.existsSync(this.dir)
        ? fs.readdirSync(this.dir).filter((k) => fs.statSync(path.join(this.dir, k)).isDirectory())
        : [];
    return kinds.flatMap((k) => {
      const d = path.join(this.dir, k);
      if (!fs.existsSync(d)) return [];
      return fs
        .readdirSync(d)
        .filter((f) => RECORD_FILE.test(f))
        .sort()
        .map((f) => JSON.parse(fs.readFileSync(path.join(d, f), 'utf8'), reviveNonFinite) as RunRecord);
    });
  }
}
