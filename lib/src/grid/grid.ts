/**
 * Experiment grids as data. A grid file (JSON, in notebooks/grids/) declares
 * the axes of a sweep once; `expandGrid` turns it into a deterministic,
 * ordered list of training runs. The notebook that reads the grid and
 * `npm run sweep`, which trains it in shards (locally, under Slurm or as a
 * Kubernetes Indexed Job), use this same expansion, so a run trained by a
 * shard on a cluster node has the key the notebook later asks the store for.
 *
 *   {
 *     "name": "rq1-lr-sweep",
 *     "base": "lr-sweep",
 *     "axes": [
 *       { "norm": ["batch"], "learningRate": [0.1, 0.01], "seed": { "smoke": [1], "quick": [1], "paper": [1, 2, 3] } },
 *       { "norm": ["none"], "learningRate": [0.01, 0.001], "seed": [1] }
 *     ]
 *   }
 *
 * `axes` is one product of axes or a list of products, expanded in order;
 * within a product the last axis varies fastest (as itertools.product). An
 * axis's values are a list, or a list per profile. Axis names are the sweep
 * point's `norm`, `learningRate`, `seed` and `groups` (group norm's only), the shorthands in AXIS_PATHS,
 * or a dotted path into the run spec (`train.epochs`, `model.init.scheme`)
 * that the base setting already has.
 */
import fs from 'node:fs';
import path from 'node:path';
import { activeProfile, PROFILES, ProfileName } from '../experiments/profile';
import { trainRunSpec, TrainRunSpec } from '../experiments/runs';
import { lrSweepBase, SweepPoint, sweepSpec } from '../experiments/sweep';
import { Normaliser, NORMALISERS } from '../models/norm';
import type { RunSpec } from '../store';

export type AxisValue = number | string | boolean;
/** An axis's values: one list for every profile, or a list per profile. */
export type AxisValues =
  readonly AxisValue[] | Readonly<Record<Exclude<ProfileName, 'long'>, readonly AxisValue[]> & { long?: readonly AxisValue[] }>;
export type GridAxes = Readonly<Record<string, AxisValues>>;

export interface GridDefinition {
  /** Names the sweep (its folder in the store, the Slurm job); lower-case letters, digits and dashes. */
  name: string;
  description?: string;
  /** The setting every run starts from; see GRID_BASES. */
  base: GridBaseName;
  /** One product of axes, or several expanded one after another. */
  axes: GridAxes | readonly GridAxes[];
}

/**
 * The settings a grid can start from. 'lr-sweep' is the RQ1/RQ4 sweep
 * (`lrSweepBase`): its runs are built by `sweepSpec`, so a grid run and the
 * notebooks' own runs of the same point share a key.
 */
export const GRID_BASES = {
  'lr-sweep': { requiredAxes: ['norm', 'learningRate', 'seed'] as const },
} as const;
export type GridBaseName = keyof typeof GRID_BASES;

/** Shorthand axis names and the spec paths they set. */
export const AXIS_PATHS: Readonly<Record<string, string>> = {
  depth: 'model.depth',
  width: 'model.width',
  epochs: 'train.epochs',
  batchSize: 'train.batchSize',
  weightDecay: 'train.weightDecay',
  momentum: 'train.momentum',
  trainSize: 'data.trainSize',
};

/** One run of an expanded grid. */
export interface GridRun {
  /** Its position in the expansion: what shards divide. */
  index: number;
  /** The axis values of this run, e.g. { norm: 'batch', learningRate: 0.1, seed: 1 }. */
  point: Readonly<Record<string, AxisValue>>;
  spec: TrainRunSpec;
  /** What the run store keys it by (`store.key(run.runSpec)`). */
  runSpec: RunSpec;
}

export interface Grid {
  definition: GridDefinition;
  profile: ProfileName;
  /** The file it was read from, if any. */
  file?: string;
  runs: GridRun[];
}

