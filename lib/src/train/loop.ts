/**
 * The training loop: SGD with momentum and weight decay, a learning-rate
 * schedule, seeded data order, evaluation on the test split, and divergence
 * detection. A diverged run is a result (the paper's Fig. 1 and 3 are about
 * exactly that), so it ends with status 'diverged', never with an exception.
 */
import * as tf from '@tensorflow/tfjs-core';
import { activeBackend, BackendInfo } from '../backend';
import { augmentBatch, Dataset, iterateBatches, toTensors } from '../data';
import { Model } from '../models';
import { crossEntropy } from '../models/loss';
import { Rng } from '../util/rng';
import { withAsyncOps, withQueuedSteps } from '../ops/queue';
import { SgdMomentum } from './optimizer';
import { checkSchedule, learningRateAt, LrSchedule, plateauConverged, plateauReached } from './schedule';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Default 0.9, the paper's. */
  momentum?: number;
  /** Default 1e-4, the paper's. */
  weightDecay?: number;
  schedule?: LrSchedule;
  /** Seeds the data order and augmentation (the model's init has its own seed). */
  seed: number;
  /** Random crop and flip, as in the paper's CIFAR-10 runs. Default false. */
  augment?: boolean;
  /** A mini-batch loss above this marks the run diverged (the paper: 10^3). */
  divergenceLoss?: number;
  /** Stop after this many steps (benchmarks, smoke runs). */
  maxSteps?: number;
  /** Batch size for evaluation. Default 500. */
  evalBatchSize?: number;
  /** Record every k-th step in the result's curve (all steps reach onStep). Default 1. */
  recordEvery?: number;
  /**
   * Evaluate the test split at each epoch's end. Default true. A warm-up
   * before a probe needs no test metrics (its epochs then carry NaN for
   * them), and evaluating changes nothing in the weights or the data order.
   */
  evaluate?: boolean;
}

export interface StepRecord {
  step: number;
  epoch: number;
  learningRate: number;
  loss: number;
  accuracy: number;
}

export interface EpochRecord {
  epoch: number;
  step: number;
  learningRate: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
}

export interface TrainResult {
  status: 'completed' | 'diverged';
  /** Where and why a diverged run stopped. */
  divergence: { step: number; loss: number; reason: string } | null;
  steps: StepRecord[];
  epochs: EpochRecord[];
  /** Test metrics at the end (of the last epoch evaluated; null if none). */
  final: { testLoss: number; testAccuracy: number; trainLoss: number; trainAccuracy: number } | null;
  totalSteps: number;
  seconds: number;
  /** The backend the run trained on, with its libtensorflow version on the native one. */
  backend: BackendInfo;
}

export interface TrainCallbacks {
  onStep?(s: StepRecord, totalSteps: number): void;
  onEpoch?(e: EpochRecord, totalEpochs: number): void;
  /**
   * Once, when the run ends, completed or diverged (not when it throws).
   * Progress needs it to tell a diverged run from one still going: a loss
   * above divergenceLoss is finite, and the last step seen says nothing.
   */
  onEnd?(result: TrainResult): void;
}

export function checkTrainConfig(c: TrainConfig): void {
  const bad = (what: string, v: unknown) => new Error(`train config: ${what}, got ${JSON.stringify(v)}`);
  if (!Number.isInteger(c.epochs) || c.epochs < 1) throw bad('epochs must be a positive integer', c.epochs);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) throw bad('batchSize must be a positive integer', c.batchSize);
  if (!(c.learningRate > 0) || !Number.isFinite(c.learningRate)) throw bad('learningRate must be a positive number', c.learningRate);
  if (c.momentum !== undefined && !(c.momentum >= 0 && c.momentum < 1)) throw bad('momentum must be in [0, 1)', c.momentum);
  if (c.weightDecay !== undefined && !(c.weightDecay >= 0)) throw bad('weightDecay must be ≥ 0', c.weightDecay);
  if (!Number.isFinite(c.seed)) throw bad('seed must be a number', c.seed);
  if (c.maxSteps !== undefined && (!Number.isInteger(c.maxSteps) || c.maxSteps < 1))
    throw bad('maxSteps must be a positive integer', c.maxSteps);
  checkSchedule(c.schedule ?? { kind: 'constant' });
  if (c.evaluate === false && c.schedule?.kind === 'plateau')
    throw bad('a plateau schedule reads the test accuracy, so evaluate cannot be false', c.evaluate);
}

