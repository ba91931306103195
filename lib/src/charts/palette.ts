/**
 * The one palette: each model has one colour in every chart of every
 * notebook, so a reader who has learnt that BN is blue in RQ1 reads RQ4's
 * and RQ5's charts without a legend. BN blue and no BN red, with BN on the
 * final layer only orange between them (tab10's first, fourth and second);
 * layer norm green, group norm purple and Fixup (no norm, Fixup's init)
 * brown (tab10's third, fifth and sixth).
 */
import { Normaliser, NORMALISER_LABEL } from '../models/norm';

/**
 * By norm, in legend order: no BN, final-only BN, BN (a colour map's key
 * order is its chart's legend order; see colorScale in ./common).
 */
export const NORM_COLORS: Readonly<Record<Normaliser, string>> = {
  none: '#d62728',
  'final-only': '#ff7f0e',
  layer: '#2ca02c',
  group: '#9467bd',
  fixup: '#8c564b',
  batch: '#1f77b4',
};

/**
 * The colours of `norms`, keyed by norm, in the order given. A chart's
 * legend lists every key of its colour map, so give only the norms it shows.
 */
export function normColors<N extends Normaliser>(norms: readonly N[]): Record<N, string> {
  return Object.fromEntries(norms.map((n) => [n, NORM_COLORS[n]])) as Record<N, string>;
}

/** The same keyed by the models' names in charts (NORMALISER_LABEL), for rows whose colour field is the name. */
export function modelColors<N extends Normaliser>(norms: readonly N[]): Record<(typeof NORMALISER_LABEL)[N], string> {
  return Object.fromEntries(norms.map((n) => [NORMALISER_LABEL[n], NORM_COLORS[n]])) as Record<(typeof NORMALISER_LABEL)[N], string>;
}

/** BN and no BN by name, in that order: the two models RQ1, RQ2 and RQ5 compare. */
export const MODEL_COLORS = modelColors(['batch', 'none']);