class GridError extends Error {
  constructor(source: string, message: string) {
    super(`grid ${source}: ${message}`);
    this.name = 'GridError';
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkValues(source: string, axis: string, v: unknown, where: string): readonly AxisValue[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new GridError(source, `axis ${axis}${where} must be a non-empty list of values, got ${JSON.stringify(v)}`);
  for (const x of v) {
    if (!['number', 'string', 'boolean'].includes(typeof x) || (typeof x === 'number' && !Number.isFinite(x))) {
      throw new GridError(source, `axis ${axis}${where} holds ${JSON.stringify(x)}; values are finite numbers, strings or booleans`);
    }
  }
  if (new Set(v.map((x) => JSON.stringify(x))).size !== v.length)
    throw new GridError(source, `axis ${axis}${where} repeats a value: ${JSON.stringify(v)}`);
  return v as AxisValue[];
}

/** Checks a parsed grid file, with errors that name the file and the field. */
export function parseGrid(value: unknown, source = '(inline)'): GridDefinition {
  if (!isPlainObject(value)) throw new GridError(source, 'must be a JSON object with name, base and axes');
  const { name, description, base, axes } = value;
  const unknown = Object.keys(value).filter((k) => !['name', 'description', 'base', 'axes', '$comment'].includes(k));
  if (unknown.length) throw new GridError(source, `unknown field(s) ${unknown.join(', ')}; a grid has name, description, base and axes`);
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(name))
    throw new GridError(source, `name must be lower-case letters, digits and dashes, got ${JSON.stringify(name)}`);
  if (description !== undefined && typeof description !== 'string') throw new GridError(source, 'description must be a string');
  if (typeof base !== 'string' || !(base in GRID_BASES))
    throw new GridError(source, `base must be one of ${Object.keys(GRID_BASES).join(', ')}, got ${JSON.stringify(base)}`);
  const products = Array.isArray(axes) ? axes : [axes];
  if (products.length === 0) throw new GridError(source, 'axes is empty');
  const required = GRID_BASES[base as GridBaseName].requiredAxes;
  products.forEach((p, i) => {
    const where = Array.isArray(axes) ? `axes[${i}]` : 'axes';
    if (!isPlainObject(p)) throw new GridError(source, `${where} must be an object from axis name to values`);
    for (const r of required)
      if (!(r in p)) throw new GridError(source, `${where} has no axis ${r}; base ${base} needs ${required.join(', ')}`);
    for (const [axis, v] of Object.entries(p)) {
      if (isPlainObject(v)) {
        // `long` may be left out: it then takes quick's values (as byProfile does).
        const missing = PROFILES.filter((pr) => pr !== 'long' && !(pr in v));
        const extra = Object.keys(v).filter((k) => !(PROFILES as readonly string[]).includes(k));
        if (missing.length || extra.length)
          throw new GridError(
            source,
            `${where}.${axis}: per-profile values need ${PROFILES.filter((pr) => pr !== 'long').join(', ')} (and optionally long)${extra.length ? `, not ${extra.join(', ')}` : ''}`,
          );
        for (const pr of PROFILES) if (pr in v) checkValues(source, axis, v[pr], ` (${pr})`);
      } else checkValues(source, axis, v, '');
    }
    if (p.norm !== undefined) {
      for (const n of valuesFor(p.norm as AxisValues, null))
        if (!(NORMALISERS as readonly AxisValue[]).includes(n))
          throw new GridError(source, `${where}.norm: ${JSON.stringify(n)} is not one of ${NORMALISERS.join(', ')}`);
    }
  });
  return { name, ...(description !== undefined ? { description } : {}), base: base as GridBaseName, axes: axes as GridDefinition['axes'] };
}

/** Reads and checks a grid file. */
export function readGridFile(file: string): GridDefinition {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new GridError(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new GridError(file, `is not valid JSON: ${(err as Error).message}`);
  }
  return parseGrid(json, file);
}

/** All values of an axis in one profile (every profile's, in order, when `profile` is null). */
function valuesFor(v: AxisValues, profile: ProfileName | null): readonly AxisValue[] {
  if (Array.isArray(v)) return v;
  const per = v as Partial<Record<ProfileName, readonly AxisValue[]>>;
  const of = (p: ProfileName) => per[p] ?? (p === 'long' ? per.quick! : []);
  return profile ? of(profile) : PROFILES.flatMap(of);
}

function cartesian(axes: [string, readonly AxisValue[]][]): Record<string, AxisValue>[] {
  let points: Record<string, AxisValue>[] = [{}];
  for (const [axis, values] of axes) points = points.flatMap((p) => values.map((v) => ({ ...p, [axis]: v })));
  return points;
}

/** Sets a dotted path the base spec already has (so a typo is an error, not a silently ignored field). */
function setPath(source: string, spec: TrainRunSpec, axis: string, dotted: string, value: AxisValue): void {
  const parts = dotted.split('.');
  if (!['data', 'model', 'train'].includes(parts[0]) || parts.length < 2)
    throw new GridError(source, `axis ${axis}: ${dotted} is not a path into the run spec (data.…, model.… or train.…)`);
  let node: Record<string, unknown> = spec as unknown as Record<string, unknown>;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!isPlainObject(next)) throw new GridError(source, `axis ${axis}: the base setting has no ${dotted}`);
    node = next;
  }
  const leaf = parts[parts.length - 1];
  if (!(leaf in node))
    throw new GridError(source, `axis ${axis}: the base setting has no ${dotted} (it has ${Object.keys(node).join(', ')})`);
  node[leaf] = value;
}

