/**
 * The learning-rate sweep RQ1 and RQ4 share. Both notebooks build their runs
 * from this one base, so a run RQ1 trained (BN or no BN at some rate) has the
 * same config, and so the same key, when RQ4 asks for it: the store serves it
 * and nothing is trained twice.
 */
import type { LrSchedule } from '../train';
import type { DataSpec } from './data';
import { activeProfile, PAPER_SETTING, ProfileName } from './profile';

export interface SweepBase {
  data: DataSpec;
  model: { family: 'resnet'; depth: number; width: number; init: { scheme: 'xavier' | 'he'; distribution: 'uniform' | 'normal' } };
  train: { epochs: number; batchSize: number; momentum: number; weightDecay: number; augment: boolean; schedule: LrSchedule };
  /** Seeds for the runs shown with bands over seeds. */
  seeds: number[];
}

export function lrSweepBase(profile: ProfileName = activeProfile()): SweepBase {
  const sgd = { momentum: 0.9, weightDecay: 1e-4, schedule: { kind: 'step' as const, at: [0.5], factor: 0.1 } };
  const xavier = { scheme: 'xavier' as const, distribution: 'uniform' as const };
  switch (profile) {
    case 'smoke':
      return {
        data: { dataset: 'fashion-mnist', trainSize: 256, testSize: 128, seed: 1 },
        model: { family: 'resnet', depth: 8, width: 4, init: xavier },
        train: { epochs: 1, batchSize: 64, augment: false, ...sgd },
        seeds: [1, 2],
      };
    case 'quick':
      // ResNet-20 (the smallest CIFAR ResNet) on 4,000 Fashion-MNIST images
      // for 3 epochs: about 20 s a run on 2 cores, so a 13-rate sweep fits
      // the report's budget. 20 layers is where BN's effect on the usable
      // learning rate already shows; the paper's 110 is far beyond 2 cores.
      return {
        data: { dataset: 'fashion-mnist', trainSize: 4000, testSize: 1000, seed: 1 },
        model: { family: 'resnet', depth: 20, width: 16, init: xavier },
        train: { epochs: 3, batchSize: 128, augment: false, ...sgd },
        seeds: [1, 2],
      };
    case 'paper':
      return { data: PAPER_SETTING.data, model: { ...PAPER_SETTING.model }, train: { ...PAPER_SETTING.train }, seeds: [1, 2, 3, 4, 5] };
  }
}
