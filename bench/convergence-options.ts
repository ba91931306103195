/**
 * `npm run bench:convergence`: what each candidate setting of the quick
 * profile would cost if every run of RQ1's and RQ4's sweep trained to its
 * convergence budget. The RQ1 notebook's "what differs from the paper"
 * section cites it for the setting it chose.
 *
 * For each option, the median time of a training step (batch 128, SGD with
 * momentum, on the option's own input size) with BN and without, in this
 * process, and the sweep's training time on paper: the quick grid's rates
 * (BN and no BN on 2 seeds, final-only BN on one), each run for
 * budgetEpochs(quick's budget, rate) epochs of the option's training set
 * and an evaluation of 1,000 test images per epoch, BN and final-only at
 * BN's step time, no BN at its own. Diverged runs stop
 * early, so this is an upper bound.
 *
 *   options: --steps N (timed, default 20) --warmup N (default 3)
 */
import * as tf from '@tensorflow/tfjs-core';
import { gridValues, readGrid } from '../lib/src/grid';
import { initBackend } from '../lib/src/backend';
import { lrSweepBase, budgetEpochs } from '../lib/src/experiments/sweep';
import { resnet, Norm } from '../lib/src/models';
import { SgdMomentum } from '../lib/src/train/optimizer';
import { trainStep } from '../lib/src/train/loop';
import { Rng } from '../lib/src/util/rng';
import { median } from './median';

interface Option {
  name: string;
  depth: number;
  width: number;
  trainSize: number;
  /** Input side: 28 (Fashion-MNIST as it is) or 14 (downsampled 2×). */
  side: number;
}

const OPTIONS: Option[] = [
  { name: 'former quick: ResNet-20 width 16, 4,000 images, 28×28', depth: 20, width: 16, trainSize: 4000, side: 28 },
  { name: 'ResNet-20 width 16, 4,000 images, 14×14', depth: 20, width: 16, trainSize: 4000, side: 14 },
  { name: 'ResNet-20 width 8, 2,000 images, 28×28', depth: 20, width: 8, trainSize: 2000, side: 28 },
  { name: 'ResNet-20 width 8, 2,000 images, 14×14', depth: 20, width: 8, trainSize: 2000, side: 14 },
  { name: 'ResNet-8 width 16, 2,000 images, 14×14', depth: 8, width: 16, trainSize: 2000, side: 14 },
  { name: 'chosen: ResNet-14 width 8, 2,000 images, 14×14', depth: 14, width: 8, trainSize: 2000, side: 14 },
];

function stepMs(o: Option, norm: Norm, steps: number, warmup: number): number {
  const batch = 128;
  const model = resnet({ depth: o.depth, width: o.width, norm, inputShape: [o.side, o.side, 1], numClasses: 10, seed: 1 });
  const optimizer = new SgdMomentum(model.trainable, { learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const rng = new Rng(7);
  const x = tf.tensor4d(rng.normalArray(batch * o.side * o.side), [batch, o.side, o.side, 1]);
  const labels = tf.tensor1d(Int32Array.from({ length: batch }, () => rng.int(10)), 'int32');
  const y = tf.oneHot(labels, 10) as tf.Tensor2D;
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const { loss, accuracy } = trainStep(model, optimizer, x, y, 0.01);
    loss.dataSync();
    tf.dispose([loss, accuracy]);
    if (i >= warmup) times.push(performance.now() - t0);
  }
  tf.dispose([x, labels, y]);
  optimizer.dispose();
  model.dispose();
  return median(times);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const num = (flag: string, d: number) => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const steps = num('--steps', 20);
  const warmup = num('--warmup', 3);
  const backend = await initBackend({ quiet: true });
  const quick = lrSweepBase('quick');
  // The quick grid's rates, as the report trains them.
  const rates = gridValues(readGrid('rq1-lr-sweep', 'quick'), 'learningRate', { norm: 'batch' }) as number[];
  const epochsSum = rates.reduce((s, lr) => s + budgetEpochs(quick.budget, lr), 0);
  const rows = [];
  for (const o of OPTIONS) {
    const bnMs = stepMs(o, 'batch', steps, warmup);
    const noBnMs = stepMs(o, 'none', steps, warmup);
    // Each epoch also evaluates the 1,000 test images: a forward pass, about
    // a third of a training step per image (as npm run sweep --estimate counts it).
    const perEpoch = Math.floor(o.trainSize / quick.train.batchSize) + 1000 / quick.train.batchSize / 3;
    // BN and no BN on 2 seeds (RQ1), final-only on 1 (RQ4) at about BN's cost.
    const seconds = (epochsSum * perEpoch * (2 * bnMs + 2 * noBnMs + bnMs)) / 1000;
    const row = { option: o.name, backend: backend.name, msPerStepBn: +bnMs.toFixed(1), msPerStepNoBn: +noBnMs.toFixed(1), sweepSteps: epochsSum * Math.floor(o.trainSize / quick.train.batchSize) * 5, sweepMinutes: +(seconds / 60).toFixed(1) };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  console.log(`\nquick budget: ${rates.map((lr) => `${budgetEpochs(quick.budget, lr)} epochs at lr ${lr}`).join(', ')}; minutes of training and evaluation for RQ1's sweep and RQ4's final-only runs, upper bound (no run diverging):`);
  console.table(rows.map((r) => ({ option: r.option, 'BN ms/step': r.msPerStepBn, 'no BN ms/step': r.msPerStepNoBn, minutes: r.sweepMinutes })));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
