/**
 * SGD with momentum and weight decay, with PyTorch's semantics:
 *
 *   g' = g + wd·w;   v ← μ·v + g';   w ← w − lr·v      (v starts at zero)
 *
 * On the native backend the update runs on TensorFlow resource variables
 * that mirror the tfjs ones, so that one ResourceApplyMomentum kernel does
 * what tfjs's optimiser does with four ops per variable. tfjs-node's binding
 * handles resource tensors: VarHandleOp returns one (as a 'string' tfjs
 * tensor wrapping the TFE handle), and it can be fed back as an input.
 * Per variable and step the native path issues
 *
 *   ResourceApplyGradientDescent(v, −wd/μ, w)   v ← v + (wd/μ)·w   (if wd ≠ 0)
 *   ResourceApplyMomentum(w, v, lr, g, μ)      v ← μ·v + g;  w ← w − lr·v
 *   ReadVariableOp(w)                          the new value for the tfjs variable
 *
 * The first line folds weight decay into the velocity before the momentum
 * multiplies it, giving μ·v + wd·w + g without computing g' (two more ops).
 * TF copies a resource's buffer before updating it in place whenever a
 * tensor still shares it, so tensors read earlier (the tfjs variable's old
 * value, tensors saved by a tape) never change.
 *
 * If anything else assigns the tfjs variable (a checkpoint load, a probe
 * that perturbs and restores weights), its dataId changes; the next step
 * notices and copies it into the resource first (AssignVariableOp).
 */
import * as tf from '@tensorflow/tfjs-core';
import { attr, isNativeBackend, nativeBackend, NativeBackend, OpAttr } from '../ops/native';

export interface SgdConfig {
  learningRate: number;
  momentum: number;
  weightDecay: number;
}

interface Slot {
  name: string;
  variable: tf.Variable;
}

/** The native path's state per variable. */
interface ResourceSlot extends Slot {
  weight: tf.Tensor; // resource handle
  velocity: tf.Tensor; // resource handle
  /** The dataId the tfjs variable had after our last write; another one means someone assigned it. */
  syncedDataId: object | null;
}

let instances = 0;

export class SgdMomentum {
  readonly config: SgdConfig;
  /** 'native' (resource variables, TF's fused update) or 'plain' (tfjs ops), fixed at construction. */
  readonly mode: 'native' | 'plain';
  private readonly backendName: string;
  private readonly slots: Slot[];
  private readonly byName = new Map<string, number>();
  private plainVelocity: tf.Variable[] = [];
  private resources: ResourceSlot[] = [];
  private constants: tf.Tensor[] = [];
  private lrCache: { value: number; tensor: tf.Scalar } | null = null;
  private disposed = false;

  constructor(variables: ReadonlyMap<string, tf.Variable> | readonly tf.Variable[], config: SgdConfig) {
    if (!(config.momentum >= 0)) throw new Error(`SgdMomentum: momentum must be ≥ 0, got ${config.momentum}`);
    if (!(config.weightDecay >= 0)) throw new Error(`SgdMomentum: weightDecay must be ≥ 0, got ${config.weightDecay}`);
    this.config = { ...config };
    const entries: [string, tf.Variable][] = Array.isArray(variables)
      ? (variables as readonly tf.Variable[]).map((v) => [v.name, v])
      : [...(variables as ReadonlyMap<string, tf.Variable>).entries()];
    this.slots = entries.map(([name, variable]) => ({ name, variable }));
    this.slots.forEach((s, i) => {
      if (this.byName.has(s.name)) throw new Error(`SgdMomentum: two variables named ${s.name}`);
      this.byName.set(s.name, i);
      if (s.variable.dtype !== 'float32') throw new Error(`SgdMomentum: variable ${s.name} is ${s.variable.dtype}, not float32`);
    });
    this.backendName = tf.getBackend();
    this.mode = isNativeBackend() ? 'native' : 'plain';
    const id = instances++;
    // tf.keep: the optimiser may be built inside a tidy; its state outlives it.
    if (this.mode === 'native') {
      const be = nativeBackend();
      const b = be.binding;
      this.resources = this.slots.map((s, i) => {
        const handle = (role: string) =>
          tf.keep(
            be.executeSingleOutput(
              'VarHandleOp',
              [
                attr.str(b, 'container', ''),
                attr.str(b, 'shared_name', `bnlab_sgd${id}_${i}_${role}`),
                attr.type(b, 'dtype'),
                attr.shape(b, 'shape', s.variable.shape),
              ],
              [],
            ),
          );
        const slot: ResourceSlot = { ...s, weight: handle('w'), velocity: handle('v'), syncedDataId: null };
        tf.tidy(() => assignResource(be, slot.velocity, tf.zeros(s.variable.shape)));
        return slot;
      });
      // −wd/μ for the decay fold; with μ = 0 the velocity is not carried and
      // decay goes into the gradient instead (see step).
      if (config.weightDecay > 0 && config.momentum > 0) this.constants.push(tf.keep(tf.scalar(-config.weightDecay / config.momentum)));
      this.constants.push(tf.keep(tf.scalar(config.momentum)));
      if (config.weightDecay > 0) this.constants.push(tf.keep(tf.scalar(config.weightDecay)));
    } else {
      this.plainVelocity = this.slots.map((s, i) => {
        const zeros = tf.zeros(s.variable.shape);
        const v = tf.keep(tf.variable(zeros, false, `bnlab_sgd${id}_${i}_v`));
        zeros.dispose(); // the variable holds its own reference to the data
        return v;
      });
    }
  }

