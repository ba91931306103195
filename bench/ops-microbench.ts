/**
 * Times bnlab's layer ops on ResNet-20-sized tensors, plain tfjs against the
 * native fast paths (lib/src/ops/native.ts), on the native backend; and one
 * optimiser step over ResNet-20's 65 variables, plain against resource
 * variables. Prints a table of median milliseconds.
 *
 *   node --import tsx bench/ops-microbench.ts [--iters 10] [--batch 128]
 *
 * "fwd+bwd" is one forward pass and the gradients w.r.t. every input under a
 * fixed upstream gradient (tf.grads's dy), so nothing but the op is timed.
 * tfjs-node runs TF eagerly and synchronously on the CPU, so wall time
 * around the calls is the work done.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../lib/src/backend';
import { useEveryCore } from '../lib/src/backend/threads';
import * as ops from '../lib/src/ops';
import { SgdMomentum } from '../lib/src/train/optimizer';
import { median } from './median';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const ITERS = arg('iters', 10);
const N = arg('batch', 128);
const WARMUP = 2;


function time(f: () => void): number {
  const ts: number[] = [];
  for (let i = 0; i < WARMUP + ITERS; i++) {
    const t0 = performance.now();
    f();
    if (i >= WARMUP) ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** Median ms of f's forward, and of forward + gradients w.r.t. all inputs, with fast paths on or off. */
function measure(fast: boolean, f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): { fwd: number; both: number } {
  ops.setFastOps(fast);
  const dy = tf.tidy(() => tf.randomNormal(f(...inputs).shape));
  // Block bodies: tf.tidy walks whatever it is handed back looking for
  // tensors, element by element for a typed array.
  const fwd = time(() =>
    tf.tidy(() => {
      f(...inputs);
    }),
  );
  const both = time(() =>
    tf.tidy(() => {
      tf.grads((...xs: tf.Tensor[]) => f(...xs))(inputs, dy);
    }),
  );
  dy.dispose();
  ops.setFastOps(true);
  return { fwd, both };
}

interface Row {
  op: string;
  shape: string;
  plain: { fwd: number; both: number };
  fast: { fwd: number; both: number };
}

function bnParams(c: number): ops.BatchNormParams {
  return {
    gamma: tf.variable(tf.ones([c])),
    beta: tf.variable(tf.zeros([c])),
    movingMean: tf.variable(tf.zeros([c]), false),
    movingVariance: tf.variable(tf.ones([c]), false),
  };
}

/** ResNet-20's trainable shapes: 19 convolutions, 19 BN layers' γ and β, the classifier. */
function resnet20Shapes(): number[][] {
  const convs: number[][] = [[3, 3, 3, 16]];
  for (const [cin, c] of [
    [16, 16],
    [16, 32],
    [32, 64],
  ]) {
    convs.push([3, 3, cin, c]);
    for (let i = 0; i < 5; i++) convs.push([3, 3, c, c]);
  }
  const bn = convs.flatMap((s) => [[s[3]], [s[3]]]);
  return [...convs, ...bn, [64, 10], [10]];
}

function optimizerStep(native: boolean): number {
  // SgdMomentum picks its path from the backend alone, so the plain update
  // is timed as the same tfjs formula written out, on the same backend.
  const shapes = resnet20Shapes();
  const vars = shapes.map((s) => tf.variable(tf.randomNormal(s, 0, 0.1)));
  const grads: Record<string, tf.Tensor> = {};
  vars.forEach((v) => (grads[v.name] = tf.randomNormal(v.shape, 0, 0.01)));
  const cfg = { learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 };
  let ms: number;
  if (native) {
    const opt = new SgdMomentum(vars, cfg);
    ms = time(() => opt.step(grads));
    opt.dispose();
  } else {
    const vel = vars.map((v) => tf.variable(tf.zerosLike(v), false));
    ms = time(() =>
      tf.tidy(() => {
        const lr = tf.scalar(cfg.learningRate);
        const mu = tf.scalar(cfg.momentum);
        const wd = tf.scalar(cfg.weightDecay);
        vars.forEach((w, i) => {
          const v = tf.add(tf.mul(vel[i], mu), tf.add(grads[w.name], tf.mul(w, wd)));
          vel[i].assign(v);
          w.assign(tf.sub(w, tf.mul(v, lr)));
        });
      }),
    );
    tf.dispose(vel);
  }
  tf.dispose([...vars, ...Object.values(grads)]);
  return ms;
}

async function main(): Promise<void> {
  useEveryCore(); // on every core, as the README's figures, not on the profile's thread count
  const info = await initBackend({ backend: 'tensorflow', quiet: true });
  const rows: Row[] = [];
  const add = (op: string, f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]) => {
    rows.push({ op, shape: inputs.map((t) => `[${t.shape}]`).join(' '), plain: measure(false, f, inputs), fast: measure(true, f, inputs) });
  };

  for (const [h, c] of [
    [32, 16],
    [8, 64],
  ]) {
    const x = tf.randomNormal([N, h, h, c]);
    const p = bnParams(c);
    add('batchNorm (train, update stats)', (xs, g, b) => ops.batchNorm(xs, { ...p, gamma: g as tf.Variable, beta: b as tf.Variable }, { training: true }), [x, p.gamma, p.beta]);
    tf.dispose([p.gamma, p.beta, p.movingMean, p.movingVariance]);
    x.dispose();
  }
  {
    const x = tf.randomNormal([N, 32, 32, 16]);
    add('relu', (xs) => ops.relu(xs), [x]);
    x.dispose();
  }
  {
    const x = tf.randomNormal([N, 8, 8, 64]);
    add('globalAvgPool', (xs) => ops.globalAvgPool(xs as tf.Tensor4D), [x]);
    x.dispose();
  }
  for (const shape of [
    [N, 10],
    [N, 32, 32, 16],
  ]) {
    const x = tf.randomNormal(shape);
    const b = tf.randomNormal([shape[shape.length - 1]]);
    add('biasAdd', (xs, bs) => ops.biasAdd(xs, bs), [x, b]);
    tf.dispose([x, b]);
  }

  const fmt = (ms: number) => ms.toFixed(2).padStart(8);
  console.log(`bnlab ops micro-benchmark: tfjs ${info.tfjsVersion}, libtensorflow ${info.libtensorflowVersion}, median of ${ITERS} runs (ms)`);
  console.log(`${'op'.padEnd(32)} ${'inputs'.padEnd(28)} ${'plain fwd'.padStart(9)} ${'fast fwd'.padStart(9)} ${'plain f+b'.padStart(9)} ${'fast f+b'.padStart(9)}  f+b speed-up`);
  for (const r of rows) {
    console.log(
      `${r.op.padEnd(32)} ${r.shape.padEnd(28)} ${fmt(r.plain.fwd)}  ${fmt(r.fast.fwd)}  ${fmt(r.plain.both)}  ${fmt(r.fast.both)}  ${(r.plain.both / r.fast.both).toFixed(1)}×`,
    );
  }
  const plainOpt = optimizerStep(false);
  const fastOpt = optimizerStep(true);
  console.log(`${'SGD step, ResNet-20 (65 vars)'.padEnd(32)} ${'μ 0.9, wd 1e-4'.padEnd(28)} ${''.padStart(9)}  ${''.padStart(9)}  ${fmt(plainOpt)}  ${fmt(fastOpt)}  ${(plainOpt / fastOpt).toFixed(1)}×`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
