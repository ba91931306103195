/**
 * Forward and backward hooks over a model's named points, the way PyTorch's
 * register_forward_hook / register_full_backward_hook are used: the model is
 * run with a tap that copies the activation at chosen points and wraps it in
 * an identity whose gradient function copies ∂L/∂activation on its way back.
 * Nothing in the model changes, and BN never folds an instrumented batch into
 * its moving statistics (updateMovingStats: false).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Model, PointInfo, Tap } from '../models';
import { crossEntropy } from '../models/loss';

export interface RecordOptions {
  /** BN normalises with the batch's statistics (the paper's "at initialisation" measurements). Default true. */
  training?: boolean;
  /** Points whose activations to keep. */
  activations?: readonly string[];
  /** Points whose gradient ∂L/∂activation to keep (needs labels). */
  outputGrads?: readonly string[];
  /** Names in model.trainable whose gradients to keep (needs labels). */
  params?: readonly string[];
  /** Keep the model's output as `Recording.logits`. */
  logits?: boolean;
}

/** What one instrumented forward (and backward) pass saw. The caller disposes it. */
export interface Recording {
  /** The mean cross-entropy of the batch; NaN without labels. */
  loss: number;
  activations: Map<string, tf.Tensor>;
  outputGrads: Map<string, tf.Tensor>;
  paramGrads: Map<string, tf.Tensor>;
  logits: tf.Tensor2D | null;
  dispose(): void;
}

/** The identity, whose gradient function hands dy to `onGrad` (a backward hook). */
export function backwardHook(x: tf.Tensor, onGrad: (dy: tf.Tensor) => void): tf.Tensor {
  const f = tf.customGrad((a) => ({
    value: tf.clone(a as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => {
      onGrad(dy);
      // A fresh handle: the tape must not see one tensor object as two gradients.
      return tf.clone(dy);
    },
  }));
  return f(x);
}

function checkPoints(model: Model, names: readonly string[], what: string): void {
  const known = new Set(model.points.map((p) => p.name));
  for (const n of names) {
    if (!known.has(n))
      throw new Error(
        `${what}: ${model.name} has no point ${JSON.stringify(n)}; its points are ${model.points.map((p) => p.name).join(', ')}`,
      );
  }
}

/**
 * One forward pass of `model` on x (and, with labels y, one backward pass of
 * the mean cross-entropy), recording what `opts` asks for. Every recorded
 * tensor outlives any enclosing tf.tidy; `dispose()` frees them all.
 */
export function record(model: Model, x: tf.Tensor, y: tf.Tensor2D | null, opts: RecordOptions): Recording {
  const training = opts.training ?? true;
  const actNames = new Set(opts.activations ?? []);
  const gradNames = new Set(opts.outputGrads ?? []);
  const paramNames = [...new Set(opts.params ?? [])];
  checkPoints(model, [...actNames, ...gradNames], 'record');
  for (const p of paramNames) {
    if (!model.trainable.has(p)) throw new Error(`record: ${model.name} has no trainable parameter ${JSON.stringify(p)}`);
  }
  const backward = gradNames.size > 0 || paramNames.length > 0;
  if (backward && !y) throw new Error('record: gradients need labels y');

  const rec: Recording = {
    loss: NaN,
    activations: new Map(),
    outputGrads: new Map(),
    paramGrads: new Map(),
    logits: null,
    dispose() {
      for (const m of [this.activations, this.outputGrads, this.paramGrads]) {
        for (const t of m.values()) t.dispose();
        m.clear();
      }
      this.logits?.dispose();
      this.logits = null;
    },
  };
  const tap: Tap = (name, t) => {
    // tf.keep: forward and backward passes each run inside tfjs's own tidy scopes.
    if (actNames.has(name)) rec.activations.set(name, tf.keep(tf.clone(t)));
    if (gradNames.has(name)) return backwardHook(t, (dy) => rec.outputGrads.set(name, tf.keep(tf.clone(dy))));
  };
  const lossOf = (): tf.Scalar => {
    const logits = model.apply(x, { training, updateMovingStats: false, tap });
    if (opts.logits) rec.logits = tf.keep(tf.clone(logits));
    return y ? crossEntropy(y, logits) : tf.scalar(NaN);
  };

  try {
    tf.tidy(() => {
      if (!backward) {
        rec.loss = lossOf().dataSync()[0];
        return;
      }
      // The gradient is taken with respect to the input as well, so that the
      // backward pass reaches every point, also those before the first
      // requested parameter. Variables can be differentiation targets
      // directly: the engine only matches tensor ids on the tape.
      const vars = paramNames.map((p) => model.trainable.get(p)!);
      const targets: tf.Tensor[] = gradNames.size > 0 ? [x, ...vars] : vars;
      const { value, grads } = tf.valueAndGrads(() => lossOf())(targets);
      rec.loss = value.dataSync()[0];
      const offset = targets.length - vars.length;
      paramNames.forEach((p, i) => rec.paramGrads.set(p, tf.keep(grads[offset + i])));
    });
  } catch (err) {
    rec.dispose();
    throw err;
  }
  for (const n of gradNames) {
    if (!rec.outputGrads.has(n)) {
      rec.dispose();
      throw new Error(`record: no gradient reached point ${n} (does the loss depend on it?)`);
    }
  }
  return rec;
}

/** The conv points of a model, in forward order. */
export function convPoints(model: Model): PointInfo[] {
  return model.points.filter((p) => p.kind === 'conv');
}

/** Block outputs if the model has residual blocks, otherwise the ReLU outputs (every family has those). */
export function defaultActivationPoints(model: Model): PointInfo[] {
  const blocks = model.points.filter((p) => p.kind === 'block');
  if (blocks.length) return blocks;
  const relus = model.points.filter((p) => p.kind === 'relu');
  return relus.length ? relus : model.points.slice();
}

/** The conv layer in the middle of the network (Fig. 2 and 7 show a middle layer). */
export function middleConv(model: Model): PointInfo {
  const convs = convPoints(model);
  if (!convs.length) throw new Error(`${model.name} has no conv layer`);
  return convs[Math.floor((convs.length - 1) / 2)];
}

export function pointInfo(model: Model, name: string): PointInfo {
  const p = model.points.find((q) => q.name === name);
  if (!p) throw new Error(`${model.name} has no point ${JSON.stringify(name)}`);
  return p;
}

/** Resolves point names (default: `fallback`) to PointInfos in forward order. */
export function choosePoints(model: Model, names: readonly string[] | undefined, fallback: () => PointInfo[]): PointInfo[] {
  if (!names) return fallback();
  checkPoints(model, names, model.name);
  const wanted = new Set(names);
  return model.points.filter((p) => wanted.has(p.name));
}

/**
 * The point whose activation is the input of conv point `conv`, or null for
 * the model's input. Builders register points in the order their layers are
 * applied, and every conv reads the output of the layer applied just before
 * it: in a ResNet, conv1 of a block reads the previous block's output (the
 * 'block' point, registered after that block's branch) or the stem's ReLU,
 * and conv2 reads relu1. `checkConvInput` in ./gradients checks this against the
 * recorded output, so a builder breaking the rule fails loudly.
 */
export function convInputPoint(model: Model, conv: string): string | null {
  const i = model.points.findIndex((p) => p.name === conv);
  if (i < 0) throw new Error(`${model.name} has no point ${JSON.stringify(conv)}`);
  if (model.points[i].kind !== 'conv') throw new Error(`${conv} is a ${model.points[i].kind} point, not a conv`);
  return i === 0 ? null : model.points[i - 1].name;
}
