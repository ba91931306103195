/**
 * How many threads TensorFlow gets. TF reads its pool sizes once, as its
 * library loads, so they are set here before `initBackend()` loads it.
 *
 * The thread count is part of a run's setting, not only of its speed: TF
 * splits a reduction (a conv's sum, a BN mean) across its threads, so a run
 * on one thread and the same run on two round differently, and training
 * carries the difference on. The smoke and quick profiles therefore run on
 * one thread everywhere: their networks are small enough that a second
 * thread does not speed a step up (ResNet-14 of width 8 at 14×14, batch 128:
 * 65 ms a step on one thread or two, on this project's 2-core machine), their
 * numbers then do not depend on how many cores the machine has, and the
 * report can run one notebook per core. long and paper use every core (or
 * what a scheduler allots), where a step gains from them.
 */
import type { ProfileName } from '../experiments/profile';

/** The TF thread count a profile fixes, or null where it takes the machine's (or the scheduler's). */
export function profileThreads(profile: ProfileName): number | null {
  return profile === 'smoke' || profile === 'quick' ? 1 : null;
}

/**
 * How many threads a shard gives TensorFlow when its profile fixes none:
 * what the caller asks for, else BNLAB_THREADS (a Kubernetes pod's CPU
 * limit), else the CPUs Slurm allotted (SLURM_CPUS_PER_TASK); null leaves
 * TF's default, every core of the node, which oversubscribes a node shared
 * by several shards.
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

/**
 * Sizes the pools for a process about to load TensorFlow: left alone if
 * they were sized already (TF_NUM_INTRAOP_THREADS set: by a sweep shard, or
 * by the user on purpose), else the profile's count, else BNLAB_THREADS or
 * Slurm's, else TF's default. Returns the count, or null for the default.
 */
export function configureThreads(profile: ProfileName, env: NodeJS.ProcessEnv = process.env): number | null {
  const set = env.TF_NUM_INTRAOP_THREADS;
  if (set !== undefined && set.trim() !== '') {
    const n = Number(set);
    if (!Number.isInteger(n) || n < 0) throw new Error(`TF_NUM_INTRAOP_THREADS=${set} is not a thread count`);
    return n === 0 ? null : n; // 0 is TF's "choose for me"
  }
  const threads = profileThreads(profile) ?? shardThreads(env);
  if (threads !== null) sizeThreadPools(threads, env);
  return threads;
}

/** The intra-op thread count TF was loaded with (null: its default, every core). */
export function loadedThreads(env: NodeJS.ProcessEnv = process.env): number | null {
  const n = Number(env.TF_NUM_INTRAOP_THREADS);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** Sizes the pools to `threads` unless they were sized already (TF_NUM_INTRAOP_THREADS set). */
export function sizeThreadPoolsUnlessSet(threads: number, env: NodeJS.ProcessEnv = process.env): void {
  if (env.TF_NUM_INTRAOP_THREADS === undefined || env.TF_NUM_INTRAOP_THREADS.trim() === '') sizeThreadPools(threads, env);
}

/**
 * Every core for TensorFlow, whatever the profile: for the benchmarks,
 * which time a step against PyTorch on the same cores. Left alone if the
 * pools were sized already.
 */
export function useEveryCore(env: NodeJS.ProcessEnv = process.env, cores: number = require('node:os').cpus().length): void {
  sizeThreadPoolsUnlessSet(Math.max(1, cores), env);
}
