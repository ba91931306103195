/**
 * The learning-rate sweep RQ1 and RQ4 share. Both notebooks build their runs
 * from this one base, so a run RQ1 trained (BN or no BN at some rate) has the
 * same config, and so the same key, when RQ4 asks for it: the store serves it
 * and nothing is trained twice.
 */
import { Normaliser, NORMALISER_LABEL } from '../models/norm';
import type { LrSchedule } from '../train';
import { plateauSchedule } from './convergence-rule';
import type { DataSpec } from './data';
import { activeProfile, PAPER_SETTING, ProfileName } from './profile';
import type { TrainRunSpec } from './runs';

export interface SweepBase {
  data: DataSpec;
  model: { family: 'resnet'; depth: number; width: number; init: { scheme: 'xavier' | 'he'; distribution: 'uniform' | 'normal' } };
  train: { batchSize: number; momentum: number; weightDecay: number; augment: boolean; schedule: LrSchedule };
  /** How many epochs a run at each learning rate trains (budgetEpochs). */
  budget: EpochBudget;
  /** Seeds for the runs shown with bands over seeds. */
  seeds: number[];
}

/**
 * A training budget that grows as the learning rate falls, with a cap: a
 * smaller step needs more of them to get as far, so the paper trained its
 * small rates longer. `epochs` at `atRate` and above, growing as
 * (atRate / lr)^growth below it, never more than `maxEpochs`.
 */
export interface EpochBudget {
  epochs: number;
  atRate: number;
  growth: number;
  maxEpochs: number;
}

export function budgetEpochs(b: EpochBudget, learningRate: number): number {
  if (!(learningRate > 0)) throw new Error(`budgetEpochs: the learning rate must be positive, got ${learningRate}`);
  const grown = learningRate >= b.atRate ? b.epochs : Math.ceil(b.epochs * (b.atRate / learningRate) ** b.growth - 1e-9);
  return Math.min(b.maxEpochs, Math.max(b.epochs, grown));
}

/** One run of the sweep; `norm` may be 'fixup' (no norm, Fixup's init: RQ6). */
export interface SweepPoint<N extends Normaliser = Normaliser> {
  norm: N;
  learningRate: number;
  seed: number;
  /** Group norm's groups (the model builder's default when absent); only a 'group' point may set it. */
  groups?: number;
}

/**
 * The run spec of one sweep point: the shared RQ1/RQ4 base unchanged, with
 * only the norm, the learning rate and the seed (of the init and of the data
 * order) set. The store keys on everything but the label, so equal points
 * are equal runs whichever notebook (or grid shard) asks: do not change how
 * this is built.
 */
export function sweepSpec(base: SweepBase, p: SweepPoint): TrainRunSpec {
  // Set only where it means something, so that other points keep their keys.
  if (p.groups !== undefined && p.norm !== 'group')
    throw new Error(`sweepSpec: groups is group norm's option; the point's norm is '${p.norm}'`);
  const groups = p.groups === undefined ? {} : { groups: p.groups };
  return {
    label: `${NORMALISER_LABEL[p.norm]}${p.groups === undefined ? '' : ` (${p.groups} groups)`}, lr ${p.learningRate}, seed ${p.seed}`,
    data: base.data,
    model:
      p.norm === 'fixup'
        ? { ...base.model, norm: 'none', init: { scheme: 'fixup', distribution: base.model.init.distribution }, seed: p.seed }
        : { ...base.model, norm: p.norm, ...groups, seed: p.seed },
    train: { ...base.train, epochs: budgetEpochs(base.budget, p.learningRate), learningRate: p.learningRate, seed: p.seed },
  };
}

export function lrSweepBase(profile: ProfileName = activeProfile()): SweepBase {
  const sgd = { momentum: 0.9, weightDecay: 1e-4, schedule: { kind: 'step' as const, at: [0.5], factor: 0.1 } };
  const xavier = { scheme: 'xavier' as const, distribution: 'uniform' as const };
  switch (profile) {
    case 'smoke':
      return {
        data: { dataset: 'fashion-mnist', trainSize: 256, testSize: 128, seed: 1 },
        model: { family: 'resnet', depth: 8, width: 4, init: xavier },
        train: { batchSize: 64, augment: false, ...sgd },
        budget: { epochs: 1, atRate: 0.1, growth: 0, maxEpochs: 1 },
        seeds: [1, 2],
      };
    case 'quick':
      // Sized so that the sweep's runs can converge (the rule in
      // analysis/convergence) within the report's 15 minutes on 2 cores: a
      // ResNet-14 of width 8 on 2,000 Fashion-MNIST images averaged down to
      // 14×14. `npm run bench:convergence` measures the options; the RQ1
      // notebook says why this one. With a fixed drop at 50% of 30 epochs
      // (at 0.1, growing as (0.1/lr)^0.5 to 100 at 0.003), 4 of the 6 no-BN
      // runs were still rising before the drop while BN's had long stopped;
      // so the rate drops when learning slows, by the rule's own test
      // (a plateau schedule), and the budget is a cap twice that long.
      return {
        data: { dataset: 'fashion-mnist', trainSize: 2000, testSize: 1000, seed: 1, downsample: 2 },
        model: { family: 'resnet', depth: 14, width: 8, init: xavier },
        train: { batchSize: 128, augment: false, ...sgd, schedule: plateauSchedule({ factor: 0.1, at: 0.5 }) },
        budget: { epochs: 60, atRate: 0.1, growth: 0.5, maxEpochs: 200 },
        seeds: [1, 2],
      };
    case 'long':
      // The full Fashion-MNIST (60,000 / 10,000, Debian's dataset-fashion-mnist)
      // at 14×14 and a ResNet-32 of the paper's widths, trained to
      // convergence at every rate: hours per run on 2 cores, meant for
      // `npm run sweep` on a cluster or an overnight run.
      return {
        data: { dataset: 'fashion-mnist', dir: 'system', seed: 1, downsample: 2 },
        model: { family: 'resnet', depth: 32, width: 16, init: xavier },
        train: { batchSize: 128, augment: false, ...sgd },
        // 20 epochs at 0.1 left BN's run still climbing before the drop (its
        // trend suggested 8 more epochs), hence 30.
        budget: { epochs: 30, atRate: 0.1, growth: 0.5, maxEpochs: 120 },
        seeds: [1, 2],
      };
    case 'paper': {
      const { epochs, ...train } = PAPER_SETTING.train;
      // 160 epochs at 0.1 as in He et al.'s schedule, longer at small rates
      // as the paper did, up to four times as long.
      return {
        data: PAPER_SETTING.data,
        model: { ...PAPER_SETTING.model },
        train,
        budget: { epochs, atRate: 0.1, growth: 0.5, maxEpochs: 4 * epochs },
        seeds: [1, 2, 3, 4, 5],
      };
    }
  }
}
