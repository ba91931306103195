/**
 * `npm run bench:fusions`: what each of the native fast path's step-level
 * measures buys in a ResNet-20 training step (batch 128, as `npm run
 * bench`): the fused pairs of ops (ops.setFusions), asynchronous
 * execution (setAsyncOps) and the side queue for the weights' gradients
 * (setSideQueue).
 *
 *   npm run bench:fusions [-- --steps 40 --warmup 6] [--measure side]
 *
 * --measure keeps the cases whose measure's name contains the text.
 *
 * The effects are a few percent, below the 10–20% by which this shared
 * machine's speed drifts between sittings, so two separate runs cannot show
 * them. Instead one process alternates, in pairs of neighbouring steps, one
 * with the measure and one without, in the order ABBA ABBA … (stepWithMeasure),
 * so that an effect that repeats every other step (e.g. work that spills
 * from one step into the next) lands on both sides instead of on one. Each line gives both medians and the median of the
 * paired ratios (step without the measure over its neighbour with it):
 * above 1 means the measure helps. The "nothing" cases change nothing
 * between the two sides (an A/A run): their ratios show how far from 1.0
 * the method strays on its own, the floor a measure must clear.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../lib/src/backend';
import { useEveryCore } from '../lib/src/backend/threads';
import { Norm, resnet } from '../lib/src/models';
import { setFusions } from '../lib/src/ops';
import { asyncOpsAvailable, setAsyncOps, setSideQueue, withAsyncOps } from '../lib/src/ops/queue';
import { SgdMomentum } from '../lib/src/train/optimizer';
import { trainStep } from '../lib/src/train/loop';
import { Rng } from '../lib/src/util/rng';
import { median } from './median';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} takes a whole number ≥ 1`);
  return v;
}

/**
 * Each measure, on the ResNet it applies to: the conv fusions without BN,
 * the BN kernels with it. Without BN every conv is followed by a ReLU, so the
 * conv + bias pair is timed with the conv + bias + ReLU fusion off; oneDNN's
 * BN + ReLU, with bnlab's BN kernel off.
 */
interface Case {
  norm: Norm;
  measure: string;
  set: (on: boolean) => void;
  /**
   * Steps per unit of the A/B (default 1). One queue across steps is a
   * property of several steps, so its units are blocks of STEPS_PER_BLOCK
   * steps, each ending with the queue drained, and a unit's time is per step.
   */
  stepsPerUnit?: number;
  /** Runs one unit of `steps` training steps with the measure on or off (default: set(on), then the steps). */
  unit?: (on: boolean, steps: () => void) => void;
}

const STEPS_PER_BLOCK = 4;

/** A block of steps in one queue (withAsyncOps around them, as lib's train() does with withQueuedSteps), or each step draining its own. */
const queueAcrossSteps = (on: boolean, steps: () => void) => (on ? withAsyncOps(steps) : steps());

const CASES: Case[] = [
  { norm: 'none', measure: 'fused conv + bias [+ shortcut] + ReLU', set: (on) => setFusions({ convBiasRelu: on }) },
  { norm: 'none', measure: 'fused conv + bias (conv + bias + ReLU off)', set: (on) => setFusions({ convBias: on, convBiasRelu: false }) },
  { norm: 'batch', measure: "bnlab's BN kernel (with ReLU and shortcut)", set: (on) => setFusions({ bnlabBatchNorm: on }) },
  { norm: 'batch', measure: "fused BN + ReLU (bnlab's BN kernel off)", set: (on) => setFusions({ batchNormRelu: on, bnlabBatchNorm: false }) },
  { norm: 'none', measure: 'async execution', set: setAsyncOps },
  { norm: 'batch', measure: 'async execution', set: setAsyncOps },
  { norm: 'none', measure: 'side queue for weight gradients', set: setSideQueue },
  { norm: 'batch', measure: 'side queue for weight gradients', set: setSideQueue },
  { norm: 'none', measure: 'one queue across steps', set: () => {}, stepsPerUnit: STEPS_PER_BLOCK, unit: queueAcrossSteps },
  { norm: 'batch', measure: 'one queue across steps', set: () => {}, stepsPerUnit: STEPS_PER_BLOCK, unit: queueAcrossSteps },
  { norm: 'none', measure: 'nothing (A/A: the same step on both sides)', set: () => {} },
  { norm: 'batch', measure: 'nothing (A/A: the same step on both sides)', set: () => {} },
];

