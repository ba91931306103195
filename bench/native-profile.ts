/**
 * Where a training step's time goes on the native backend, for `npm run
 * bench -- --profile`.
 *
 * timeNativeOps times every call into tfjs-node's binding by op name: the
 * forward, the backward (the fast paths' gradient kernels included, which
 * tf.profile does not see, since they run outside tfjs's kernel registry)
 * and the optimiser's resource-variable updates. Run it on a synchronous
 * step: queued, a call's time would be the time to queue the op.
 *
 * threadCpu reads each thread's CPU time from /proc (Linux), to tell how
 * busy TF's compute threads were during queued steps, and how much the
 * JavaScript thread and the rest took.
 */
import fs from 'node:fs';
import type { NativeBackend } from '../lib/src/ops/native';

export interface OpTime {
  /** The op's TF name (e.g. Conv2DBackpropFilter), or the binding call (createTensor, deleteTensor). */
  kernel: string;
  ms: number;
  calls: number;
}

/**
 * Runs f with every call into the backend's binding timed, and returns the
 * times by op name, largest first. The binding is restored afterwards,
 * also when f throws.
 */
export function timeNativeOps(be: NativeBackend, f: () => void): OpTime[] {
  const holder = be as unknown as { binding: Record<string, unknown> };
  const binding = holder.binding;
  const times = new Map<string, { ms: number; calls: number }>();
  // The binding's own properties are read-only, so the timed functions go on
  // a copy: a Proxy of the binding itself may not return other values.
  const timed: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(binding)) {
    const value = binding[name];
    if (typeof value !== 'function') {
      timed[name] = value;
      continue;
    }
    timed[name] = (...args: unknown[]) => {
      const key = name === 'executeOp' ? String(args[0]) : name;
      const t0 = performance.now();
      try {
        return (value as (...a: unknown[]) => unknown).apply(binding, args);
      } finally {
        const e = times.get(key) ?? { ms: 0, calls: 0 };
        e.ms += performance.now() - t0;
        e.calls += 1;
        times.set(key, e);
      }
    };
  }
  holder.binding = timed;
  try {
    f();
  } finally {
    holder.binding = binding;
  }
  return [...times.entries()].map(([kernel, e]) => ({ kernel, ms: +e.ms.toFixed(2), calls: e.calls })).sort((p, q) => q.ms - p.ms);
}

/** CPU time (user + system, ms) of each of this process's threads, by thread id; null off Linux. */
export function threadCpu(): Map<number, number> | null {
  const dir = '/proc/self/task';
  if (!fs.existsSync(dir)) return null;
  const ticksPerMs = 100 / 1000; // USER_HZ is 100 on Linux
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync(dir)) {
    let stat: string;
    try {
      stat = fs.readFileSync(`${dir}/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / ticksPerMs);
  }
  return out;
}

/**
 * Per-step CPU of the JavaScript thread and of the other threads (busiest
 * first) between two threadCpu readings; threads under 1 ms a step are
 * left out.
 */
export function threadCpuPerStep(
  before: Map<number, number>,
  after: Map<number, number>,
  steps: number,
  mainTid: number = process.pid,
): { mainMs: number; otherThreadsMs: number[] } {
  const perStep = (tid: number) => ((after.get(tid) ?? 0) - (before.get(tid) ?? 0)) / steps;
  const others = [...after.keys()]
    .filter((tid) => tid !== mainTid)
    .map(perStep)
    .filter((ms) => ms >= 1)
    .sort((p, q) => q - p)
    .map((ms) => +ms.toFixed(1));
  return { mainMs: +perStep(mainTid).toFixed(1), otherThreadsMs: others };
}
