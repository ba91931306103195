/**
 * What a finding is, with no dependency beyond lib's number format (no
 * tfjs, no kernel): the notebooks emit findings (lib/src/findings) and the
 * report's exporter reads them back (report/exporter/findings.ts), both from
 * this one definition.
 */
import { fmt } from '../util/format';

export type Verdict = 'reproduced' | 'not reproduced' | 'inconclusive';
export const VERDICTS: readonly Verdict[] = ['reproduced', 'not reproduced', 'inconclusive'];

export const FINDING_MIME = 'application/vnd.bnlab.finding+json';

/** The fewest and most training steps of the runs a finding rests on. */
export interface StepBudget {
  min: number;
  max: number;
}

export interface Finding {
  /** 'RQ1' … 'RQ6' (or a fork's own label). */
  rq: string;
  /** The notebook's file name without .ipynb (filled in by reportFinding). */
  notebook: string;
  /** The paper's claim, in a sentence. */
  claim: string;
  /** What we measured, in words. */
  metric: string;
  /** Our number. */
  value: number;
  /** The rule the verdict applies, in words with its numbers. */
  threshold: string;
  verdict: Verdict;
  /**
   * For a finding that rests on training runs: did every run it reads
   * converge (or diverge), by the convergence rule (lib/src/analysis/convergence)?
   * null where no training is involved (a measurement at initialisation).
   */
  converged: boolean | null;
  /** The step budget of the runs it rests on; null where no training is involved. */
  stepBudget: StepBudget | null;
  /** The paper's figure for the same thing, where it gives one. */
  paper?: string;
  /** What differs from the paper's setting, or anything a reader needs. */
  note?: string;
}

/** A number as findings print it: fmt's rule (../util/format) at 4 significant digits; a missing one as —. */
export function formatValue(v: number | null): string {
  return v === null ? '—' : fmt(v, 4);
}

/** The convergence column: "yes", "no", or "—" where no training is involved. */
export function convergedText(c: boolean | null | undefined): string {
  return c === true ? 'yes' : c === false ? 'no' : '—';
}

/** The step-budget column: "900" or "450–900", or "—". */
export function stepBudgetText(b: StepBudget | null | undefined): string {
  if (!b) return '—';
  const n = (x: number) => Math.round(x).toLocaleString('en');
  return b.min === b.max ? n(b.max) : `${n(b.min)}–${n(b.max)}`;
}
