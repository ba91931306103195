/**
 * What RQ5's probes (./rq5, ./rq5-anatomy) and RQ6's share: the probe's
 * mini-batches, an optional warm-up before probing, and a model built for
 * the probe's data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dataset, iterateBatches, toTensors } from '../data';
import type { ModelSpec } from '../experiments/runs';
import { buildModel, Model, ModelOptions } from '../models';
import { train } from '../train/loop';
import { Rng } from '../util/rng';

/** A few plain SGD steps before probing ("after a few steps"); none means at initialisation. */
export interface Warmup {
  steps: number;
  learningRate: number;
  /** Default 0.9 and 1e-4, the paper's. */
  momentum?: number;
  weightDecay?: number;
  /** Seeds the warm-up's data order. */
  seed: number;
}

/** The mini-batches a probe uses: the first `count` of a seeded shuffle of the training split. */
export interface ProbeBatches {
  count: number;
  size: number;
  seed: number;
}

export function buildProbeModel(data: { train: Dataset }, spec: ModelSpec): Model {
  return buildModel({ ...spec, inputShape: data.train.shape, numClasses: data.train.numClasses } as ModelOptions);
}

/** Runs `fn` on each probe batch as tensors, disposing them after. */
export function forEachProbeBatch(ds: Dataset, b: ProbeBatches, fn: (x: tf.Tensor4D, y: tf.Tensor2D, index: number) => void): void {
  if (!(Number.isInteger(b.count) && b.count >= 1)) throw new Error(`probe batches: count must be a positive integer, got ${b.count}`);
  if (b.count * b.size > ds.count)
    throw new Error(`probe batches: ${b.count} batches of ${b.size} need ${b.count * b.size} examples, the training split has ${ds.count}`);
  let i = 0;
  for (const batch of iterateBatches(ds, { batchSize: b.size, rng: new Rng(b.seed), dropLast: true })) {
    if (i >= b.count) break;
    const { x, y } = toTensors(batch, ds.shape, ds.numClasses);
    try {
      fn(x, y, i);
    } finally {
      tf.dispose([x, y]);
    }
    i++;
  }
}

/**
 * Trains `model` for the warm-up's steps. `onStep` is told after each step,
 * with the model as it stands then (a probe may run there and must leave
 * the weights as it found them; the optimiser picks up a reassigned
 * variable's value, see train/optimizer), so that probes at several points
 * of one warm-up share its steps.
 */
export async function warmUp(
  model: Model,
  data: { train: Dataset; test: Dataset },
  w: Warmup,
  batchSize: number,
  onStep?: (step: number) => void,
): Promise<void> {
  const r = await train(
    model,
    data,
    {
      epochs: 1_000_000,
      maxSteps: w.steps,
      batchSize,
      learningRate: w.learningRate,
      momentum: w.momentum ?? 0.9,
      weightDecay: w.weightDecay ?? 1e-4,
      seed: w.seed,
      evaluate: false, // test metrics would cost a pass over the test split each epoch, for nothing
    },
    onStep ? { onStep: (s) => onStep(s.step) } : {},
  );
  if (r.status !== 'completed')
    throw new Error(`warm-up diverged at step ${r.divergence?.step} (${r.divergence?.reason}); use a smaller warm-up learning rate`);
}
