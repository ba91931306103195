/**
 * RQ2's one measurement: `probe` builds a network from its seed, trains it a
 * few steps if asked, runs every instrument on one fixed batch and returns
 * plain JSON (what the run store keeps). The pure functions from its results
 * to rows, tables and the verdict are ./rq2's.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dataset, iterateBatches, selectExamples, toTensors } from '../data';
import { DataSpec, loadData } from '../experiments/data';
import type { ModelSpec } from '../experiments/runs';
import {
  channelMoments,
  channelPairMap,
  ChannelPairCell,
  channelPairShare,
  CoherenceSummaryRow,
  convPoints,
  kernelGradientCoherence,
  logitGradientDominance,
  LogitDominance,
  logitGradients,
  middleConv,
  momentProfile,
  MomentProfileRow,
  record,
  sampleValues,
  summarizeCoherence,
  weightGradients,
  WeightGradientRow,
} from '../instrument';
import { buildModel, Model, ModelOptions } from '../models';
import { train } from '../train';

// ---------------------------------------------------------------- the measurement

export interface ProbeSpec {
  /** Where the batches come from: the probe batch is the first `batch` test examples. */
  data: DataSpec;
  batch: number;
  /** The network, with its init seed (rebuilt from it on every probe). */
  model: ModelSpec;
  /** Train this many SGD steps (on the training split) before measuring; none if omitted or 0. */
  steps?: { count: number; learningRate: number; batchSize: number; seed: number; momentum?: number; weightDecay?: number };
  /** Conv layers whose summands Table 1 compares, as fractions of the conv depth (0.5: the middle one). Default [0.25, 0.5, 0.75]. */
  coherenceAt?: number[];
  /** How many middle-layer gradient values to keep for histograms. Default 4000. */
  histogramSample?: number;
}

/** The run-store name of a probe, e.g. 'rq2 probe resnet110-none after 10 steps'. */
export function probeName(spec: ProbeSpec): string {
  const depth = 'depth' in spec.model ? spec.model.depth : '';
  return `rq2 probe ${spec.model.family}${depth}-${spec.model.norm}${spec.steps?.count ? ` after ${spec.steps.count} steps` : ''}`;
}

export interface ProbeResult {
  /** e.g. 'resnet110-none'. */
  model: string;
  depth: number;
  norm: string;
  /** SGD steps taken before measuring (0: at initialisation). */
  steps: number;
  /** 'diverged' when the training steps diverged; no measurement then. */
  status: 'ok' | 'diverged';
  /** Mini-batch losses of the training steps. */
  trainLosses: number[];
  /** Cross-entropy of the probe batch (BN with batch statistics). */
  loss: number;
  moments: MomentProfileRow[];
  /** Every conv layer's kernel-gradient statistics, in forward order. */
  gradients: WeightGradientRow[];
  /** The middle conv layer (Fig. 2, 7): its statistics, a seeded sample of its gradient values, its kernel shape. */
  middle: { layer: string; depth: number; std: number; kurtosis: number; maxAbs: number; shape: number[]; sample: number[] };
  /** ∂L/∂logits, one row per (example, class) (Fig. 6). */
  logits: { example: number; class: number; grad: number; label: number }[];
  dominance: LogitDominance;
  /** Table 1: |Σd| against Σ|d| at the conv layers of `coherenceAt`. */
  coherence: CoherenceSummaryRow[];
  /** Mean |∂L/∂W| of the middle conv per (input, output) channel (Fig. 7). */
  channelPairs: ChannelPairCell[];
  /** σ1²/Σσ² of that map: the share one rank-one pattern explains. */
  channelPairTopShare: number;
  seconds: number;
}

/** The probe batch: the first `n` examples of a dataset, as tensors the caller disposes. */
export function probeBatch(ds: Dataset, n: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  if (!(Number.isInteger(n) && n >= 2 && n <= ds.count)) throw new Error(`rq2 probe: batch must be an integer in 2..${ds.count}, got ${n}`);
  const batch = iterateBatches(ds, { batchSize: n }).next().value!;
  return toTensors(batch, ds.shape, ds.numClasses);
}

