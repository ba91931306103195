/**
 * The reproducibility block: what produced the numbers. Three sources, the
 * first that knows wins:
 *   1. an environment.json the caller passes (--environment FILE), written
 *      where the notebooks ran, e.g. by the script that ran them;
 *   2. the executed notebooks: metadata.bnlab (profile, wall time, run
 *      time, seeds if recorded) and the backend line bnlab prints on stderr
 *      ("[bnlab] backend tensorflow (libtensorflow 2.21.0): …");
 *   3. this machine at export time: git, Node, os, node_modules.
 *
 * environment.json: one JSON object, every key optional:
 *   {
 *     "commit": "603a1f4…", "dirty": false,
 *     "profile": "quick",
 *     "backend": "tensorflow", "libtensorflow": "2.21.0",
 *     "node": "v20.20.2",
 *     "cores": 2, "cpu": "AMD EPYC 7B13, AVX2", "os": "Linux 6.1 x64", "memory": "7.8 GiB",
 *     "seeds": [1, 2]                      (or "1, 2", or { "<notebook>": [1, 2] }),
 *     "versions": { "tslab": "1.0.22" },   (over what node_modules says)
 *     "command": "npm run report",
 *     "<anything else>": "shown as a row of its own"
 *   }
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuVectorExtension } from '../../lib/src/util/cpu';
import { parseJsonTolerant, type Notebook } from './notebook';

export interface EnvironmentFile {
  commit?: string;
  dirty?: boolean | string;
  profile?: string;
  backend?: string;
  libtensorflow?: string;
  node?: string;
  cores?: number | string;
  cpu?: string;
  os?: string;
  memory?: string;
  seeds?: unknown;
  versions?: Record<string, string>;
  command?: string;
  [key: string]: unknown;
}

export interface NotebookRun {
  name: string;
  page: string;
  profile?: string;
  seconds?: number;
  executedAt?: string;
  error?: string | null;
  backend?: string;
  seeds?: string;
  /** Anchor of the cell tagged "parameters", where the seeds are set. */
  parametersAnchor?: string;
  executed: boolean;
}

export interface Environment {
  commit: string;
  dirty: string;
  profile: string;
  backend: string;
  node: string;
  versions: [string, string][];
  machine: string;
  seeds: string;
  command: string;
  exportedAt: string;
  runs: NotebookRun[];
  /** Rows from environment.json keys the exporter does not know, as [label, text]. */
  extra: [string, string][];
}

/** The packages whose versions the block lists (read from node_modules). */
export const REPORTED_PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm', 'tslab', 'typescript', 'vega', 'vega-lite'];

const KNOWN_KEYS = new Set(['commit', 'dirty', 'profile', 'backend', 'libtensorflow', 'node', 'cores', 'cpu', 'os', 'memory', 'seeds', 'versions', 'command', 'machine']);

