/**
 * Findings as the notebooks emit them (display outputs with MIME
 * application/vnd.bnlab.finding+json; lib/src/findings), read back from the
 * executed notebooks, and their HTML: a card where the notebook shows one,
 * and the rows of the index's findings table.
 */
import { escapeHtml } from './sanitize';

export type Verdict = 'reproduced' | 'not reproduced' | 'inconclusive';
export const VERDICTS: readonly Verdict[] = ['reproduced', 'not reproduced', 'inconclusive'];

export interface Finding {
  rq: string;
  notebook: string;
  claim: string;
  metric: string;
  /** null when the notebook's number was not finite (JSON has no NaN). */
  value: number | null;
  threshold: string;
  verdict: Verdict;
  paper?: string;
  note?: string;
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
  notebook: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);

/** Reads one finding output (object or its JSON text); fills what is missing and says so in `problem`. */
export function parseFinding(data: unknown, notebook: string): { finding: Finding; problem?: string } | null {
  let d = data;
  if (typeof d === 'string') {
    try {
      d = JSON.parse(d);
    } catch {
      return null;
    }
  }
  if (!d || typeof d !== 'object' || Array.isArray(d)) return null;
  const o = d as Record<string, unknown>;
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
    ...(str(o.paper) !== undefined ? { paper: str(o.paper) } : {}),
    ...(str(o.note) !== undefined ? { note: str(o.note) } : {}),
  };
  return { finding, problem: problems.length ? problems.join('; ') : undefined };
}

/** Our number as the notebooks print it (lib/src/findings: 4 significant digits, exponent when tiny or huge). */
export function formatValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return v === null ? '—' : String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(+v.toPrecision(4));
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
    '<table class="finding-numbers"><thead><tr><th>measured</th><th>ours</th><th>rule</th><th>paper</th></tr></thead>',
    `<tbody><tr><td>${escapeHtml(f.metric)}</td><td class="num">${escapeHtml(formatValue(f.value))}</td><td>${escapeHtml(f.threshold)}</td><td>${escapeHtml(f.paper ?? '—')}</td></tr></tbody></table>`,
    f.note ? `<p class="note">${escapeHtml(f.note)}</p>` : '',
    f.problem ? `<p class="problem">This finding output was malformed: ${escapeHtml(f.problem)}.</p>` : '',
    '</div>',
  ].join('\n');
}

export function toRecord(f: Finding): FindingRecord {
  return { rq: f.rq, claim: f.claim, metric: f.metric, value: f.value, threshold: f.threshold, verdict: f.verdict, notebook: f.notebook };
}
