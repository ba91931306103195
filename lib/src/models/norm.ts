/**
 * The normalisation a model has, and the one name each goes by in charts,
 * tables, run labels and findings. Every notebook and analysis names the
 * norms through NORM_LABEL, so a chart of RQ1 and a table of RQ4 call the
 * same model the same thing.
 */

/**
 * After every conv: BN (the paper's networks), layer norm or group norm
 * (per example, so without batch statistics: RQ6); none; or one BN on the
 * last block's output only (RQ4).
 */
export type Norm = 'batch' | 'layer' | 'group' | 'none' | 'final-only';
export const NORMS: readonly Norm[] = ['batch', 'layer', 'group', 'none', 'final-only'];

/** How charts, tables and run labels name each norm ('final-only BN' as the model option reads). */
export const NORM_LABEL = {
  batch: 'BN',
  layer: 'LN',
  group: 'GN',
  none: 'no BN',
  'final-only': 'final-only BN',
} as const satisfies Record<Norm, string>;
export type NormLabel<N extends Norm = Norm> = (typeof NORM_LABEL)[N];

/**
 * What a network normalises with, RQ6's axis: a norm, or 'fixup', no norm
 * with Fixup's initialisation (Zhang et al., 2019: `norm: 'none'`,
 * `init: {scheme: 'fixup'}`), the follow-up literature's answer to "can an
 * init replace normalisation?".
 */
export type Normaliser = Norm | 'fixup';
export const NORMALISERS: readonly Normaliser[] = [...NORMS, 'fixup'];

/** NORM_LABEL, and Fixup. */
export const NORMALISER_LABEL = { ...NORM_LABEL, fixup: 'Fixup' } as const satisfies Record<Normaliser, string>;
export type NormaliserLabel<N extends Normaliser = Normaliser> = (typeof NORMALISER_LABEL)[N];

/** The label of a norm or Fixup; a string that is neither (a fork's own) as it is. */
export function normLabel(norm: string): string {
  return (NORMALISER_LABEL as Record<string, string>)[norm] ?? norm;
}

/** The norms a model applies after every conv: each is a layer with γ and β per channel. */
export type InnerNorm = 'batch' | 'layer' | 'group';
export function isInnerNorm(norm: Norm): norm is InnerNorm {
  return norm === 'batch' || norm === 'layer' || norm === 'group';
}

/** The name of a norm layer's point: bn1, ln1, gn1 (in place of conv1), so a tap or a chart tells the norms apart. */
export const NORM_POINT_PREFIX = { batch: 'bn', layer: 'ln', group: 'gn' } as const satisfies Record<InnerNorm, string>;

/** Group norm's default number of groups (Wu & He, 2018), capped at the channel count. */
export const DEFAULT_GROUPS = 32;

/** The groups a group norm over `channels` channels uses: layer norm is one group; group norm min(groups, channels), which must divide them. */
export function normGroups(norm: 'layer' | 'group', channels: number, groups: number = DEFAULT_GROUPS): number {
  if (norm === 'layer') return 1;
  const g = Math.min(groups, channels);
  if (channels % g !== 0) {
    throw new Error(`group norm: groups (${groups}) must divide every layer's channel count; ${g} does not divide ${channels}`);
  }
  return g;
}
