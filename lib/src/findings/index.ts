/**
 * Findings: a verdict computed from the data, shown in the notebook as a
 * sentence with its numbers and carried in the executed notebook as
 * machine-readable JSON for the report's findings table.
 */
import { kernelChannel, sendWhenFree } from '../display/kernel';

export * from './paper';

export type Verdict = 'reproduced' | 'not reproduced' | 'inconclusive';

export interface Finding {
  /** 'RQ1' … 'RQ5' (or a fork's own label). */
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
  /** The paper's figure for the same thing, where it gives one. */
  paper?: string;
  /** What differs from the paper's setting, or anything a reader needs. */
  note?: string;
}

export const FINDING_MIME = 'application/vnd.bnlab.finding+json';

/** reproduced when the test passes, not reproduced when it fails, inconclusive when it cannot be decided (null). */
export function verdictOf(passes: boolean | null): Verdict {
  return passes === null ? 'inconclusive' : passes ? 'reproduced' : 'not reproduced';
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(+v.toPrecision(4));
}

/** A table cell: pipes and line breaks would end the cell or the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

export function findingMarkdown(f: Finding): string {
  const mark = f.verdict === 'reproduced' ? '✅' : f.verdict === 'not reproduced' ? '❌' : '❔';
  return [
    `**${f.rq} verdict: ${mark} ${f.verdict}.** ${f.claim}`,
    '',
    `| measured | ours | rule | paper |`,
    `|---|---|---|---|`,
    `| ${cell(f.metric)} | ${fmt(f.value)} | ${cell(f.threshold)} | ${cell(f.paper ?? '—')} |`,
    ...(f.note ? ['', `*${f.note}*`] : []),
  ].join('\n');
}

/**
 * The name of the notebook this kernel runs: BNLAB_NOTEBOOK (set by the
 * headless executor), else the notebook JupyterLab opened (JPY_SESSION_NAME),
 * so a forked notebook reports under its own name without editing a literal.
 */
export function currentNotebook(): string {
  const fromEnv = process.env.BNLAB_NOTEBOOK || process.env.JPY_SESSION_NAME;
  if (!fromEnv) return 'notebook';
  return fromEnv.split(/[\\/]/).pop()!.replace(/\.ipynb$/, '');
}

/** Shows a finding in the notebook (markdown, plus JSON for the report); outside a kernel, prints it. */
export function reportFinding(input: Omit<Finding, 'notebook'> & { notebook?: string }): Finding {
  const f: Finding = { ...input, notebook: input.notebook ?? currentNotebook() };
  if (!['reproduced', 'not reproduced', 'inconclusive'].includes(f.verdict)) throw new Error(`finding ${f.rq}: verdict must be reproduced, not reproduced or inconclusive, got ${f.verdict}`);
  const channel = kernelChannel({ pin: true });
  const text = findingMarkdown(f);
  // Pinned to this cell; if the socket is busy, sent moments later, still into this cell.
  if (channel) void sendWhenFree(channel, { [FINDING_MIME]: f, 'text/markdown': text, 'text/plain': text });
  else process.stdout.write(text + '\n');
  return f;
}
