/**
 * `npm run bench`: training throughput of ResNet-20 (batch 128, 32×32×3
 * input as in CIFAR-10, SGD with momentum 0.9 and weight decay 1e-4), with BN
 * and without, on the active backend. One JSON line per configuration.
 *
 *   npm run bench                       bnlab on the active backend
 *   npm run bench -- --against torch    also PyTorch CPU (2 threads), default
 *                                       and best configurations, and the ratios
 *                                       (--rounds N, default 3: see below)
 *   npm run bench -- --profile          where one step's time goes, per TF op
 *                                       (forward, backward and optimiser; that
 *                                       step runs synchronously)
 *   npm run bench -- --quick-net        the quick profile's network (ResNet-14 of width 8
 *                                       on 14×14×1) on its thread count (one), as the
 *                                       report trains it
 *            --queue on|off             queued (asynchronous) execution, default on
 *            --step-queue on|off        one queue across the timed steps, as lib's
 *                                       train() runs them (default on); off, the
 *                                       queue drains at each step's end
 *            --huge-pages on|off        each bnlab process started with glibc's
 *                                       transparent huge pages (default on, as the
 *                                       project's commands start TensorFlow; see
 *                                       lib/src/backend/huge-pages.ts)
 *   npm run bench -- --norm group       one model: batch, layer, group, none,
 *                                       final-only or fixup (Fixup's init, no norm)
 *   options: --steps N (timed, default 30) --warmup N (default 5)
 *            --batch N (default 128) --norms batch,none (several models)
 *            --groups N (group norm's groups, default 32)
 *            --plain-group-norm (group and layer norm by the plain formula,
 *            to time the closed-form gradient's fast path against it)
 *            --depth N (a CIFAR ResNet of depth 6n+2, default 20; the paper's
 *            is 110, which the README's sweep cost estimate uses)
 *
 * Each model runs in a fresh process (this script re-runs itself with
 * --one), for bnlab and PyTorch alike: a model that runs after another in
 * the same process inherits a grown heap and looks faster.
 *
 * Against PyTorch, bnlab and PyTorch best alternate, process by process, for
 * --rounds rounds (bnlab, torch, bnlab, torch, … per norm), and the ratio
 * compares the medians over rounds. Run one after the other, a drift of the
 * shared machine's speed between the two halves (10–20% between sittings
 * here) would land in the ratio; alternating spreads it over both.
 * PyTorch default, a reference point only, runs once per norm.
 *
 * FLOPs: ResNet-20 forward is 40.55 M multiply-adds per image (counted from
 * the conv and dense layers the model runs, see countForwardMacs; the 40.8 M
 * often quoted adds option-B 1×1 projection shortcuts, which these parameter-free
 * option-A shortcuts do not have). A training
 * step is taken as 3 forward passes (forward, and the backward pass's two
 * products per layer: gradients of the inputs and of the weights), at 2 FLOPs
 * per multiply-add: 3 × 2 × 40.55 M × 128 ≈ 31.1 GFLOP per step.
 */
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../lib/src/backend';
import { hugePageKb } from '../lib/src/backend/huge-pages';
import { threadSpinning } from '../lib/src/backend/thread-spinning';
import { loadedThreads, profileThreads, sizeThreadPoolsUnlessSet, useEveryCore } from '../lib/src/backend/threads';
import { lrSweepBase } from '../lib/src/experiments/sweep';
import { countForwardMacs, Norm, NORMS, resnet } from '../lib/src/models';
import { setClosedFormGroupNorm } from '../lib/src/ops';
import { nativeBackend } from '../lib/src/ops/native';
import { asyncOpsAvailable, setAsyncOps, withAsyncOps } from '../lib/src/ops/queue';
import { SgdMomentum } from '../lib/src/train/optimizer';
import { trainStep } from '../lib/src/train/loop';
import { Rng } from '../lib/src/util/rng';
import { runBnlabChild } from './child-output';
import { median } from './median';
import { OpTime, threadCpu, threadCpuPerStep, timeNativeOps } from './native-profile';
import type { TorchNorm } from './torch';
import { eachOption, onOff } from './options';

/** A norm, or 'fixup': no norm with Fixup's initialisation. */
type BenchModel = Norm | 'fixup';
const BENCH_MODELS: readonly BenchModel[] = [...NORMS, 'fixup'];
const TORCH_NORMS: readonly BenchModel[] = ['batch', 'none', 'final-only'];

