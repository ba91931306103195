/**
 * The pages: one layout (header, sidebar, pager, footer) around the index
 * (paper, findings table, reproducibility) and the notebook pages. Every
 * script on a page is written here: assets/vega.js, the inlined chart
 * script (assets/charts.js in the exporter's sources) and the charts'
 * JSON specs. A Content-Security-Policy allows exactly those, and no eval.
 */
import crypto from 'node:crypto';
import { convergedText, stepBudgetText } from '../../lib/src/findings/schema';
import { formatValue, verdictBadge, verdictClass, type PlacedFinding, type Verdict } from './findings';
import type { Environment } from './environment';
import type { RenderedNotebook } from './render';
import { escapeHtml } from './sanitize';

export const GENERATOR = 'bnlab report exporter';
export const REPORT_TITLE = 'Understanding Batch Normalization, reproduced';

export interface Scripts {
  /** The chart script's source, inlined into pages with charts. */
  charts: string;
  /** Whether assets/vega.js was written (else pages stay static). */
  vega: boolean;
  /** Whether assets/katex.min.css (and its fonts) was written: pages with math link it. */
  katex?: boolean;
}

function csp(inline: string[]): string {
  const hashes = inline.map((s) => `'sha256-${crypto.createHash('sha256').update(s, 'utf8').digest('base64')}'`);
  return [
    "default-src 'none'",
    // Pages with charts: assets/vega.js ('self', and file: for pages opened from disk) and the chart
    // script by its hash. No 'unsafe-eval': the chart script has Vega interpret its expressions
    // (vega-interpreter) rather than compile them with Function, so a hostile spec that reaches
    // Function or eval finds them blocked. Pages without charts run no script.
    // Math is typeset at export: pages with math only add assets/katex.min.css and its fonts ('self').
    hashes.length ? `script-src 'self' file: ${hashes.join(' ')}` : "script-src 'none'",
    "style-src 'self' file: 'unsafe-inline'",
    "img-src 'self' file: data:",
    "font-src 'self' file: data:",
    "connect-src 'none'",
    "frame-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** An ISO time as "2025-01-01 13:05 UTC" (as given when it does not parse). */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '—';
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : `${t.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.round(seconds - 60 * m)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A link; `label` is HTML (escaped text). */
interface Link { href: string; label: string }

function pager(prev: Link | null, next: Link | null, where: string): string {
  if (!prev && !next) return '';
  return [
    `<nav class="pager ${where}" aria-label="previous and next page">`,
    prev ? `<a class="prev" rel="prev" href="${escapeHtml(prev.href)}">← ${prev.label}</a>` : '<span></span>',
    next ? `<a class="next" rel="next" href="${escapeHtml(next.href)}">${next.label} →</a>` : '<span></span>',
    '</nav>',
  ].join('');
}

function layout(opts: { title: string; body: string; sidebar?: string; prev?: Link | null; next?: Link | null; charts: boolean; math?: boolean; scripts: Scripts; exportedAt: string }): string {
  const live = opts.charts && opts.scripts.vega;
  const inline = live ? [opts.scripts.charts] : [];
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp(inline))}">`,
    '<meta name="referrer" content="no-referrer">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="generator" content="${GENERATOR}">`,
    `<title>${opts.title}</title>`,
    opts.math && opts.scripts.katex ? '<link rel="stylesheet" href="assets/katex.min.css">' : '',
    '<link rel="stylesheet" href="assets/report.css">',
    '</head>',
    `<body id="top"${opts.sidebar ? ' class="with-sidebar"' : ''}>`,
    `<header class="site"><a class="home" href="index.html">bnlab · ${escapeHtml(REPORT_TITLE)}</a>${pager(opts.prev ?? null, opts.next ?? null, 'top')}</header>`,
    '<div class="layout">',
    opts.sidebar ? `<nav class="sidebar" id="contents" aria-label="contents">${opts.sidebar}</nav>` : '',
    `<main id="content">${opts.body}${pager(opts.prev ?? null, opts.next ?? null, 'bottom')}</main>`,
    '</div>',
    `<footer class="site">Exported ${escapeHtml(formatTime(opts.exportedAt))} by the bnlab report exporter (report/export.ts). Charts are static SVG; with JavaScript they become interactive.</footer>`,
    live ? '<script src="assets/vega.js"></script>' : '',
    ...inline.map((s) => `<script>${s}</script>`),
    '</body>',
    '</html>',
    '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

// ---------------------------------------------------------------------------
// Notebook pages

function sidebar(nb: RenderedNotebook): string {
  const parts: string[] = [];
  const headings = nb.headings.filter((h) => h.level <= 3);
  if (headings.length) {
    const min = Math.min(...headings.map((h) => h.level));
    parts.push('<h2>Contents</h2><ul class="toc">');
    for (const h of headings) parts.push(`<li class="toc-l${h.level - min + 1}"><a href="#${escapeHtml(h.id)}">${h.html}</a></li>`);
    parts.push('</ul>');
  }
  if (nb.findings.length) {
    parts.push('<h2>Findings</h2><ul class="toc">');
    for (const f of nb.findings) parts.push(`<li><a href="#${escapeHtml(f.anchor)}">${escapeHtml(f.rq)}: ${escapeHtml(f.verdict)}</a></li>`);
    parts.push('</ul>');
  }
  if (nb.figures.length) {
    parts.push('<h2>Figures</h2><ul class="toc figures">');
    for (const f of nb.figures) parts.push(`<li><a href="#${escapeHtml(f.id)}">Figure ${f.number}${f.title ? `: ${f.title}` : ''}</a></li>`);
    parts.push('</ul>');
  }
  return parts.join('\n');
}

function runBanner(env: Environment, name: string): string {
  const run = env.runs.find((r) => r.name === name);
  if (!run) return '';
  if (!run.executed) return '<p class="banner warn">This notebook carries no run metadata: it was not executed by scripts/execute_notebooks.py, so its outputs may be stale or missing.</p>';
  const facts = [
    run.profile ? `profile <code>${escapeHtml(run.profile)}</code>` : null,
    `wall time ${escapeHtml(formatDuration(run.seconds))}`,
    run.executedAt ? `executed ${escapeHtml(formatTime(run.executedAt))}` : null,
    run.backend ? `backend ${escapeHtml(run.backend)}` : null,
  ].filter(Boolean);
  const info = `<p class="run-info">${facts.join(' · ')}</p>`;
  return run.error ? `${info}<p class="banner error">This notebook stopped with an error: ${escapeHtml(run.error)}. Outputs after that cell are missing.</p>` : info;
}

export function notebookPage(nb: RenderedNotebook, ctx: { prev: Link | null; next: Link | null; env: Environment; scripts: Scripts }): string {
  const summary = nb.findings.length
    ? [
        '<section class="findings-summary" aria-label="findings of this notebook"><h2>Findings</h2><ul>',
        ...nb.findings.map((f) => `<li>${verdictBadge(f.verdict)} <a href="#${escapeHtml(f.anchor)}"><strong>${escapeHtml(f.rq)}</strong></a> ${escapeHtml(f.claim)}</li>`),
        '</ul></section>',
      ].join('\n')
    : '';
  const body = [runBanner(ctx.env, nb.name), summary, `<article class="notebook">${nb.body}</article>`].filter(Boolean).join('\n');
  return layout({
    title: `${nb.title} · bnlab report`,
    body,
    sidebar: sidebar(nb),
    prev: ctx.prev,
    next: ctx.next,
    charts: nb.figures.length > 0,
    math: nb.math === true,
    scripts: ctx.scripts,
    exportedAt: ctx.env.exportedAt,
  });
}

// ---------------------------------------------------------------------------
// Index

const PAPER_PARAGRAPH = [
  'Bjorck, Gomes, Selman and Weinberger (<a href="https://arxiv.org/abs/1806.02375" rel="noopener noreferrer"><cite>Understanding Batch Normalization</cite></a>, NeurIPS 2018) ask why batch normalisation (BN) helps.',
  'Their answer: BN works mainly by letting a network train with much larger learning rates, and it is the large steps that help, acting as a regulariser through the noise of stochastic gradient descent and steering training towards minima that generalise better.',
  'Without BN, those large steps diverge: in a deep network without normalisation, activations and gradients grow with depth, so a step that is safe for the first layers blows up the loss.',
  'This report re-runs the paper’s research questions in TypeScript with TensorFlow.js, one notebook each, and checks every claim against our own numbers.',
].join(' ');

function findingsTable(notebooks: RenderedNotebook[], env: Environment): string {
  const rows: string[] = [];
  for (const nb of notebooks) {
    const page = escapeHtml(nb.page);
    if (nb.findings.length === 0) {
      const err = env.runs.find((r) => r.name === nb.name)?.error;
      rows.push(
        `<tr class="verdict-missing"><td><a href="${page}">${escapeHtml(nb.name)}</a></td><td colspan="4"><a href="${page}">${nb.title}</a>: no finding in the executed notebook${err ? ` (it stopped with an error: ${escapeHtml(err)})` : ''}.</td><td><span class="badge verdict-missing">no finding</span></td></tr>`,
      );
      continue;
    }
    for (const f of nb.findings) rows.push(findingRow(f));
  }
  return [
    '<table class="findings">',
    '<thead><tr><th scope="col">RQ</th><th scope="col">The paper’s claim</th><th scope="col">Measured</th><th scope="col" title="every training run the finding rests on converged (or diverged), by the stated convergence rule; — where no training is involved">Converged</th><th scope="col" title="the training steps of the runs it rests on">Steps</th><th scope="col">Verdict</th></tr></thead>',
    '<tbody>',
    ...rows,
    '</tbody></table>',
  ].join('\n');
}

function findingRow(f: PlacedFinding): string {
  const href = `${escapeHtml(f.page)}#${escapeHtml(f.anchor)}`;
  // The rule and the note can run to a paragraph each: folded, so the table reads at a glance.
  const details = [
    f.threshold ? `<p class="rule"><strong>rule:</strong> ${escapeHtml(f.threshold)}</p>` : '',
    f.note ? `<p class="note">${escapeHtml(f.note)}</p>` : '',
  ].join('');
  const measured = [
    `<span class="metric">${escapeHtml(f.metric)}</span>: <strong class="num">${escapeHtml(formatValue(f.value))}</strong>`,
    f.paper ? `<br><span class="paper">paper: ${escapeHtml(f.paper)}</span>` : '',
    details ? `<details class="more"><summary>${f.note ? 'rule and notes' : 'rule'}</summary>${details}</details>` : '',
  ].join('');
  return `<tr class="${verdictClass(f.verdict)}"><td><a href="${escapeHtml(f.page)}"><strong>${escapeHtml(f.rq)}</strong></a></td><td>${escapeHtml(f.claim)}</td><td>${measured}</td><td class="converged">${escapeHtml(convergedText(f.converged))}</td><td class="num">${escapeHtml(stepBudgetText(f.stepBudget))}</td><td><a href="${href}">${verdictBadge(f.verdict)}</a></td></tr>`;
}

function verdictSummary(findings: PlacedFinding[]): string {
  if (!findings.length) return '<p class="summary">No notebook reported a finding yet.</p>';
  const count = (v: Verdict) => findings.filter((f) => f.verdict === v).length;
  return `<p class="summary">${findings.length} finding${findings.length === 1 ? '' : 's'}: ${count('reproduced')} reproduced, ${count('not reproduced')} not reproduced, ${count('inconclusive')} inconclusive.</p>`;
}

function reproducibility(env: Environment, notebooks: RenderedNotebook[]): string {
  const row = (label: string, value: string) => `<tr><th scope="row">${escapeHtml(label)}</th><td>${value}</td></tr>`;
  const seedsHtml = (() => {
    const anchors = env.runs.filter((r) => r.parametersAnchor);
    const text = escapeHtml(env.seeds);
    if (!env.seeds.startsWith('set in each') || anchors.length === 0) return text;
    return `${text}: ${anchors.map((r) => `<a href="${escapeHtml(r.page)}#${escapeHtml(r.parametersAnchor!)}">${escapeHtml(r.name)}</a>`).join(', ')}`;
  })();
  const rows = [
    row('Commit', `<code>${escapeHtml(env.commit)}</code>`),
    row('Uncommitted changes', escapeHtml(env.dirty)),
    row('Profile', `<code>${escapeHtml(env.profile)}</code>`),
    row('Backend', escapeHtml(env.backend)),
    row('Node', escapeHtml(env.node)),
    row('Packages', env.versions.map(([n, v]) => `<code>${escapeHtml(n)}@${escapeHtml(v)}</code>`).join(', ') || '—'),
    row('Machine', escapeHtml(env.machine)),
    row('Seeds', seedsHtml),
    ...env.extra.map(([k, v]) => row(k, escapeHtml(v))),
    row('Re-run', `<code>${escapeHtml(env.command)}</code>`),
    row('Exported', escapeHtml(formatTime(env.exportedAt))),
  ];
  const total = env.runs.reduce((s, r) => s + (r.seconds ?? 0), 0);
  const elapsed = elapsedSeconds(env.runs);
  const runRows = env.runs.map((r) => {
    const nb = notebooks.find((n) => n.name === r.name);
    const status = !r.executed ? '<span class="badge verdict-missing">no run metadata</span>' : r.error ? `<span class="badge verdict-not-reproduced">error</span> ${escapeHtml(r.error)}` : 'ok';
    return `<tr><td><a href="${escapeHtml(r.page)}">${escapeHtml(r.name)}</a></td><td>${nb ? nb.figures.length : 0}</td><td><code>${escapeHtml(r.profile ?? '—')}</code></td><td class="num">${escapeHtml(formatDuration(r.seconds))}</td><td>${escapeHtml(formatTime(r.executedAt))}</td><td>${status}</td></tr>`;
  });
  return [
    '<table class="repro">',
    ...rows,
    '</table>',
    '<h3>Notebook runs</h3>',
    '<table class="runs"><thead><tr><th scope="col">notebook</th><th scope="col">figures</th><th scope="col">profile</th><th scope="col">wall time</th><th scope="col">executed at</th><th scope="col">status</th></tr></thead><tbody>',
    ...runRows,
    `</tbody><tfoot><tr><th scope="row">total</th><td></td><td></td><td class="num">${escapeHtml(formatDuration(total))}</td><td></td><td></td></tr>`,
    // The report runs notebooks side by side (scripts/report.ts), so the sum is not how long it took.
    ...(elapsed !== null && elapsed < 0.95 * total
      ? [`<tr><th scope="row">elapsed</th><td></td><td></td><td class="num">${escapeHtml(formatDuration(elapsed))}</td><td colspan="2">first start to last end: notebooks ran side by side</td></tr>`]
      : []),
    '</tfoot></table>',
  ].join('\n');
}

/** From the first notebook's start to the last one's end (executedAt is when each ended); null if a run lacks either time. */
export function elapsedSeconds(runs: readonly { seconds?: number; executedAt?: string }[]): number | null {
  if (!runs.length || runs.some((r) => r.seconds === undefined || !r.executedAt || Number.isNaN(Date.parse(r.executedAt)))) return null;
  const ends = runs.map((r) => Date.parse(r.executedAt!) / 1000);
  const starts = runs.map((r, i) => ends[i] - r.seconds!);
  return Math.max(...ends) - Math.min(...starts);
}

export function indexPage(notebooks: RenderedNotebook[], ctx: { env: Environment; scripts: Scripts }): string {
  const findings = notebooks.flatMap((n) => n.findings);
  const first = notebooks[0];
  const body = [
    `<h1>${escapeHtml(REPORT_TITLE)}</h1>`,
    `<p class="lede">${PAPER_PARAGRAPH}</p>`,
    '<section id="findings">',
    '<h2>Findings</h2>',
    verdictSummary(findings),
    findingsTable(notebooks, ctx.env),
    '</section>',
    '<section id="notebooks"><h2>Notebooks</h2><ol class="notebooks">',
    ...notebooks.map((n) => `<li><a href="${escapeHtml(n.page)}">${n.title}</a> <span class="muted">(${escapeHtml(n.name)}; ${n.figures.length} figure${n.figures.length === 1 ? '' : 's'})</span></li>`),
    '</ol></section>',
    '<section id="reproducibility"><h2>Reproducibility</h2>',
    reproducibility(ctx.env, notebooks),
    '</section>',
  ].join('\n');
  return layout({
    title: `${escapeHtml(REPORT_TITLE)} · bnlab report`,
    body,
    prev: null,
    next: first ? { href: first.page, label: first.title } : null,
    charts: false,
    scripts: ctx.scripts,
    exportedAt: ctx.env.exportedAt,
  });
}
