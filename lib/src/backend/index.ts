/**
 * Choosing the TensorFlow.js backend: one function, forced by BNLAB_BACKEND.
 *
 *   tensorflow  @tensorflow/tfjs-node, the native TensorFlow C library (the
 *               default; scripts/setup.mjs builds it against PyPI's wheel)
 *   wasm        @tensorflow/tfjs-backend-wasm, the fallback, with the one
 *               training kernel it lacks registered by bnlab
 *   cpu         tfjs's pure-JS backend, far too slow to train: for
 *               reference tests on tiny tensors only
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import fs from 'node:fs';
import path from 'node:path';
import { activeProfile } from '../experiments/profile';
import { registerTrainingGradients } from './gradients';
import { threadSpinning } from './thread-spinning';
import { configureThreads } from './threads';
import { tfLogChoice, withTfLog } from './tf-log';
import { registerWasmTrainingKernels } from './wasm-kernels';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The backend that is active. */
  name: BackendName;
  /** What was asked for: a name, or 'auto' (native first, then wasm). */
  requested: BackendName | 'auto';
  /** Why this backend is active, in a sentence a user can act on. */
  reason: string;
  tfjsVersion: string;
  /** The TensorFlow C library's own version, on the native backend. */
  libtensorflowVersion: string | null;
}

let active: BackendInfo | null = null;

function parseRequest(value: string | undefined): BackendName | 'auto' {
  const v = (value ?? 'auto').trim().toLowerCase() || 'auto';
  if (v === 'auto' || (BACKENDS as readonly string[]).includes(v)) return v as BackendName | 'auto';
  throw new Error(`BNLAB_BACKEND=${value} is not a backend bnlab knows; use one of auto, ${BACKENDS.join(', ')}`);
}

/** tfjs-node's addon, found as tfjs-node finds it (node-pre-gyp); null if it is not there. */
function nativeAddonPath(): string | null {
  try {
    const pkg = require.resolve('@tensorflow/tfjs-node/package.json');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const preGyp = require(require.resolve('@mapbox/node-pre-gyp', { paths: [path.dirname(pkg)] })) as { find(pkg: string): string };
    const addon = preGyp.find(pkg);
    return fs.existsSync(addon) ? addon : null;
  } catch {
    return null;
  }
}

/**
 * TensorFlow 2.21 runs its oneDNN kernels by default only on CPUs with
 * AVX-512 VNNI or BF16, AVX-VNNI or AMX (tensorflow/core/util/port.cc); on
 * the others, an AVX2 machine say, it runs Eigen's, and a ResNet-20 step
 * took 1.8 to 2 times as long (`TF_ENABLE_ONEDNN_OPTS=0 npm run bench`
 * against `=1`). bnlab's fused fast paths are oneDNN kernels too. So it asks
 * for oneDNN unless the user set TF_ENABLE_ONEDNN_OPTS (0 keeps Eigen's).
 * TF reads it as its library loads.
 */
export function preferOneDnn(env: NodeJS.ProcessEnv = process.env): void {
  if (env.TF_ENABLE_ONEDNN_OPTS === undefined || env.TF_ENABLE_ONEDNN_OPTS.trim() === '') env.TF_ENABLE_ONEDNN_OPTS = '1';
}

function loadNative(): string {
  preferOneDnn();
  configureThreads(activeProfile()); // ./threads: the count is part of a run's setting

  // Opening the addon loads the TensorFlow library, which logs as it loads:
  // open it under withTfLog (./tf-log), then tfjs-node finds it already open.
  const addon = nativeAddonPath();
  withTfLog(() => addon && require(addon));
  // tfjs-node registers the 'tensorflow' backend on the shared tfjs-core.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  require('@tensorflow/tfjs-node');
  const binding = (tf.findBackend('tensorflow') as unknown as { binding?: { TF_Version?: string } } | null)?.binding;
  return binding?.TF_Version ?? 'unknown';
}

/**
 * tfjs's chained ops, x.reshape(…), x.add(y), x.square() …, are methods the
 * @tensorflow/tfjs package puts on the Tensor class (with the gradients);
 * tfjs-core, all bnlab itself loads, does not. The native backend has them
 * because tfjs-node loads @tensorflow/tfjs; on wasm and cpu `bn.tf` tensors
 * had no methods ("x.reshape is not a function"). tfjs-core ships the
 * registration as ES modules only (dist/public/chained_ops), which plain
 * Node cannot require: a notebook kernel runs lib/dist without tsx. So the
 * same package the native backend loads is loaded on every backend, pure
 * JS, about 0.1 s; a no-op when tfjs-node loaded it already. It registers
 * tfjs's gradients as well, which ./gradients otherwise takes from the same
 * ES modules (and so could not in plain Node).
 */
function registerChainedOps(): void {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  require('@tensorflow/tfjs');
}

async function loadWasm(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  require('@tensorflow/tfjs-backend-wasm');
  registerWasmTrainingKernels();
}

/**
 * Makes one backend active and returns what it is and why. Idempotent: the
 * second call with the same request returns the first answer.
 */
export async function initBackend(opts: { backend?: BackendName | 'auto'; quiet?: boolean } = {}): Promise<BackendInfo> {
  const requested = opts.backend ?? parseRequest(process.env.BNLAB_BACKEND);
  tfLogChoice(); // a BNLAB_TF_LOG typo fails here, not as a fallback to wasm
  threadSpinning(); // and a BNLAB_TF_THREAD_SPINNING typo (./thread-spinning)
  if (active && (requested === 'auto' || requested === active.name) && tf.getBackend() === active.name) return active;

  // First: it brings tfjs's gradients too, so registerTrainingGradients
  // (also called by the wasm kernels) finds them registered.
  registerChainedOps();
  let name: BackendName;
  let reason: string;
  let libtensorflowVersion: string | null = null;
  if (requested === 'cpu') {
    name = 'cpu';
    reason = 'forced by BNLAB_BACKEND=cpu (pure JS, for reference tests on tiny tensors)';
  } else if (requested === 'wasm') {
    await loadWasm();
    name = 'wasm';
    reason = 'forced by BNLAB_BACKEND=wasm';
  } else {
    try {
      libtensorflowVersion = loadNative();
      name = 'tensorflow';
      reason = requested === 'tensorflow' ? 'forced by BNLAB_BACKEND=tensorflow' : 'the native TensorFlow backend loaded';
    } catch (err) {
      const why = String((err as Error).message ?? err).split('\n')[0];
      if (requested === 'tensorflow') {
        throw new Error(`BNLAB_BACKEND=tensorflow, but @tensorflow/tfjs-node does not load: ${why}. Run \`npm run setup\` to build it.`);
      }
      await loadWasm();
      name = 'wasm';
      reason = `the native TensorFlow backend did not load (${why}); run \`npm run setup\` to build it. Falling back to wasm`;
    }
  }
  registerTrainingGradients();
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs could not initialise the ${name} backend`);
  await tf.ready();
  active = { name, requested, reason, tfjsVersion: tf.version_core, libtensorflowVersion };
  if (!opts.quiet)
    console.error(`[bnlab] backend ${name}${libtensorflowVersion ? ` (libtensorflow ${libtensorflowVersion})` : ''}: ${reason}`);
  return active;
}

/** The active backend; throws if initBackend has not run. */
export function activeBackend(): BackendInfo {
  if (!active || tf.getBackend() !== active.name) {
    throw new Error('No bnlab backend is active: call `await initBackend()` first.');
  }
  return active;
}