/** Loss and accuracy of a model on a dataset, in inference mode (BN uses moving statistics). */
export async function evaluate(model: Model, data: Dataset, batchSize = 500): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0;
  let correct = 0;
  for (const batch of iterateBatches(data, { batchSize })) {
    const [loss, hits] = withAsyncOps(() =>
      tf.tidy(() => {
        const { x, y } = toTensors(batch, data.shape, data.numClasses);
        const logits = model.apply(x, { training: false });
        return [tf.mul(crossEntropy(y, logits), batch.size), tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'int32'))];
      }),
    );
    lossSum += (await loss.data())[0];
    correct += (await hits.data())[0];
    loss.dispose();
    hits.dispose();
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count };
}

/**
 * Trains `model` in place. Returns the curves and the final metrics; the
 * run's status is 'diverged' when a mini-batch loss is not finite or passes
 * `divergenceLoss`.
 */
export async function train(
  model: Model,
  data: { train: Dataset; test: Dataset },
  config: TrainConfig,
  callbacks: TrainCallbacks = {},
): Promise<TrainResult> {
  checkTrainConfig(config);
  activeBackend(); // fail early, with the fix in the message, if no backend was chosen
  const t0 = Date.now();
  const schedule = config.schedule ?? { kind: 'constant' };
  const divergenceLoss = config.divergenceLoss ?? 1e3;
  const recordEvery = config.recordEvery ?? 1;
  const stepsPerEpoch = Math.floor(data.train.count / config.batchSize);
  if (stepsPerEpoch < 1)
    throw new Error(`train config: batchSize ${config.batchSize} is larger than the training set (${data.train.count} examples)`);
  // A plateau schedule ends the run once it has converged (./schedule); `epochs` is then a cap.
  let totalSteps = Math.min(config.maxSteps ?? Infinity, stepsPerEpoch * config.epochs);
  let totalEpochs = Math.ceil(totalSteps / stepsPerEpoch);
  let dropped = false;
  let dropStep = 0;

  const optimizer = new SgdMomentum(model.trainable, {
    learningRate: config.learningRate,
    momentum: config.momentum ?? 0.9,
    weightDecay: config.weightDecay ?? 1e-4,
  });
  const orderRng = new Rng(config.seed).fork(1);
  const augmentRng = new Rng(config.seed).fork(2);

  const steps: StepRecord[] = [];
  const epochs: EpochRecord[] = [];
  let divergence: TrainResult['divergence'] = null;
  let step = 0;
  try {
    // One queue for the whole run (withQueuedSteps): each step's ops queue
    // behind the previous step's backward pass instead of waiting for it to
    // drain, so TF's threads do not wait while JavaScript starts the step.
    await withQueuedSteps(async () => {
      for (let epoch = 1; epoch <= totalEpochs && !divergence; epoch++) {
        const epochStart = Date.now();
        let lossSum = 0;
        let accSum = 0;
        let seen = 0;
        let lr = config.learningRate;
        for (const raw of iterateBatches(data.train, { batchSize: config.batchSize, rng: orderRng, dropLast: true })) {
          if (step >= totalSteps) break;
          lr = learningRateAt(config.learningRate, schedule, step / totalSteps, dropped);
          const batch = config.augment ? augmentBatch(raw, data.train.shape, augmentRng, { padCrop: 4, flip: true }) : raw;
          const { x, y } = toTensors(batch, data.train.shape, data.train.numClasses);
          const { loss, accuracy } = trainStep(model, optimizer, x, y, lr);
          x.dispose();
          y.dispose();
          const lossValue = (await loss.data())[0];
          const accValue = (await accuracy.data())[0];
          loss.dispose();
          accuracy.dispose();
          // Give the event loop a turn each step: the native backend's reads
          // resolve at once, so without this a run never lets signal handlers
          // (a shard recording itself interrupted on scancel), timers or a
          // kernel's messages in until it ends. It costs microseconds.
          await new Promise<void>((resolve) => setImmediate(resolve));
          step += 1;
          const record: StepRecord = { step, epoch, learningRate: lr, loss: lossValue, accuracy: accValue };
          if (step % recordEvery === 0 || step === 1) steps.push(record);
          callbacks.onStep?.(record, totalSteps);
          if (!Number.isFinite(lossValue) || lossValue > divergenceLoss) {
            divergence = {
              step,
              loss: lossValue,
              reason: Number.isFinite(lossValue)
                ? `mini-batch loss ${lossValue.toPrecision(3)} > ${divergenceLoss}`
                : `mini-batch loss is ${lossValue}`,
            };
            if (steps[steps.length - 1] !== record) steps.push(record);
            break;
          }
          lossSum += lossValue * batch.size;
          accSum += accValue * batch.size;
          seen += batch.size;
        }
        if (divergence) break;
        const test = config.evaluate === false ? { loss: NaN, accuracy: NaN } : await evaluate(model, data.test, config.evalBatchSize);
        const record: EpochRecord = {
          epoch,
          step,
          learningRate: lr,
          trainLoss: lossSum / seen,
          trainAccuracy: accSum / seen,
          testLoss: test.loss,
          testAccuracy: test.accuracy,
          seconds: (Date.now() - epochStart) / 1000,
        };
        epochs.push(record);
        if (schedule.kind === 'plateau') {
          if (!dropped && (step >= schedule.at * totalSteps || plateauReached(schedule, epochs, step))) {
            dropped = true;
            dropStep = step;
          } else if (dropped && step < totalSteps && plateauConverged(schedule, epochs, step, dropStep)) {
            totalSteps = step;
            totalEpochs = epoch;
          }
        }
        callbacks.onEpoch?.(record, totalEpochs);
      }
    });
  } finally {
    optimizer.dispose();
  }
  const last = epochs[epochs.length - 1];
  const result: TrainResult = {
    status: divergence ? 'diverged' : 'completed',
    divergence,
    steps,
    epochs,
    final:
      last && !divergence
        ? { testLoss: last.testLoss, testAccuracy: last.testAccuracy, trainLoss: last.trainLoss, trainAccuracy: last.trainAccuracy }
        : null,
    totalSteps: step,
    seconds: (Date.now() - t0) / 1000,
    backend: activeBackend(),
  };
  callbacks.onEnd?.(result);
  return result;
}

