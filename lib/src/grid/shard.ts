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
  /** Last run first: a second process meets the one going forward halfway (the report's idle core does this). */
  reverse?: boolean;
}

/** Trains the runs of one shard that the store does not have yet. */
export async function runShard(grid: Grid, shard: Shard, opts: ShardOptions = {}): Promise<ShardRunOutcome[]> {
  const store = opts.store ?? defaultStore();
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const progress = opts.progress ?? ((label: string) => consoleProgress(label, { everySeconds: 30, write: log }));
  const profile: ProfileName = grid.profile;
  const mine = shardRuns(grid.runs, shard);
  if (opts.reverse) mine.reverse();
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

// Moved to backend/threads (the backend sizes its pools as it loads); kept here for the sweep's imports.
export { shardThreads, sizeThreadPools } from '../backend/threads';
