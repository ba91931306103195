/**
 * SgdMomentum against PyTorch's SGD computed by hand in plain JS on
 * Float32Arrays, on the native backend (resource variables and
 * ResourceApplyMomentum) and on the cpu backend (plain tfjs ops).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../../lib/src/backend';
import { SgdMomentum, type SgdConfig } from '../../lib/src/train/optimizer';
import { assertClose, liveTensors } from './helpers';

const SHAPES = [[3, 2, 5], [7], [4, 3]];

/** A deterministic value for (variable, step, element), roughly in [−1, 1]. */
const gradAt = (v: number, step: number, i: number) => Math.sin(1.7 * i + 3.1 * v + 0.9 * step) * (1 + 0.3 * v);
const initAt = (v: number, i: number) => Math.cos(0.6 * i + 2.3 * v);

/** PyTorch's torch.optim.SGD (dampening 0, no Nesterov), in float32 arithmetic. */
function reference(cfg: SgdConfig, lrs: number[], skip: (v: number, step: number) => boolean = () => false, overwrite?: { step: number; value: (v: number, i: number) => number }) {
  const f = Math.fround;
  const ws = SHAPES.map((s, v) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => initAt(v, i)));
  const vs = ws.map((w) => new Float32Array(w.length));
  lrs.forEach((lr, step) => {
    if (overwrite && overwrite.step === step) ws.forEach((w, v) => w.forEach((_, i) => (w[i] = overwrite.value(v, i))));
    ws.forEach((w, v) => {
      if (skip(v, step)) return;
      for (let i = 0; i < w.length; i++) {
        const g = f(f(gradAt(v, step, i)) + f(cfg.weightDecay * w[i]));
        vs[v][i] = f(f(cfg.momentum * vs[v][i]) + g);
        w[i] = f(w[i] - f(lr * vs[v][i]));
      }
    });
  });
  return { ws, vs };
}

function makeVariables(tag: string): Map<string, tf.Variable> {
  return new Map(
    SHAPES.map((s, v) => {
      const n = s.reduce((a, b) => a * b, 1);
      const init = tf.tensor(Float32Array.from({ length: n }, (_, i) => initAt(v, i)), s);
      const variable = tf.variable(init);
      init.dispose();
      return [`${tag}/p${v}`, variable];
    }),
  );
}

function gradsFor(vars: Map<string, tf.Variable>, step: number, skip: (v: number, step: number) => boolean = () => false): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  [...vars.keys()].forEach((name, v) => {
    if (skip(v, step)) return;
    const s = SHAPES[v];
    const n = s.reduce((a, b) => a * b, 1);
    out[name] = tf.tensor(Float32Array.from({ length: n }, (_, i) => gradAt(v, step, i)), s);
  });
  return out;
}

const CONFIGS: SgdConfig[] = [
  { learningRate: 0.1, momentum: 0.9, weightDecay: 0.05 },
  { learningRate: 0.1, momentum: 0.9, weightDecay: 0 },
  { learningRate: 0.2, momentum: 0, weightDecay: 0.05 },
];
const LRS = [0.1, 0.1, 0.04]; // the last step overrides the rate, as a schedule does
let tags = 0;