/** The conv layer at fraction f of the conv depth (0: the first, 0.5: the middle conv of `middleConv`, 1: the last). */
export function convAt(model: Model, f: number): string {
  const convs = convPoints(model);
  if (f === 0.5) return middleConv(model).name;
  return convs[Math.min(convs.length - 1, Math.max(0, Math.round(f * (convs.length - 1))))].name;
}

/** Builds the network from its seed, trains it `steps.count` steps if asked, measures, disposes it. */
export async function probe(spec: ProbeSpec): Promise<ProbeResult> {
  const t0 = Date.now();
  const data = loadData(spec.data);
  const model = buildModel({ ...spec.model, inputShape: data.test.shape, numClasses: data.test.numClasses } as ModelOptions);
  const { x, y } = probeBatch(data.test, spec.batch);
  try {
    const depth = 'depth' in spec.model ? spec.model.depth : NaN;
    const base = { model: model.name, depth, norm: spec.model.norm, steps: spec.steps?.count ?? 0 };
    let trainLosses: number[] = [];
    if (spec.steps && spec.steps.count > 0) {
      const s = spec.steps;
      // Epochs enough for the steps (an epoch drops its last partial batch); maxSteps stops there.
      const epochs = Math.ceil(s.count / Math.max(1, Math.floor(data.train.count / s.batchSize)));
      const r = await train(
        model,
        // Evaluation after the steps runs on the probe batch only: cheap, and unused.
        {
          train: data.train,
          test: selectExamples(
            data.test,
            Array.from({ length: spec.batch }, (_, i) => i),
          ),
        },
        {
          epochs,
          maxSteps: s.count,
          batchSize: s.batchSize,
          learningRate: s.learningRate,
          seed: s.seed,
          momentum: s.momentum,
          weightDecay: s.weightDecay,
        },
      );
      trainLosses = r.steps.map((st) => st.loss);
      if (r.status === 'diverged') return { ...base, ...emptyProbe(), status: 'diverged', trainLosses, seconds: (Date.now() - t0) / 1000 };
    }

    const moments = momentProfile(channelMoments(model, x));
    const mid = middleConv(model);
    const wg = weightGradients(model, x, y);
    const midRow = wg.rows.find((r) => r.layer === mid.name)!;
    const midValues = wg.values.get(mid.name)!;
    const shape = model.trainable.get(`${mid.name}/kernel`)!.shape;
    const pairs = channelPairMap(midValues, shape as [number, number, number, number]);

    const logitRows = logitGradients(model, x, y);
    // The loss through tfjs's log-softmax: without BN the logits are so large that softmax probabilities underflow to 0.
    const forward = record(model, x, y, {});
    const loss = forward.loss;
    forward.dispose();
    const layers = [...new Set((spec.coherenceAt ?? [0.25, 0.5, 0.75]).map((f) => convAt(model, f)))];
    const coherence = summarizeCoherence(kernelGradientCoherence(model, x, y, { layers }));

    return {
      ...base,
      status: 'ok',
      trainLosses,
      loss,
      moments,
      gradients: wg.rows,
      middle: {
        layer: mid.name,
        depth: mid.depth,
        std: midRow.std,
        kurtosis: midRow.kurtosis,
        maxAbs: midRow.maxAbs,
        shape,
        sample: Array.from(sampleValues(midValues, spec.histogramSample ?? 4000, 1)),
      },
      logits: logitRows.map((r) => ({ example: r.example, class: r.class, grad: r.grad, label: r.label })),
      dominance: logitGradientDominance(logitRows),
      coherence,
      channelPairs: pairs,
      channelPairTopShare: channelPairShare(pairs),
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}

function emptyProbe(): Omit<ProbeResult, 'model' | 'depth' | 'norm' | 'steps' | 'status' | 'trainLosses' | 'seconds'> {
  return {
    loss: NaN,
    moments: [],
    gradients: [],
    middle: { layer: '', depth: NaN, std: NaN, kurtosis: NaN, maxAbs: NaN, shape: [], sample: [] },
    logits: [],
    dominance: { examples: 0, dominantClass: -1, dominantShare: NaN, predictedClass: -1, predictionShare: NaN },
    coherence: [],
    channelPairs: [],
    channelPairTopShare: NaN,
  };
}