/** The spec of one grid point: copy-on-write over the base's spec. */
function specOf(source: string, profile: ProfileName, point: Record<string, AxisValue>): TrainRunSpec {
  const base = lrSweepBase(profile);
  const { norm, learningRate, seed, groups, ...rest } = point;
  if (groups !== undefined && !(typeof groups === 'number' && Number.isInteger(groups) && groups >= 1))
    throw new GridError(source, `groups must be a positive integer, got ${JSON.stringify(groups)}`);
  if (groups !== undefined && norm !== 'group')
    throw new GridError(source, `groups is group norm's option; a point with norm ${JSON.stringify(norm)} cannot set it`);
  if (typeof learningRate !== 'number' || !(learningRate > 0))
    throw new GridError(source, `learningRate must be a positive number, got ${JSON.stringify(learningRate)}`);
  if (typeof seed !== 'number' || !Number.isInteger(seed))
    throw new GridError(source, `seed must be an integer, got ${JSON.stringify(seed)}`);
  const spec = structuredClone(
    sweepSpec(base, { norm: norm as Normaliser, learningRate, seed, ...(groups === undefined ? {} : { groups }) }),
  );
  const extra: string[] = [];
  for (const [axis, value] of Object.entries(rest)) {
    setPath(source, spec, axis, AXIS_PATHS[axis] ?? axis, value);
    extra.push(`${axis} ${value}`);
  }
  if (extra.length) spec.label = `${spec.label}, ${extra.join(', ')}`;
  return spec;
}

/**
 * The runs of a grid in one profile, in a fixed order: products in the
 * order given, within each the last axis fastest. A point that appears in
 * two products is one run (its first position).
 */
export function expandGrid(def: GridDefinition, opts: { profile?: ProfileName; source?: string } = {}): GridRun[] {
  const profile = opts.profile ?? activeProfile();
  const source = opts.source ?? def.name;
  const products: readonly GridAxes[] = Array.isArray(def.axes) ? def.axes : [def.axes as GridAxes];
  const seen = new Set<string>();
  const runs: GridRun[] = [];
  for (const product of products) {
    for (const point of cartesian(Object.entries(product).map(([a, v]): [string, readonly AxisValue[]] => [a, valuesFor(v, profile)]))) {
      const spec = specOf(source, profile, point);
      const runSpec = trainRunSpec(spec, profile);
      const id = JSON.stringify(runSpec.config);
      if (seen.has(id)) continue;
      seen.add(id);
      runs.push({ index: runs.length, point, spec, runSpec });
    }
  }
  return runs;
}