for (const backend of ['tensorflow', 'cpu'] as BackendName[]) {
  describe(`SgdMomentum on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, quiet: true });
    });

    for (const cfg of CONFIGS) {
      it(`matches PyTorch's SGD after 3 steps (μ ${cfg.momentum}, wd ${cfg.weightDecay}), weights and velocities`, () => {
        const vars = makeVariables(`t${tags++}`);
        const opt = new SgdMomentum(vars, cfg);
        assert.equal(opt.mode, backend === 'tensorflow' ? 'native' : 'plain');
        LRS.forEach((lr, step) => {
          const g = gradsFor(vars, step);
          opt.step(g, step === 2 ? lr : undefined);
          tf.dispose(Object.values(g));
        });
        const ref = reference(cfg, LRS.map((lr, step) => (step === 2 ? lr : cfg.learningRate)));
        [...vars.entries()].forEach(([name, w], v) => {
          assertClose(w, ref.ws[v], 1e-5, `${name} weights`);
          const vel = opt.velocity(name);
          assertClose(vel, ref.vs[v], 1e-5, `${name} velocity`);
          vel.dispose();
        });
        opt.dispose();
        tf.dispose([...vars.values()]);
      });
    }

    it('leaves alone the variables without a gradient, velocity included', () => {
      const cfg = CONFIGS[0];
      const skip = (v: number, step: number) => v === 1 || (v === 2 && step === 1);
      const vars = makeVariables(`t${tags++}`);
      const opt = new SgdMomentum(vars, cfg);
      LRS.forEach((lr, step) => {
        const g = gradsFor(vars, step, skip);
        opt.step(g, lr);
        tf.dispose(Object.values(g));
      });
      const ref = reference(cfg, LRS, skip);
      [...vars.values()].forEach((w, v) => assertClose(w, ref.ws[v], 1e-5, `variable ${v}`));
      opt.dispose();
      tf.dispose([...vars.values()]);
    });

    it('picks up a value assigned to a variable from outside between steps', () => {
      const cfg = CONFIGS[0];
      const overwrite = { step: 1, value: (v: number, i: number) => 0.5 - 0.1 * i + v };
      const vars = makeVariables(`t${tags++}`);
      const opt = new SgdMomentum(vars, cfg);
      LRS.forEach((lr, step) => {
        if (step === overwrite.step) {
          [...vars.values()].forEach((w, v) => {
            const t = tf.tensor(Float32Array.from({ length: w.size }, (_, i) => overwrite.value(v, i)), w.shape);
            w.assign(t);
            t.dispose();
          });
        }
        const g = gradsFor(vars, step);
        opt.step(g, lr);
        tf.dispose(Object.values(g));
      });
      const ref = reference(cfg, LRS, undefined, overwrite);
      [...vars.values()].forEach((w, v) => assertClose(w, ref.ws[v], 1e-5, `variable ${v}`));
      opt.dispose();
      tf.dispose([...vars.values()]);
    });

    it('never changes a tensor that held an earlier value of a variable', () => {
      const vars = makeVariables(`t${tags++}`);
      const opt = new SgdMomentum(vars, CONFIGS[0]);
      const w = [...vars.values()][0];
      const g0 = gradsFor(vars, 0);
      opt.step(g0);
      // A clone shares the variable's buffer (the tape's saved tensors do
      // too); an in-place update of that buffer would show through it.
      const snapshot = tf.clone(w);
      const expected = Array.from(w.dataSync());
      const g1 = gradsFor(vars, 1);
      opt.step(g1);
      assert.deepEqual(Array.from(snapshot.dataSync()), expected);
      assert.notDeepEqual(Array.from(w.dataSync()), expected);
      tf.dispose([snapshot, ...Object.values(g0), ...Object.values(g1)]);
      opt.dispose();
      tf.dispose([...vars.values()]);
    });

    it('works when built and stepped inside tf.tidy, and leaks no tensor', () => {
      const vars = makeVariables(`t${tags++}`);
      // tfjs-node uploads a tensor's values to TF on first use: do that now,
      // so that the native count compares like with like.
      tf.tidy(() => {
        for (const w of vars.values()) tf.neg(w);
      });
      const before = liveTensors();
      let opt!: SgdMomentum;
      tf.tidy(() => {
        opt = new SgdMomentum([...vars.values()], CONFIGS[0]);
      });
      const run = (step: number) =>
        tf.tidy(() => {
          const g = gradsFor(vars, step);
          // keyed by variable name, as with an array of variables
          opt.step(Object.fromEntries([...vars.values()].map((w, v) => [w.name, Object.values(g)[v]])), LRS[step]);
        });
      run(0);
      const during = liveTensors();
      run(1);
      assert.deepEqual(liveTensors(), during, 'flat across steps');
      run(2);
      assert.deepEqual(liveTensors(), during, 'flat across steps');
      opt.dispose();
      assert.deepEqual(liveTensors(), before, 'back to the start after dispose');
      const ref = reference(CONFIGS[0], LRS);
      [...vars.values()].forEach((w, v) => assertClose(w, ref.ws[v], 1e-5, `variable ${v}`));
      tf.dispose([...vars.values()]);
    });

    it('rejects a gradient for an unknown name', () => {
      const vars = makeVariables(`t${tags++}`);
      const opt = new SgdMomentum(vars, CONFIGS[0]);
      const g = tf.zeros([2]);
      assert.throws(() => opt.step({ nope: g }), /unknown variable nope/);
      g.dispose();
      opt.dispose();
      tf.dispose([...vars.values()]);
    });
  });
}

after(async () => {
  await initBackend({ backend: 'tensorflow', quiet: true });
});