/**
 * One SGD step on a batch already in tensors: forward in training mode,
 * gradients of the mean cross-entropy, the optimiser's update. Returns the
 * batch's loss and accuracy as scalars the caller disposes.
 */
export function trainStep(
  model: Model,
  optimizer: SgdMomentum,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  learningRate: number,
): { loss: tf.Scalar; accuracy: tf.Scalar } {
  const names = [...model.trainable.keys()];
  const vars = names.map((n) => model.trainable.get(n)!);
  // Queued: tfjs's bookkeeping overlaps TF's kernels (see withAsyncOps).
  return withAsyncOps(() =>
    tf.tidy(() => {
      let logits: tf.Tensor2D | null = null;
      const { value, grads } = tf.variableGrads(() => {
        logits = tf.keep(model.apply(x, { training: true }));
        return crossEntropy(y, logits);
      }, vars);
      const byName: Record<string, tf.Tensor> = {};
      names.forEach((n, i) => (byName[n] = grads[vars[i].name]));
      optimizer.step(byName, learningRate);
      const kept = logits as unknown as tf.Tensor2D;
      const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(kept, 1), tf.argMax(y, 1)), 'float32')) as tf.Scalar;
      kept.dispose(); // tf.keep put it beyond tidy's reach
      return { loss: value, accuracy };
    }),
  );
}
