/**
 * `npm run report`, the main job. Until the notebooks and the HTML report
 * exist, it runs the experiment at the heart of the paper in miniature:
 * ResNet-20 with and without BN on the shipped Fashion-MNIST subset, at a
 * learning rate BN tolerates, and prints what happened to each.
 *
 * Options: --epochs N (default 2), --lr X (default 0.1), --seed N
 */
import { channelStats, consoleProgress, initBackend, loadFashionMnist, normalize, resnet, train } from '../lib/src';
import type { Norm } from '../lib/src';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`--${name} takes a number, got ${process.argv[i + 1]}`);
  return v;
}

async function main() {
  const epochs = option('epochs', 2);
  const lr = option('lr', 0.1);
  const seed = option('seed', 1);
  const backend = await initBackend();
  const trainRaw = loadFashionMnist({ split: 'train' });
  const testRaw = loadFashionMnist({ split: 'test' });
  const stats = channelStats(trainRaw);
  const data = { train: normalize(trainRaw, stats), test: normalize(testRaw, stats) };
  console.error(`[report] Fashion-MNIST subset: ${data.train.count} train, ${data.test.count} test images; ResNet-20, ${epochs} epochs, lr ${lr}, batch 128, seed ${seed}`);
  const rows: Record<string, unknown>[] = [];
  for (const norm of ['batch', 'none'] as Norm[]) {
    const model = resnet({ depth: 20, norm, inputShape: data.train.shape, numClasses: 10, seed });
    const r = await train(model, data, { epochs, batchSize: 128, learningRate: lr, seed, schedule: { kind: 'step', at: [0.5], factor: 0.1 } }, consoleProgress(model.name, { everySeconds: 10 }));
    rows.push({
      model: model.name,
      status: r.status,
      testAccuracy: r.final ? +(100 * r.final.testAccuracy).toFixed(2) : null,
      trainLoss: r.final ? +r.final.trainLoss.toFixed(4) : null,
      divergedAtStep: r.divergence?.step ?? null,
      steps: r.totalSteps,
      seconds: +r.seconds.toFixed(1),
    });
    model.dispose();
  }
  console.table(rows);
  console.log(JSON.stringify({ backend: backend.name, libtensorflow: backend.libtensorflowVersion, epochs, learningRate: lr, seed, runs: rows }));
}

main().catch((err) => {
  console.error(`[report] ${err.message}`);
  process.exit(1);
});
