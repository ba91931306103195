/**
 * The normalisation a model has, and the one name each goes by in charts,
 * tables, run labels and findings. Every notebook and analysis names the
 * norms through NORM_LABEL, so a chart of RQ1 and a table of RQ4 call the
 * same model the same thing.
 */

/** BN after every conv (the paper's networks), none, or one BN on the last block's output only (RQ4). */
export type Norm = 'batch' | 'none' | 'final-only';
export const NORMS: readonly Norm[] = ['batch', 'none', 'final-only'];

/** How charts, tables and run labels name each norm ('final-only BN' as the model option reads). */
export const NORM_LABEL = { batch: 'BN', none: 'no BN', 'final-only': 'final-only BN' } as const satisfies Record<Norm, string>;
export type NormLabel<N extends Norm = Norm> = (typeof NORM_LABEL)[N];

/** The label of a norm; a string that is no norm (a fork's own) as it is. */
export function normLabel(norm: string): string {
  return (NORM_LABEL as Record<string, string>)[norm] ?? norm;
}