interface Args {
  against: string | null;
  steps: number;
  warmup: number;
  batch: number;
  norms: BenchModel[];
  groups: number | undefined;
  plainGroupNorm: boolean;
  profile: boolean;
  one: BenchModel | null;
  depth: number;
  rounds: number;
  /** The quick profile's network, data shape and thread count instead of ResNet-20 on every core. */
  quickNet: boolean;
  /** Force queued (asynchronous) execution on or off; null: the default (on). */
  queue: boolean | null;
  /** Start each bnlab process with glibc's transparent huge pages (the default), or without. */
  hugePages: boolean;
  /** One queue across the timed steps (withQueuedSteps' way), or drained at each step's end. */
  stepQueue: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    against: null,
    steps: 30,
    warmup: 5,
    batch: 128,
    norms: ['batch', 'none'],
    groups: undefined,
    plainGroupNorm: false,
    profile: false,
    one: null,
    depth: 20,
    rounds: 3,
    quickNet: false,
    queue: null,
    hugePages: true,
    stepQueue: true,
  };
  eachOption(argv, (k, v) => {
    if (k === '--against') a.against = v();
    else if (k === '--steps') a.steps = Number(v());
    else if (k === '--warmup') a.warmup = Number(v());
    else if (k === '--batch') a.batch = Number(v());
    else if (k === '--norms' || k === '--norm') a.norms = v().split(',') as BenchModel[];
    else if (k === '--groups') a.groups = Number(v());
    else if (k === '--plain-group-norm') a.plainGroupNorm = true;
    else if (k === '--profile') a.profile = true;
    else if (k === '--one') a.one = v() as BenchModel;
    else if (k === '--depth') a.depth = Number(v());
    else if (k === '--rounds') a.rounds = Number(v());
    else if (k === '--quick-net') a.quickNet = true;
    else if (k === '--queue') a.queue = onOff(k, v());
    else if (k === '--huge-pages') a.hugePages = onOff(k, v());
    else if (k === '--step-queue') a.stepQueue = onOff(k, v());
    else throw new Error(`unknown option ${k}; see the header of bench/train-throughput.ts`);
  });
  for (const n of [a.steps, a.warmup, a.batch]) if (!Number.isInteger(n) || n < 0) throw new Error(`--steps, --warmup and --batch take whole numbers, got ${n}`);
  if (a.steps < 5) throw new Error('--steps must be at least 5 for a meaningful median');
  if (a.against !== null && a.against !== 'torch') throw new Error(`--against takes 'torch', got ${a.against}`);
  if (!Number.isInteger(a.depth) || a.depth < 8 || (a.depth - 2) % 6 !== 0) throw new Error(`--depth must be 6n + 2 (20, 56, 110, …), got ${a.depth}`);
  if (a.against !== null && a.depth !== 20) throw new Error('--against torch compares ResNet-20 only');
  if (a.against !== null && a.quickNet) throw new Error('--against torch compares ResNet-20 only, not --quick-net');
  if (!Number.isInteger(a.rounds) || a.rounds < 1) throw new Error(`--rounds takes a whole number ≥ 1, got ${a.rounds}`);
  for (const n of a.norms) if (!BENCH_MODELS.includes(n)) throw new Error(`--norm takes ${BENCH_MODELS.join(', ')}, got ${n}`);
  if (a.against !== null && a.norms.some((n) => !TORCH_NORMS.includes(n))) {
    throw new Error(`--against torch compares ${TORCH_NORMS.join(', ')} (bench/torch/resnet_bench.py has no other models)`);
  }
  return a;
}