  /**
   * One update. `grads` maps the names the optimiser was built with (the
   * Map's keys, or the variables' names) to gradients; variables without a
   * gradient are left alone, as PyTorch does. The gradients stay the caller's.
   */
  step(grads: Record<string, tf.Tensor> | tf.NamedTensorMap, learningRate?: number): void {
    if (this.disposed) throw new Error('SgdMomentum: step after dispose');
    if (tf.getBackend() !== this.backendName) {
      throw new Error(`SgdMomentum was built on the ${this.backendName} backend but ${tf.getBackend()} is active; build a new one`);
    }
    for (const name of Object.keys(grads)) {
      if (!this.byName.has(name)) throw new Error(`SgdMomentum: gradient for unknown variable ${name}`);
    }
    const lr = learningRate ?? this.config.learningRate;
    if (this.mode === 'native') this.stepNative(grads, lr);
    else this.stepPlain(grads, lr);
  }

  private stepPlain(grads: Record<string, tf.Tensor>, lr: number): void {
    const { momentum, weightDecay } = this.config;
    tf.tidy(() => {
      const lrT = tf.scalar(lr);
      const muT = tf.scalar(momentum);
      const wdT = tf.scalar(weightDecay);
      this.slots.forEach((s, i) => {
        const g = grads[s.name];
        if (g == null) return;
        const w = s.variable;
        const gd = weightDecay > 0 ? tf.add(g, tf.mul(w, wdT)) : g;
        const v = tf.add(tf.mul(this.plainVelocity[i], muT), gd);
        this.plainVelocity[i].assign(v);
        w.assign(tf.sub(w, tf.mul(v, lrT)));
      });
    });
  }

  private stepNative(grads: Record<string, tf.Tensor>, lr: number): void {
    const be = nativeBackend();
    const b = be.binding;
    const { momentum, weightDecay } = this.config;
    const fold = weightDecay > 0 && momentum > 0;
    const [foldT, muT, wdT] = fold ? this.constants : [null, ...this.constants];
    const lrT = this.learningRateTensor(lr);
    const T: OpAttr[] = [attr.type(b, 'T'), attr.bool(b, 'use_locking', false)];
    const momentumAttrs = [...T, attr.bool(b, 'use_nesterov', false)];
    const readAttrs = [attr.type(b, 'dtype')];
    const updated: ResourceSlot[] = [];
    for (const s of this.resources) {
      const g = grads[s.name];
      if (g == null) continue;
      const w = s.variable;
      if (w.dataId !== s.syncedDataId) assignResource(be, s.weight, w);
      let gd = g;
      if (fold) {
        be.executeMultipleOutputs('ResourceApplyGradientDescent', T, [s.velocity, foldT!, w], 0);
      } else if (weightDecay > 0) {
        // μ = 0: no velocity to fold into; g' = g + wd·w directly.
        const decay = be.executeSingleOutput('Mul', [attr.type(b, 'T')], [w, wdT!]);
        gd = be.executeSingleOutput('AddV2', [attr.type(b, 'T')], [g, decay]);
        decay.dispose();
      }
      be.executeMultipleOutputs('ResourceApplyMomentum', momentumAttrs, [s.weight, s.velocity, lrT, gd, muT!], 0);
      if (gd !== g) gd.dispose();
      updated.push(s);
    }
    // The reads come after every update is queued. TF's shape function
    // cannot tell a ReadVariableOp's shape, so the binding waits for the
    // first read of each variable (and the queue before it) and recalls the
    // shape afterwards; read in turn with the updates, that first step would
    // cost a round trip to TF's executor per variable.
    for (const s of updated) {
      const w = s.variable;
      const next = be.executeSingleOutput('ReadVariableOp', readAttrs, [s.weight]);
      w.assign(next);
      next.dispose(); // the variable holds its own reference
      s.syncedDataId = w.dataId;
    }
  }

  private learningRateTensor(lr: number): tf.Scalar {
    if (this.lrCache?.value !== lr) {
      this.lrCache?.tensor.dispose();
      this.lrCache = { value: lr, tensor: tf.keep(tf.scalar(lr)) };
    }
    return this.lrCache.tensor;
  }

  /** A copy of a variable's velocity (the caller disposes it). */
  velocity(name: string): tf.Tensor {
    const i = this.byName.get(name);
    if (i == null) throw new Error(`SgdMomentum: no variable ${name}`);
    if (this.mode === 'plain') return tf.clone(this.plainVelocity[i]);
    const be = nativeBackend();
    return be.executeSingleOutput('ReadVariableOp', [attr.type(be.binding, 'dtype')], [this.resources[i].velocity]);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.mode === 'native' && isNativeBackend()) {
      const be = nativeBackend();
      const destroy = [attr.bool(be.binding, 'ignore_lookup_error', true)];
      for (const s of this.resources) {
        be.executeMultipleOutputs('DestroyResourceOp', destroy, [s.weight], 0);
        be.executeMultipleOutputs('DestroyResourceOp', destroy, [s.velocity], 0);
      }
    }
    tf.dispose(this.resources.flatMap((s) => [s.weight, s.velocity]));
    tf.dispose(this.plainVelocity);
    tf.dispose(this.constants);
    this.lrCache?.tensor.dispose();
    this.resources = [];
    this.plainVelocity = [];
    this.constants = [];
    this.lrCache = null;
  }
}

function assignResource(be: NativeBackend, handle: tf.Tensor, value: tf.Tensor): void {
  be.executeMultipleOutputs('AssignVariableOp', [attr.type(be.binding, 'dtype')], [handle, value], 0);
}
