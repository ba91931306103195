/**
 * The one palette: each model has one colour in every chart of every
 * notebook, so a reader who has learnt that BN is blue in RQ1 reads RQ4's
 * and RQ5's charts without a legend. BN blue and no BN red, with BN on the
 * final layer only orange between them (tab10's first, fourth and second);
 * layer norm green and group norm purple (tab10's third and fifth).
 */
import { Norm, NORM_LABEL } from '../models/norm';

/**
 * By norm, in legend order: no BN, final-only BN, BN (a colour map's key
 * order is its chart's legend order; see colorScale in ./common).
 */
export const NORM_COLORS: Readonly<Record<Norm, string>> = {
  none: '#d62728',
  'final-only': '#ff7f0e',
  layer: '#2ca02c',
  group: '#9467bd',
  batch: '#1f77b4',
};

/** Fixup (no norm, Fixup's init; RQ6): tab10's sixth, brown. */
export const FIXUP_COLOR = '#8c564b';

/**
 * The colours of `norms`, keyed by norm, in the order given. A chart's
 * legend lists every key of its colour map, so give only the norms it shows.
 */
export function normColors<N extends Norm>(norms: readonly N[]): Record<N, string> {
  return Object.fromEntries(norms.map((n) => [n, NORM_COLORS[n]])) as Record<N, string>;
}

/** The same keyed by the models' names in charts (NORM_LABEL), for rows whose colour field is the name. */
export function modelColors<N extends Norm>(norms: readonly N[]): Record<(typeof NORM_LABEL)[N], string> {
  return Object.fromEntries(norms.map((n) => [NORM_LABEL[n], NORM_COLORS[n]])) as Record<(typeof NORM_LABEL)[N], string>;
}

/** BN and no BN by name, in that order: the two models RQ1, RQ2 and RQ5 compare. */
export const MODEL_COLORS = modelColors(['batch', 'none']);