/** Times one configuration in this process and returns its JSON record. */
async function benchOne(norm: BenchModel, a: Args): Promise<Record<string, unknown>> {
  // ResNet-20 is timed against PyTorch on every core; the quick network on
  // the quick profile's thread count, as the report trains it.
  const quick = a.quickNet ? lrSweepBase('quick') : null;
  // (TF_NUM_INTRAOP_THREADS=2 … --quick-net times it on two, for the comparison.)
  if (quick) sizeThreadPoolsUnlessSet(profileThreads('quick') ?? os.cpus().length);
  else useEveryCore();
  const backend = await initBackend({ quiet: true });
  if (a.plainGroupNorm) setClosedFormGroupNorm(false);
  if (a.queue !== null) setAsyncOps(a.queue);
  const inputShape: [number, number, number] = quick ? [14, 14, 1] : [32, 32, 3];
  const model = resnet({
    depth: quick ? quick.model.depth : a.depth,
    ...(quick ? { width: quick.model.width, init: quick.model.init } : {}),
    ...(norm === 'fixup' ? { norm: 'none', init: { scheme: 'fixup' } } : { norm }),
    ...(norm === 'group' && a.groups !== undefined ? { groups: a.groups } : {}),
    inputShape,
    numClasses: 10,
    seed: 1,
  });
  const macs = countForwardMacs(model).perImageForward;
  const optimizer = new SgdMomentum(model.trainable, { learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  // Synthetic data: data loading is not what is measured (PyTorch's side does the same).
  const rng = new Rng(7);
  const x = tf.tensor4d(rng.normalArray(a.batch * inputShape[0] * inputShape[1] * inputShape[2]), [a.batch, ...inputShape]);
  const labels = tf.tensor1d(Int32Array.from({ length: a.batch }, () => rng.int(10)), 'int32');
  const y = tf.oneHot(labels, 10) as tf.Tensor2D;
  const times: number[] = [];
  const step = () => {
    const t0 = performance.now();
    const { loss, accuracy } = trainStep(model, optimizer, x, y, 0.1);
    loss.dataSync(); // waits for the step's forward pass, and every op queued before it
    loss.dispose();
    accuracy.dispose();
    return performance.now() - t0;
  };
  for (let i = 0; i < a.warmup; i++) step();
  let profile: OpTime[] | undefined;
  if (a.profile) {
    if (backend.name !== 'tensorflow') throw new Error(`--profile times the native backend's ops, not ${backend.name}'s`);
    // A synchronous step: queued, a call's time would be the time to queue
    // it. The first synchronous step after queued ones ran its batch-norm
    // gradients, ReLU gradients and adds 2–3 times slower than the next
    // one, so the profile times the second.
    setAsyncOps(false);
    step();
    profile = timeNativeOps(nativeBackend(), () => void step());
    setAsyncOps(a.queue ?? true);
  }
  // Voluntary context switches (all threads): how often a thread went to
  // sleep waiting, e.g. TF's workers between ops.
  const switches0 = process.resourceUsage().voluntaryContextSwitches;
  // Minor page faults (all threads): memory the allocator handed back to the
  // system and touched again; PyTorch's bench reports the same figure.
  const faults0 = process.resourceUsage().minorPageFault;
  const cpu0 = process.cpuUsage(); // every thread's: what a second process on the same cores has left
  const threads0 = threadCpu();
  // As lib's train() (withQueuedSteps): one queue for all the timed steps,
  // so each step's ops queue behind the previous step's backward pass, and
  // a step's time runs from one loss read to the next. Closing the scope
  // waits for the last backward pass, before the CPU is read.
  const timed = () => {
    for (let i = 0; i < a.steps; i++) times.push(step());
  };
  if (a.stepQueue) withAsyncOps(timed);
  else timed();
  const threads1 = threadCpu();
  const switchesPerStep = (process.resourceUsage().voluntaryContextSwitches - switches0) / a.steps;
  const faultsPerStep = (process.resourceUsage().minorPageFault - faults0) / a.steps;
  const cpu = process.cpuUsage(cpu0);
  const ms = median(times);
  const flopPerStep = 3 * 2 * macs * a.batch;
  x.dispose();
  labels.dispose();
  y.dispose();
  optimizer.dispose();
  model.dispose();
  return {
    framework: 'bnlab',
    backend: backend.name,
    libtensorflow: backend.libtensorflowVersion,
    model: quick ? `resnet${quick.model.depth} width ${quick.model.width} (the quick profile's)` : `resnet${a.depth}`,
    threads: loadedThreads(),
    queued: asyncOpsAvailable(),
    stepQueue: asyncOpsAvailable() && a.stepQueue,
    // Whether TF's idle threads spin (lib/src/backend/thread-spinning.ts); native backend only.
    ...(backend.name === 'tensorflow' ? { threadSpinning: threadSpinning() } : {}),
    norm,
    ...(norm === 'group' || norm === 'layer' ? { groupNormGradient: a.plainGroupNorm ? 'plain' : 'closed-form' } : {}),
    input: inputShape,
    batch: a.batch,
    imagesPerSec: +((a.batch * 1000) / ms).toFixed(1),
    msPerStep: +ms.toFixed(1),
    gflopsPerSec: +(flopPerStep / ms / 1e6).toFixed(2),
    macsPerImageForward: macs,
    gflopPerStep: +(flopPerStep / 1e9).toFixed(2),
    steps: a.steps,
    warmup: a.warmup,
    contextSwitchesPerStep: Math.round(switchesPerStep),
    pageFaultsPerStep: Math.round(faultsPerStep),
    // How much of the process sat in transparent huge pages (KiB), null where the kernel does not say.
    hugePageKb: hugePageKb(),
    cpuMsPerStep: +((cpu.user + cpu.system) / 1000 / a.steps).toFixed(1),
    // Each thread's CPU per step (Linux): TF's compute threads, its
    // executor, V8's helpers; with the JavaScript thread apart.
    ...(threads0 && threads1 ? { threadCpuMsPerStep: threadCpuPerStep(threads0, threads1, a.steps) } : {}),
    ...(profile ? { profile } : {}),
  };
}

async function main() {
  const argv = process.argv.slice(2);
  const a = parseArgs(argv);
  if (a.one) {
    process.stdout.write(JSON.stringify(await benchOne(a.one, a)) + '\n');
    return;
  }
  const childArgv = argv.filter((x, i) => !['--against', '--rounds'].includes(x) && !['--against', '--rounds'].includes(argv[i - 1]));
  console.error(`[bench] ResNet-${a.depth}, batch ${a.batch}, ${a.warmup} warm-up + ${a.steps} timed steps per model, each in a fresh process; ${os.cpus().length} cores`);
  if (a.against !== 'torch') {
    for (const norm of a.norms) console.log(JSON.stringify(runBnlabChild(norm, childArgv, a.hugePages)));
    return;
  }
  const torch = await import('./torch');
  await torch.ensureTorch(path.resolve(__dirname, '..'));
  const [defaultConfig, bestConfig] = ['default', 'best'].map((n) => torch.TORCH_CONFIGS.find((c) => c.name === n)!);
  const torchRun = (norm: BenchModel, config: typeof bestConfig) =>
    torch.runTorchBench({ norm: norm as TorchNorm, config, steps: a.steps, warmup: a.warmup, batch: a.batch, threads: 2 });
  const ours = new Map<BenchModel, Record<string, unknown>[]>(a.norms.map((n) => [n, []]));
  const best = new Map<BenchModel, Record<string, unknown>[]>(a.norms.map((n) => [n, []]));
  for (let round = 1; round <= a.rounds; round++) {
    console.error(`[bench] round ${round} of ${a.rounds}: bnlab and PyTorch best, alternating`);
    for (const norm of a.norms) {
      const mine = { ...runBnlabChild(norm, childArgv, a.hugePages), round };
      ours.get(norm)!.push(mine);
      console.log(JSON.stringify(mine));
      const theirs = { ...(await torchRun(norm, bestConfig)), round };
      best.get(norm)!.push(theirs);
      console.log(JSON.stringify(theirs));
    }
  }
  const ms = (rs: Record<string, unknown>[]) => median(rs.map((r) => r.msPerStep as number));
  for (const norm of a.norms) {
    const mine = ms(ours.get(norm)!);
    const theirs = ms(best.get(norm)!);
    const dflt = await torchRun(norm, defaultConfig);
    console.log(JSON.stringify(dflt));
    const perRound = ours.get(norm)!.map((r, i) => +((best.get(norm)![i].msPerStep as number) / (r.msPerStep as number)).toFixed(3));
    // Throughput ratios: bnlab images/s over PyTorch's, i.e. PyTorch's ms over bnlab's.
    console.log(JSON.stringify({ compare: 'bnlab/torch-best', norm, ratio: +(theirs / mine).toFixed(3), rounds: a.rounds, bnlabMsPerStep: +mine.toFixed(1), torchMsPerStep: +theirs.toFixed(1), perRound }));
    console.log(JSON.stringify({ compare: 'bnlab/torch-default', norm, ratio: +((dflt.msPerStep as number) / mine).toFixed(3), bnlabMsPerStep: +mine.toFixed(1), torchMsPerStep: +(dflt.msPerStep as number).toFixed(1) }));
  }
}

main().catch((err) => {
  console.error(`[bench] ${err.message}`);
  process.exit(1);
});
