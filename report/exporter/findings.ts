/**
 * Findings as the notebooks emit them (display outputs with MIME
 * application/vnd.bnlab.finding+json; lib/src/findings), read back from the
 * executed notebooks, and their HTML: a card where the notebook shows one,
 * and the rows of the index's findings table.
 */
import { convergedText, formatValue, stepBudgetText, VERDICTS, type Finding as LibFinding, type StepBudget, type Verdict } from '../../lib/src/findings/schema';
import { jsonObject } from './notebook';
import { escapeHtml } from './sanitize';

export { formatValue, VERDICTS, type Verdict };

/** A finding as read back: lib's, except that a value that was not finite arrives as null (JSON has no NaN). */
export interface Finding extends Omit<LibFinding, 'value'> {
  value: number | null;
}

/** A finding as placed in the report: which page, which anchor. */
export interface PlacedFinding extends Finding {
  /** The page (file name) it appears on. */
  page: string;
  /** Its anchor on that page. */
  anchor: string;
  /** Set when the output was malformed and fields were filled in. */
  problem?: string;
}

/** The entry of report/findings.json. */
export interface FindingRecord {
  rq: string;
  claim: string;
  metric: string;
  value: number | null;
  threshold: string;
  verdict: Verdict;
  converged: boolean | null;
  stepBudget: StepBudget | null;
  notebook: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);

function budgetOf(v: unknown): StepBudget | null {
  if (!v || typeof v !== 'object') return null;
  const { min, max } = v as Record<string, unknown>;
  return typeof min === 'number' && typeof max === 'number' && Number.isFinite(min) && Number.isFinite(max) ? { min, max } : null;
}

/** Reads one finding output (object or its JSON text); fills what is missing and says so in `problem`. */
export function parseFinding(data: unknown, notebook: string): { finding: Finding; problem?: string } | null {
  const o = jsonObject(data);
  if (!o) return null;
  const problems: string[] = [];
  const verdictRaw = str(o.verdict);
  const verdict = VERDICTS.includes(verdictRaw as Verdict) ? (verdictRaw as Verdict) : 'inconclusive';
  if (verdict !== verdictRaw) problems.push(`verdict ${JSON.stringify(o.verdict ?? null)} is not one of ${VERDICTS.join(', ')}`);
  const value = typeof o.value === 'number' && Number.isFinite(o.value) ? o.value : typeof o.value === 'string' && o.value.trim() !== '' && Number.isFinite(Number(o.value)) ? Number(o.value) : null;
  if (value === null && o.value !== null && o.value !== undefined) problems.push(`value ${JSON.stringify(o.value)} is not a number`);
  for (const k of ['rq', 'claim', 'metric', 'threshold']) if (str(o[k]) === undefined) problems.push(`no ${k}`);
  const finding: Finding = {
    rq: str(o.rq) ?? '?',
    notebook: str(o.notebook) ?? notebook,
    claim: str(o.claim) ?? '',
    metric: str(o.metric) ?? '',
    value,
    threshold: str(o.threshold) ?? '',
    verdict,
    // Findings from before these fields say nothing about convergence: null, as for a measurement.
    converged: typeof o.converged === 'boolean' ? o.converged : null,
    stepBudget: budgetOf(o.stepBudget),
    ...(str(o.paper) !== undefined ? { paper: str(o.paper) } : {}),
    ...(str(o.note) !== undefined ? { note: str(o.note) } : {}),
  };
  return { finding, problem: problems.length ? problems.join('; ') : undefined };
}

// Marks every font has (DejaVu included), unlike the emoji the notebooks print.
const MARK: Record<Verdict, string> = { reproduced: '✓', 'not reproduced': '✗', inconclusive: '?' };

export function verdictClass(v: Verdict): string {
  return `verdict-${v.replace(/\s+/g, '-')}`;
}

export function verdictBadge(v: Verdict): string {
  return `<span class="badge ${verdictClass(v)}"><span aria-hidden="true">${MARK[v]}</span> ${escapeHtml(v)}</span>`;
}

/** The finding where the notebook shows it. */
export function findingCard(f: PlacedFinding): string {
  return [
    `<div class="finding ${verdictClass(f.verdict)}" id="${escapeHtml(f.anchor)}">`,
    `<p class="finding-head"><strong>${escapeHtml(f.rq)}</strong> ${verdictBadge(f.verdict)} <span class="claim">${escapeHtml(f.claim)}</span></p>`,
    '<table class="finding-numbers"><thead><tr><th>measured</th><th>ours</th><th>rule</th><th>paper</th><th>converged</th><th>steps</th></tr></thead>',
    `<tbody><tr><td>${escapeHtml(f.metric)}</td><td class="num">${escapeHtml(formatValue(f.value))}</td><td>${escapeHtml(f.threshold)}</td><td>${escapeHtml(f.paper ?? '—')}</td>` +
      `<td>${escapeHtml(convergedText(f.converged))}</td><td class="steps">${escapeHtml(stepBudgetText(f.stepBudget))}</td></tr></tbody></table>`,
    f.note ? `<p class="note">${escapeHtml(f.note)}</p>` : '',
    f.problem ? `<p class="problem">This finding output was malformed: ${escapeHtml(f.problem)}.</p>` : '',
    '</div>',
  ].join('\n');
}

export function toRecord(f: Finding): FindingRecord {
  return { rq: f.rq, claim: f.claim, metric: f.metric, value: f.value, threshold: f.threshold, verdict: f.verdict, converged: f.converged, stepBudget: f.stepBudget, notebook: f.notebook };
}