/**
 * Whether timed step j runs with the measure: pairs (2k, 2k + 1) hold one
 * step each way, with, then without in even pairs and the other way round
 * in odd ones (ABBA), so each side takes the first place in half the pairs.
 */
export function stepWithMeasure(j: number): boolean {
  const first = j % 2 === 0;
  return Math.floor(j / 2) % 2 === 0 ? first : !first;
}

async function main() {
  const steps = arg('steps', 40);
  const warmup = arg('warmup', 6);
  const mi = process.argv.indexOf('--measure');
  const only = mi >= 0 ? process.argv[mi + 1] : undefined;
  const cases = CASES.filter((c) => only === undefined || c.measure.includes(only));
  if (cases.length === 0) throw new Error(`no measure contains ${JSON.stringify(only)}: ${CASES.map((c) => c.measure).join('; ')}`);
  useEveryCore(); // on every core, as the README's figures, not on the profile's thread count
  const backend = await initBackend({ quiet: true });
  if (backend.name !== 'tensorflow') throw new Error(`these measures exist on the native backend only, not ${backend.name}`);
  if (!asyncOpsAvailable()) throw new Error('async execution needs the patched tfjs-node binding: run `npm run setup`');
  for (const c of cases) {
    const { norm, measure, set } = c;
    const stepsPerUnit = c.stepsPerUnit ?? 1;
    const unit =
      c.unit ??
      ((on: boolean, run: () => void) => {
        set(on);
        run();
      });
    // The same number of training steps for every case: blocks make fewer, longer units.
    const units = Math.max(2, Math.round(steps / stepsPerUnit));
    const warmupUnits = Math.ceil(warmup / stepsPerUnit);
    const model = resnet({ depth: 20, norm, inputShape: [32, 32, 3], numClasses: 10, seed: 1 });
    const optimizer = new SgdMomentum(model.trainable, { learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const rng = new Rng(7);
    const x = tf.tensor4d(rng.normalArray(128 * 32 * 32 * 3), [128, 32, 32, 3]);
    const labels = tf.tensor1d(Int32Array.from({ length: 128 }, () => rng.int(10)), 'int32');
    const y = tf.oneHot(labels, 10) as tf.Tensor2D;
    const withIt: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < warmupUnits + 2 * units; i++) {
      const on = i < warmupUnits ? i % 2 === 0 : stepWithMeasure(i - warmupUnits);
      const t0 = performance.now();
      unit(on, () => {
        for (let k = 0; k < stepsPerUnit; k++) {
          const { loss, accuracy } = trainStep(model, optimizer, x, y, 0.1);
          loss.dataSync();
          tf.dispose([loss, accuracy]);
        }
      });
      if (i >= warmupUnits) (on ? withIt : without).push((performance.now() - t0) / stepsPerUnit);
    }
    set(true);
    setFusions({ convBias: true, batchNormRelu: true, convBiasRelu: true, bnlabBatchNorm: true });
    const pairs = Math.min(withIt.length, without.length);
    const paired = Array.from({ length: pairs }, (_, k) => without[k] / withIt[k]);
    console.log(JSON.stringify({
      model: 'resnet20', norm, measure, batch: 128, steps, pairs: units, stepsPerUnit,
      msPerStepWith: +median(withIt).toFixed(1),
      msPerStepWithout: +median(without).toFixed(1),
      withoutOverWith: +median(paired).toFixed(3),
    }));
    tf.dispose([x, labels, y]);
    optimizer.dispose();
    model.dispose();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`[bench:fusions] ${err.message}`);
    process.exit(1);
  });
}
