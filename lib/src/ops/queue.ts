/**
 * Asynchronous execution on the native backend (bnlab's patched tfjs-node
 * binding, scripts/tfjs-node-patch.mjs): TF's eager ops queued on TF's own
 * threads while JavaScript goes on issuing the next ones, a second queue for
 * ops nothing waits for soon, and the scopes that turn the queues on and off.
 */
import { isNativeBackend, nativeBackend } from './native';

interface AsyncBinding {
  bnlabSetAsync?: (on: boolean) => boolean;
  bnlabSetSideQueue?: (on: boolean) => boolean;
}

let asyncAllowed = true;
let sideQueueAllowed = true;

/**
 * Allow (default) or forbid asynchronous execution in withAsyncOps, e.g. to
 * time a step both ways (bench/fusion-ab.ts).
 */
export function setAsyncOps(allowed: boolean): void {
  asyncAllowed = allowed;
}

/** Whether withAsyncOps will queue ops: the native backend with bnlab's patched binding (scripts/tfjs-node-patch.mjs). */
export function asyncOpsAvailable(): boolean {
  return asyncAllowed && isNativeBackend() && typeof (nativeBackend().binding as unknown as AsyncBinding).bnlabSetAsync === 'function';
}

/** How many withAsyncOps / withQueuedSteps scopes are open: only the outermost turns the queue on and off. */
let queueScopes = 0;

/**
 * Runs f with TF's eager ops queued on TF's own thread instead of run one by
 * one as JavaScript issues them, so that tfjs's bookkeeping between ops
 * overlaps the kernels. On return every queued op has run; an op that failed
 * in the queue throws here. Reading a tensor's values inside f waits for
 * that tensor. Inside another such scope (withQueuedSteps around a training
 * loop) it leaves the queue to that scope, which waits for it at its end.
 * Elsewhere (other backends, an unpatched binding) it just calls f.
 */
export function withAsyncOps<T>(f: () => T): T {
  const binding = openQueue();
  if (!binding) return f();
  let result: T;
  try {
    result = f();
  } catch (err) {
    closeQueue(binding, true);
    throw err;
  }
  closeQueue(binding, false); // waits for the queue; throws if an op failed
  return result;
}

/**
 * withAsyncOps for a loop of training steps, awaited: the queue stays on
 * from one step to the next. Each step's own scope (trainStep's) would
 * otherwise wait for the queue at its end, so the next step would start
 * from an empty queue and TF's threads would wait while JavaScript issues
 * its first ops; inside this scope the next step's ops queue behind the
 * last step's backward pass instead. Reading a loss waits for that loss
 * only (its forward pass). The values are the same: the ops, their inputs
 * and their order do not change. At the end every queued op has run, and an
 * op that failed throws, if nothing read its failure before.
 */
export async function withQueuedSteps<T>(f: () => Promise<T>): Promise<T> {
  const binding = openQueue();
  if (!binding) return f();
  let result: T;
  try {
    result = await f();
  } catch (err) {
    closeQueue(binding, true);
    throw err;
  }
  closeQueue(binding, false);
  return result;
}

/** Opens the outermost scope (the queue on); null inside another scope, or where ops cannot be queued. */
function openQueue(): Required<AsyncBinding> | null {
  if (queueScopes > 0 || !asyncOpsAvailable()) return null;
  const binding = nativeBackend().binding as unknown as Required<AsyncBinding>;
  binding.bnlabSetAsync(true);
  queueScopes++;
  return binding;
}

/** Closes it: waits for the queue and throws an op's failure, unless f threw first (its error is the one to report). */
function closeQueue(binding: Required<AsyncBinding>, afterError: boolean): void {
  queueScopes--;
  if (!afterError) return void binding.bnlabSetAsync(false);
  try {
    binding.bnlabSetAsync(false);
  } catch {
    // The first error is the one to report.
  }
}

/**
 * Allow (default) or forbid the side queue in onSideQueue, e.g. to time a
 * step both ways (bench/fusion-ab.ts).
 */
export function setSideQueue(allowed: boolean): void {
  sideQueueAllowed = allowed;
}

/**
 * Runs f with its ops on a second asynchronous queue, when withAsyncOps is
 * queueing ops; otherwise just calls f.
 *
 * Why: one queue runs its ops one after another, and TF prepares each op
 * (tens of microseconds) while its worker threads wait. An op that nothing
 * soon needs, such as a layer's weight gradient in the backward pass, can
 * run on the side queue's thread alongside the main queue's ops, filling
 * those gaps. Values cannot change: TF makes an op wait for its inputs
 * whichever queue produces them, and each queue keeps its own order. Keep
 * stateful ops (variable updates and reads) off it: two ops on one variable
 * have no data dependency between them to keep their order across queues.
 */
export function onSideQueue<T>(f: () => T): T {
  if (!sideQueueAllowed || !isNativeBackend()) return f();
  const binding = nativeBackend().binding as unknown as AsyncBinding;
  // The binding ignores the request outside async mode.
  if (typeof binding.bnlabSetSideQueue !== 'function' || !binding.bnlabSetSideQueue(true)) return f();
  try {
    return f();
  } finally {
    binding.bnlabSetSideQueue(false);
  }
}
