/**
 * Profiles: one knob for how big every experiment is.
 *   smoke  every notebook in seconds, for tests and CI
 *   quick  the report's default: every notebook within 15 minutes on 2 cores,
 *          with the training runs trained to convergence
 *   long   between quick and paper: the full Fashion-MNIST and a deeper
 *          ResNet, trained to convergence at every rate; for `npm run sweep`
 *          on a cluster or an overnight run
 *   paper  ResNet-110 on CIFAR-10 with the paper's hyperparameters
 * A notebook's parameters cell picks its settings with `byProfile({...})`.
 */
export type ProfileName = 'smoke' | 'quick' | 'long' | 'paper';
export const PROFILES: readonly ProfileName[] = ['smoke', 'quick', 'long', 'paper'];

export function activeProfile(): ProfileName {
  const v = (process.env.BNLAB_PROFILE ?? 'quick').trim() || 'quick';
  if (!(PROFILES as readonly string[]).includes(v))
    throw new Error(`BNLAB_PROFILE=${v} is not a profile; use one of ${PROFILES.join(', ')}`);
  return v as ProfileName;
}

/**
 * The value for the active profile (or the one given). `long` may be left
 * out, and then takes `quick`'s value: a notebook whose experiments need no
 * training to convergence (a measurement at initialisation) has nothing to
 * make longer.
 */
export function byProfile<T>(values: Record<Exclude<ProfileName, 'long'>, T> & { long?: T }, profile: ProfileName = activeProfile()): T {
  return profile === 'long' ? (values.long ?? values.quick) : values[profile];
}

/**
 * The paper's setting (ResNet-110 on CIFAR-10): SGD with momentum 0.9,
 * weight decay 1e-4, batch 128, standard augmentation, Xavier init, the
 * learning rate dropped tenfold halfway (the paper's figures show the drop
 * at 50% of training). 160 epochs as in He et al.'s CIFAR schedule.
 */
export const PAPER_SETTING = {
  data: { dataset: 'cifar10' as const },
  model: { family: 'resnet' as const, depth: 110, width: 16, init: { scheme: 'xavier' as const, distribution: 'uniform' as const } },
  train: {
    epochs: 160,
    batchSize: 128,
    momentum: 0.9,
    weightDecay: 1e-4,
    augment: true,
    schedule: { kind: 'step' as const, at: [0.5], factor: 0.1 },
  },
};