export function readEnvironmentFile(file: string | undefined): EnvironmentFile {
  if (!file) return {};
  const v = parseJsonTolerant(fs.readFileSync(file, 'utf8'));
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}: expected a JSON object`);
  return v as EnvironmentFile;
}

function git(root: string, args: string[]): string | null {
  const r = spawnSync('git', ['-C', root, ...args], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function packageVersion(root: string, name: string): string | null {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? null;
  } catch {
    return null;
  }
}

const BACKEND_LINE = /\[bnlab\] backend (\S+?)(?: \(libtensorflow ([^)\s]+)\))?:/;

/** The backend a notebook ran on, from the line bnlab.initBackend prints on stderr. */
export function backendOf(nb: Notebook): string | undefined {
  for (const c of nb.cells) {
    for (const o of c.outputs) {
      if (o.output_type !== 'stream') continue;
      const m = BACKEND_LINE.exec(o.text);
      if (m) return m[2] ? `${m[1]} (libtensorflow ${m[2]})` : m[1];
    }
  }
  return undefined;
}

export function formatSeeds(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map((x) => String(x)).join(', ');
  if (typeof v === 'object') return undefined;
  return String(v);
}

function distinct(values: (string | undefined)[]): string[] {
  return [...new Set(values.filter((v): v is string => Boolean(v)))];
}

/**
 * One value when the notebooks that tell agree (a notebook that does not
 * tell is no disagreement), else "name: value" per notebook.
 */
function perNotebook(runs: NotebookRun[], pick: (r: NotebookRun) => string | undefined, unknown: string): string {
  const vs = distinct(runs.map(pick));
  if (vs.length === 0) return unknown;
  if (vs.length === 1) return vs[0];
  return runs.map((r) => `${r.name}: ${pick(r) ?? unknown}`).join('; ');
}

export function collectEnvironment(opts: {
  root: string;
  notebooks: Notebook[];
  pages: Map<Notebook, string>;
  parametersAnchors: Map<Notebook, string | undefined>;
  file: EnvironmentFile;
  now?: Date;
}): Environment {
  const { root, notebooks, file } = opts;
  const fileSeeds = file.seeds;
  const runs: NotebookRun[] = notebooks.map((nb) => {
    const m = nb.metadata.bnlab ?? {};
    const seedsFromFile = fileSeeds && typeof fileSeeds === 'object' && !Array.isArray(fileSeeds) ? formatSeeds((fileSeeds as Record<string, unknown>)[nb.name]) : undefined;
    return {
      name: nb.name,
      page: opts.pages.get(nb)!,
      profile: typeof m.profile === 'string' ? m.profile : undefined,
      seconds: typeof m.seconds === 'number' ? m.seconds : undefined,
      executedAt: typeof m.executedAt === 'string' ? m.executedAt : undefined,
      error: typeof m.error === 'string' ? m.error : null,
      backend: backendOf(nb),
      seeds: seedsFromFile ?? formatSeeds(m.seeds),
      parametersAnchor: opts.parametersAnchors.get(nb),
      executed: nb.metadata.bnlab !== undefined,
    };
  });

  // Git at export time.
  let commit = file.commit;
  let dirty: string;
  if (commit === undefined) commit = git(root, ['rev-parse', 'HEAD']) ?? 'unknown (not a git checkout)';
  if (file.dirty !== undefined) dirty = typeof file.dirty === 'boolean' ? (file.dirty ? 'yes: uncommitted changes' : 'no (clean)') : String(file.dirty);
  else {
    const status = git(root, ['status', '--porcelain', '--untracked-files=no']);
    const untracked = git(root, ['ls-files', '--others', '--exclude-standard']);
    const n = status === null ? null : status.split('\n').filter(Boolean).length;
    const u = untracked === null ? 0 : untracked.split('\n').filter(Boolean).length;
    dirty = n === null ? 'unknown' : n === 0 ? `no (clean${u ? `; ${u} untracked file${u === 1 ? '' : 's'}` : ''})` : `yes: ${n} changed file${n === 1 ? '' : 's'}${u ? `, ${u} untracked` : ''} (at export time)`;
  }

  const profile = file.profile ?? perNotebook(runs, (r) => r.profile, 'unknown');
  const backend = file.backend
    ? file.libtensorflow
      ? `${file.backend} (libtensorflow ${file.libtensorflow})`
      : file.backend
    : perNotebook(runs, (r) => r.backend, 'unknown (no "[bnlab] backend" line in the notebooks)');

  const versions: [string, string][] = [];
  const fileVersions = file.versions && typeof file.versions === 'object' ? file.versions : {};
  for (const name of REPORTED_PACKAGES) {
    const v = fileVersions[name] ?? packageVersion(root, name);
    if (v) versions.push([name, String(v)]);
  }
  for (const [name, v] of Object.entries(fileVersions)) if (!REPORTED_PACKAGES.includes(name)) versions.push([name, String(v)]);

  const cpus = os.cpus();
  const cores = file.cores ?? cpus.length;
  // The vector extension decides which oneDNN kernels ran, and so the last bits of every trained number (lib/src/util/cpu).
  const vector = cpuVectorExtension();
  const cpu = file.cpu ?? [cpus[0]?.model?.trim(), vector].filter(Boolean).join(', ');
  const osText = file.os ?? `${os.type()} ${os.release()} ${os.arch()}`;
  const memory = file.memory ?? `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`;
  const machine = typeof file.machine === 'string' ? file.machine : `${cores} core${Number(cores) === 1 ? '' : 's'}${cpu ? ` (${cpu})` : ''}, ${memory} RAM, ${osText}`;

  const seeds = formatSeeds(Array.isArray(fileSeeds) || typeof fileSeeds !== 'object' ? fileSeeds : undefined) ?? perNotebook(runs, (r) => r.seeds, 'set in each notebook’s parameters cell');

  const extra: [string, string][] = [];
  for (const [k, v] of Object.entries(file)) {
    if (KNOWN_KEYS.has(k) || v === undefined || v === null) continue;
    extra.push([k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
  }

  return {
    commit,
    dirty,
    profile,
    backend,
    node: file.node ?? `${process.version} (at export time)`,
    versions,
    machine,
    seeds,
    command: file.command ?? 'npm ci && npm run report',
    exportedAt: (opts.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    runs,
    extra,
  };
}
