/**
 * Running one shard of a grid: its runs in order, each skipped when the
 * store already has it complete, so a shard can be re-run (resubmitted,
 * retried by Slurm, run twice by mistake) and only trains what is missing.
 * A run that throws is recorded as failed in the store and the shard goes
 * on to its next run; a run that diverges is a result, stored like any other.
 */
import { defaultStore, trainRun } from '../experiments/runs';
import type { ProfileName } from '../experiments/profile';
import { RunStore } from '../store';
import { consoleProgress, TrainCallbacks } from '../train';
import { Grid, GridRun, Shard, shardRuns } from './grid';

export type ShardRunOutcome =
  | { run: GridRun; key: string; outcome: 'skipped' }
  | { run: GridRun; key: string; outcome: 'completed' | 'diverged'; seconds: number }
  | { run: GridRun; key: string; outcome: 'failed'; error: string };

export interface ShardOptions {
  store?: RunStore;
  /** One line per event (stderr by default). */
  log?: (line: string) => void;
  /** Training progress of each run (console lines every 30 s by default). */
  progress?: (label: string) => TrainCallbacks;
  /**
   * Record the run in progress as failed and exit when SIGTERM or SIGINT
   * arrives (scancel, a Slurm time limit, a pod eviction), instead of dying
   * with a running marker and no word in the store. For CLI processes only.
   */
  handleSignals?: boolean;
}

/** Trains the runs of one shard that the store does not have yet. */
export async function runShard(grid: Grid, shard: Shard, opts: ShardOptions = {}): Promise<ShardRunOutcome[]> {
  const store = opts.store ?? defaultStore();
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const progress = opts.progress ?? ((label: string) => consoleProgress(label, { everySeconds: 30, write: log }));
  const profile: ProfileName = grid.profile;
  const mine = shardRuns(grid.runs, shard);
  const tag = `[${grid.definition.name} shard ${shard.index}/${shard.count}]`;
  log(`${tag} ${mine.length} of ${grid.runs.length} runs (profile ${profile}, store ${store.dir})`);

  let current: GridRun | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (current) {
      store.recordFailure(
        current.runSpec,
        new Error(`interrupted by ${signal} (scancel, a time limit, or a stopped worker) during the run`),
      );
      log(`${tag} ${signal}: run ${current.index} (${current.spec.label}) recorded as interrupted`);
    }
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  if (opts.handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  const outcomes: ShardRunOutcome[] = [];
  try {
    for (const run of mine) {
      const key = store.key(run.runSpec);
      if (store.get(run.runSpec)) {
        log(`${tag} run ${run.index} ${key} (${run.spec.label}): already in the store, skipped`);
        outcomes.push({ run, key, outcome: 'skipped' });
        continue;
      }
      current = run;
      log(`${tag} run ${run.index} ${key} (${run.spec.label}): training`);
      try {
        const rec = await trainRun(run.spec, { store, profile, progress });
        const outcome = rec.status === 'diverged' ? 'diverged' : 'completed';
        log(`${tag} run ${run.index} ${key} (${run.spec.label}): ${outcome} in ${rec.seconds.toFixed(1)} s`);
        outcomes.push({ run, key, outcome, seconds: rec.seconds });
      } catch (err) {
        // trainRun has recorded the failure in the store already.
        const error = String((err as Error)?.message ?? err);
        log(`${tag} run ${run.index} ${key} (${run.spec.label}): FAILED: ${error}`);
        outcomes.push({ run, key, outcome: 'failed', error });
      } finally {
        current = null;
      }
    }
  } finally {
    if (opts.handleSignals) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  }
  const count = (o: ShardRunOutcome['outcome']) => outcomes.filter((x) => x.outcome === o).length;
  log(
    `${tag} done: ${count('completed')} completed, ${count('diverged')} diverged, ${count('skipped')} already there, ${count('failed')} failed`,
  );
  return outcomes;
}

/**
 * How many threads a shard gives TensorFlow: what the caller asks for, else
 * BNLAB_THREADS (a Kubernetes pod's CPU limit), else the CPUs Slurm
 * allotted (SLURM_CPUS_PER_TASK); null leaves TF's default, every core of
 * the node, which oversubscribes a node shared by several shards.
 */
export function shardThreads(env: NodeJS.ProcessEnv = process.env, requested?: number): number | null {
  if (requested !== undefined) return requested;
  for (const name of ['BNLAB_THREADS', 'SLURM_CPUS_PER_TASK']) {
    const n = Number(env[name]);
    if (env[name] !== undefined && env[name] !== '') {
      if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${env[name]} is not a positive integer`);
      return n;
    }
  }
  return null;
}

/**
 * Sizes TensorFlow's thread pools (intra-op, inter-op, and OpenMP's, which
 * oneDNN may use) through the variables libtensorflow reads when it starts:
 * call before `initBackend()` loads the native backend. It does nothing to
 * a backend already loaded.
 */
export function sizeThreadPools(threads: number, env: NodeJS.ProcessEnv = process.env): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`thread count must be a positive integer, got ${threads}`);
  env.TF_NUM_INTRAOP_THREADS = String(threads);
  env.TF_NUM_INTEROP_THREADS = String(threads);
  env.OMP_NUM_THREADS = String(threads);
}
