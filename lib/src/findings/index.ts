/**
 * Findings: a verdict computed from the data, shown in the notebook as a
 * sentence with its numbers and carried in the executed notebook as
 * machine-readable JSON for the report's findings table.
 */
import { kernelChannel, sendWhenFree } from '../display/kernel';
import { convergedText, Finding, FINDING_MIME, formatValue, stepBudgetText, Verdict, VERDICTS } from './schema';

export * from './paper';

export * from './schema';

/** reproduced when the test passes, not reproduced when it fails, inconclusive when it cannot be decided (null). */
export function verdictOf(passes: boolean | null): Verdict {
  return passes === null ? 'inconclusive' : passes ? 'reproduced' : 'not reproduced';
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
    `| measured | ours | rule | paper | converged | steps |`,
    `|---|---|---|---|---|---|`,
    `| ${cell(f.metric)} | ${formatValue(f.value)} | ${cell(f.threshold)} | ${cell(f.paper ?? '—')} | ${convergedText(f.converged)} | ${stepBudgetText(f.stepBudget)} |`,
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
  return fromEnv
    .split(/[\\/]/)
    .pop()!
    .replace(/\.ipynb$/, '');
}

/** Shows a finding in the notebook (markdown, plus JSON for the report); outside a kernel, prints it. */
export function reportFinding(input: Omit<Finding, 'notebook'> & { notebook?: string }): Finding {
  const f: Finding = { ...input, notebook: input.notebook ?? currentNotebook() };
  if (!VERDICTS.includes(f.verdict))
    throw new Error(`finding ${f.rq}: verdict must be reproduced, not reproduced or inconclusive, got ${f.verdict}`);
  if (f.converged === undefined || f.stepBudget === undefined)
    throw new Error(
      `finding ${f.rq}: say converged (true/false, or null where no training is involved) and stepBudget ({min, max}, or null)`,
    );
  const channel = kernelChannel({ pin: true });
  const text = findingMarkdown(f);
  // Pinned to this cell; if the socket is busy, sent moments later, still into this cell.
  if (channel) void sendWhenFree(channel, { [FINDING_MIME]: f, 'text/markdown': text, 'text/plain': text });
  else process.stdout.write(text + '\n');
  return f;
}
