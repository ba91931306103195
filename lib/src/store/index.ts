/**
 * The run store: every training run or measurement is kept as one JSON file
 * under a key derived from its full config, the backend and the code
 * version, so re-executing a notebook (or a forked one with one change)
 * reuses what was already computed and trains only what changed.
 *
 *   runs/<kind>/<key>.json          a complete record, pretty-printed: a
 *                                   person can read and diff it
 *   runs/<kind>/<key>.failed.json   the last error of a run that threw
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

export interface RunSpec {
  /** What sort of run: 'train', 'probe', 'moments', … (a folder of the store). */
  kind: string;
  /** The full config: model, data, training, seed, profile. JSON-serialisable. */
  config: unknown;
}

export interface RunEnvironment {
  backend: string;
  libtensorflow: string | null;
  tfjs: string;
  node: string;
  platform: string;
  cpus: number;
  hostname: string;
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
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
}

function libRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== 'bnlab') {
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
  return {
    backend: b.name,
    libtensorflow: b.libtensorflowVersion,
    tfjs: tf.version_core,
    node: process.versions.node,
    platform: `${os.platform()}-${os.arch()}`,
    cpus: os.cpus().length,
    hostname: os.hostname(),
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

export class RunStore {
  constructor(readonly dir: string) {}

  /** The key of a run: config, backend and code version, hashed. */
  key(spec: RunSpec): string {
    if (!/^[a-z][a-z0-9-]*$/.test(spec.kind)) throw new Error(`run store: kind must be lower-case letters, digits and dashes, got ${JSON.stringify(spec.kind)}`);
    const backend = activeBackend().name;
    return createHash('sha256').update(canonicalJson({ kind: spec.kind, config: spec.config, backend, code: codeVersion() })).digest('hex').slice(0, 16);
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
    const file = this.file(spec.kind, this.key(spec), '.failed.json');
    return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as FailedRun) : null;
  }

  /**
   * Returns the stored record of `spec`, or runs `compute` and stores its
   * result. `compute` returns the result and whether the run diverged. A
   * throw is recorded as a failure (and rethrown); nothing is stored as
   * complete.
   */
  async getOrRun<T>(spec: RunSpec, compute: () => Promise<{ result: T; diverged?: boolean }>, hooks: { onCached?(r: RunRecord<T>): void } = {}): Promise<RunRecord<T>> {
    const cached = this.get<T>(spec);
    if (cached) {
      hooks.onCached?.(cached);
      return cached;
    }
    const key = this.key(spec);
    const startedAt = new Date();
    let out: { result: T; diverged?: boolean };
    try {
      out = await compute();
    } catch (err) {
      const failed: FailedRun = { key, kind: spec.kind, config: spec.config, codeVersion: codeVersion(), error: String((err as Error).stack ?? err), failedAt: new Date().toISOString() };
      writeFileAtomic(this.file(spec.kind, key, '.failed.json'), JSON.stringify(failed, null, 2) + '\n');
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
    writeFileAtomic(this.file(spec.kind, key), JSON.stringify(record, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n');
    fs.rmSync(this.file(spec.kind, key, '.failed.json'), { force: true });
    return record;
  }

  /** Every complete record of a kind (all kinds if omitted). */
  list(kind?: string): RunRecord[] {
    const kinds = kind ? [kind] : fs.existsSync(this.dir) ? fs.readdirSync(this.dir).filter((k) => fs.statSync(path.join(this.dir, k)).isDirectory()) : [];
    return kinds.flatMap((k) => {
      const d = path.join(this.dir, k);
      if (!fs.existsSync(d)) return [];
      return fs
        .readdirSync(d)
        .filter((f) => f.endsWith('.json') && !f.endsWith('.failed.json'))
        .sort()
        .map((f) => JSON.parse(fs.readFileSync(path.join(d, f), 'utf8'), reviveNonFinite) as RunRecord);
    });
  }
}
