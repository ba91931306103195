/**
 * `npm run bench:fusions`: what each fused pair of ops (ops.setFusions) buys
 * in a ResNet-20 training step (batch 128, as `npm run bench`), on the
 * native backend.
 *
 *   npm run bench:fusions [-- --steps 40 --warmup 6]
 *
 * The effects are a few percent, below the 10–20% by which this shared
 * machine's speed drifts between sittings, so two separate runs cannot show
 * them. Instead one process alternates: step k with the pair fused, step k+1
 * without, and so on. Each line gives both medians and the median of the
 * paired ratios (unfused step over its fused neighbour): above 1 means the
 * fusion helps.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../lib/src/backend';
import { Norm, resnet } from '../lib/src/models';
import { Fusions, setFusions } from '../lib/src/ops';
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

/** Which fusion each norm's ResNet uses: conv + bias without BN, BN + ReLU with it. */
const CASES: { norm: Norm; fusion: keyof Fusions }[] = [
  { norm: 'none', fusion: 'convBias' },
  { norm: 'batch', fusion: 'batchNormRelu' },
];

async function main() {
  const steps = arg('steps', 40);
  const warmup = arg('warmup', 6);
  const backend = await initBackend({ quiet: true });
  if (backend.name !== 'tensorflow') throw new Error(`the fusions exist on the native backend only, not ${backend.name}`);
  for (const { norm, fusion } of CASES) {
    const model = resnet({ depth: 20, norm, inputShape: [32, 32, 3], numClasses: 10, seed: 1 });
    const optimizer = new SgdMomentum(model.trainable, { learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const rng = new Rng(7);
    const x = tf.tensor4d(rng.normalArray(128 * 32 * 32 * 3), [128, 32, 32, 3]);
    const labels = tf.tensor1d(Int32Array.from({ length: 128 }, () => rng.int(10)), 'int32');
    const y = tf.oneHot(labels, 10) as tf.Tensor2D;
    const fused: number[] = [];
    const unfused: number[] = [];
    for (let i = 0; i < warmup + 2 * steps; i++) {
      const on = i % 2 === 0;
      setFusions({ [fusion]: on });
      const t0 = performance.now();
      const { loss, accuracy } = trainStep(model, optimizer, x, y, 0.1);
      loss.dataSync();
      tf.dispose([loss, accuracy]);
      if (i >= warmup) (on ? fused : unfused).push(performance.now() - t0);
    }
    setFusions({ [fusion]: true });
    const pairs = Math.min(fused.length, unfused.length);
    const paired = Array.from({ length: pairs }, (_, k) => unfused[k] / fused[k]);
    console.log(JSON.stringify({
      model: 'resnet20', norm, fusion, batch: 128, steps,
      fusedMsPerStep: +median(fused).toFixed(1),
      unfusedMsPerStep: +median(unfused).toFixed(1),
      unfusedOverFused: +median(paired).toFixed(3),
    }));
    tf.dispose([x, labels, y]);
    optimizer.dispose();
    model.dispose();
  }
}

main().catch((err) => {
  console.error(`[bench:fusions] ${err.message}`);
  process.exit(1);
});