/** The project's grids: notebooks/grids (lib is compiled to lib/dist, or run from lib/src: both two levels below lib). */
export const GRIDS_DIR = path.resolve(__dirname, '..', '..', '..', 'notebooks', 'grids');

/**
 * A grid file from a path, or from a name of one in notebooks/grids
 * ('rq1-lr-sweep'), so a notebook finds its grid wherever it runs (a fork
 * in another folder included).
 */
export function resolveGridFile(nameOrPath: string): string {
  const candidates = [path.resolve(nameOrPath), path.join(GRIDS_DIR, nameOrPath), path.join(GRIDS_DIR, `${nameOrPath}.json`)];
  const file = candidates.find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
  if (file) return file;
  const known = fs.existsSync(GRIDS_DIR)
    ? fs
        .readdirSync(GRIDS_DIR)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.replace(/\.json$/, ''))
    : [];
  throw new Error(`no grid file ${nameOrPath}${known.length ? `; the grids in notebooks/grids are ${known.join(', ')}` : ''}`);
}

/** Reads a grid (a file, or a name in notebooks/grids) and expands it for the active (or given) profile. */
export function readGrid(nameOrPath: string, profile: ProfileName = activeProfile()): Grid {
  const file = resolveGridFile(nameOrPath);
  const definition = readGridFile(file);
  return { definition, profile, file, runs: expandGrid(definition, { profile, source: file }) };
}

/** The sweep point of a run of an 'lr-sweep' grid, typed: what the RQ1/RQ4 analyses take. */
export function sweepPointOf(run: GridRun): SweepPoint {
  const { norm, learningRate, seed } = run.point;
  return { norm: norm as SweepPoint['norm'], learningRate: learningRate as number, seed: seed as number };
}

// ---------------------------------------------------------------------------
// Shards

export interface Shard {
  /** 0-based, as Slurm's array task ids and Kubernetes' completion indices. */
  index: number;
  count: number;
}

/** Where a shard index comes from when `--shard auto/n` is given: Slurm's array task, then a Kubernetes Indexed Job's pod. */
export const SHARD_INDEX_VARIABLES = ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX'] as const;

/**
 * Parses `i/n` (or `auto/n`, with i from SHARD_INDEX_VARIABLES). The count
 * is always explicit: SLURM_ARRAY_TASK_COUNT shrinks when only some indices
 * are resubmitted, and the split must not change with it.
 */
export function parseShard(text: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const m = /^(\d+|auto)\/(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`--shard must be i/n (0 ≤ i < n) or auto/n, got ${JSON.stringify(text)}`);
  const count = Number(m[2]);
  let index: number;
  if (m[1] === 'auto') {
    const name = SHARD_INDEX_VARIABLES.find((v) => env[v] !== undefined && env[v] !== '');
    if (!name) throw new Error(`--shard auto/${count}: none of ${SHARD_INDEX_VARIABLES.join(', ')} is set`);
    index = Number(env[name]);
    if (!Number.isInteger(index)) throw new Error(`--shard auto/${count}: ${name}=${env[name]} is not an integer`);
  } else index = Number(m[1]);
  if (count < 1 || index < 0 || index >= count) throw new Error(`--shard ${text}: need 0 ≤ i < n and n ≥ 1`);
  return { index, count };
}

/** The runs of one shard: every count-th run from its index, so each shard gets a mix of the grid's settings. */
export function shardRuns<T extends { index: number }>(runs: readonly T[], shard: Shard): T[] {
  return runs.filter((r) => shardOf(r, shard.count) === shard.index);
}

/** Which shard a run belongs to. */
export function shardOf(run: { index: number }, count: number): number {
  return run.index % count;
}

/** The axis values a grid takes in a profile, e.g. the learning rates of its BN runs. */
export function gridValues(grid: Grid, axis: string, where: Record<string, AxisValue> = {}): AxisValue[] {
  const out: AxisValue[] = [];
  for (const r of grid.runs) {
    if (Object.entries(where).every(([k, v]) => r.point[k] === v) && r.point[axis] !== undefined && !out.includes(r.point[axis]))
      out.push(r.point[axis]);
  }
  return out;
}
