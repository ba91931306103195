/**
 * Whether TensorFlow's idle worker threads spin before they sleep.
 *
 * TF's default is to spin: a worker that runs out of work keeps polling for
 * a while, so that work coming soon starts without a wake-up. In bnlab's
 * training step every core is busy (its queues' executor threads and
 * JavaScript prepare the next ops while TF's workers run the current ones),
 * where a spinning worker might only take a core from the threads that
 * would give it work. `BNLAB_TF_THREAD_SPINNING=off` measures that: bnlab's
 * patch to tfjs-node's binding (scripts/tfjs-node-patch.mjs) then makes TF's
 * context with `ConfigProto.experimental.disable_thread_spinning`. It is not
 * the default, since alternating runs did not show it faster (README,
 * Benchmark, *Other settings of the environment*). Only when an idle thread
 * sleeps changes, not how work is split among threads: no number changes.
 *
 * The binding reads the variable as TF's context is made, when the native
 * backend loads; `initBackend()` checks it first, so that a typo fails with
 * this message rather than as a native backend that does not load.
 */

export const THREAD_SPINNING_VARIABLE = 'BNLAB_TF_THREAD_SPINNING';

export type ThreadSpinning = 'on' | 'off';

/** What a process started with `env` gets: 'on' (TF's default) unless BNLAB_TF_THREAD_SPINNING=off (the binding's values, exactly). */
export function threadSpinning(env: NodeJS.ProcessEnv = process.env): ThreadSpinning {
  const v = env[THREAD_SPINNING_VARIABLE];
  if (v === undefined || v === '' || v === 'on') return 'on';
  if (v === 'off') return 'off';
  throw new Error(
    `${THREAD_SPINNING_VARIABLE}=${v} is not a choice bnlab knows; use on (TF's idle threads spin before they sleep, the default) or off (they sleep at once)`,
  );
}
