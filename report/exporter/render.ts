/**
 * One notebook to the HTML of its page body: markdown cells rendered, code
 * cells highlighted and folded, outputs in order. Charts (an output with a
 * Vega-Lite spec and its SVG) become numbered figures; findings become
 * cards; a cell's training progress becomes one folded line. Everything
 * from the notebook is escaped or sanitised here.
 */
import { PROGRESS_STATES, type ProgressRecord } from '../../lib/src/display/mime';
import { findingCard, parseFinding, type PlacedFinding } from './findings';
import { highlight } from './highlight';
import { renderLatexOutput } from './math';
import { renderMarkdown, slugify, uniqueId, type Heading, type MarkdownContext } from './markdown';
import { FINDING_MIME, jsonObject, PROGRESS_MIME, SVG_MIME, VEGALITE_MIME, type Cell, type DataOutput, type Notebook, type Output } from './notebook';
import { formatDuration } from './page';
import { escapeHtml, isDataImage, jsonForScript, sanitizeHtml, sanitizeSvg, stripAnsi } from './sanitize';

/** Ids the page layout uses itself; notebook content gets others. */
export const RESERVED_IDS = ['top', 'contents', 'findings', 'figures', 'content', 'nav-prev', 'nav-next'];

export interface Figure {
  number: number;
  /** Anchor of the <figure>. */
  id: string;
  /** Escaped caption text (the chart's title), may be empty. */
  title: string;
}

export interface RenderedNotebook {
  name: string;
  /** File name of the page, e.g. rq1-learning-rate.html. */
  page: string;
  /** Escaped title text: the notebook's first top-level heading, else its name. */
  title: string;
  body: string;
  headings: Heading[];
  figures: Figure[];
  findings: PlacedFinding[];
  /** Anchor of the parameters cell, if one is recognised (see renderNotebook). */
  parametersAnchor?: string;
  /** Whether the body has typeset math (the page then links assets/katex.min.css). */
  math?: boolean;
}

interface PageState {
  nb: Notebook;
  page: string;
  md: MarkdownContext;
  figures: Figure[];
  findings: PlacedFinding[];
  /** SVG outputs that are not charts, for their id prefixes. */
  pictures: number;
}

/** Stream text as a terminal would leave it: ANSI codes gone, lines rewritten with \r keep their last state. */
export function cleanStream(text: string): string {
  return stripAnsi(text)
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((line) => {
      const parts = line.replace(/\r+$/, '').split('\r');
      return parts[parts.length - 1];
    })
    .join('\n');
}

/** The title of a Vega-Lite spec (string, lines, or { text }). */
export function chartTitle(spec: unknown, plain?: unknown): string {
  const t = spec && typeof spec === 'object' ? (spec as { title?: unknown }).title : undefined;
  const text = (v: unknown): string => (typeof v === 'string' ? v : Array.isArray(v) ? v.map(String).join(' ') : '');
  let title = typeof t === 'object' && t !== null && !Array.isArray(t) ? text((t as { text?: unknown }).text) : text(t);
  if (!title && typeof plain === 'string') {
    const m = /^<Vega-Lite chart: (.*)>$/.exec(plain.trim());
    if (m && m[1] !== 'chart') title = m[1];
  }
  return title.trim();
}

function parseSpec(v: unknown): object | null {
  if (v && typeof v === 'object') return v as object;
  if (typeof v === 'string') {
    try {
      const o = JSON.parse(v);
      return o && typeof o === 'object' ? o : null;
    } catch {
      return null;
    }
  }
  return null;
}

function renderChart(o: DataOutput, st: PageState): string | null {
  const svgText = typeof o.data[SVG_MIME] === 'string' ? (o.data[SVG_MIME] as string) : '';
  const n = st.figures.length + 1;
  const svg = sanitizeSvg(svgText, `f${n}-`);
  if (!svg) return null;
  const spec = parseSpec(o.data[VEGALITE_MIME]);
  const id = uniqueId(`fig-${n}`, st.md.ids);
  const specId = uniqueId(`spec-${n}`, st.md.ids);
  const title = escapeHtml(chartTitle(spec, o.data['text/plain']));
  st.figures.push({ number: n, id, title });
  return [
    `<figure class="chart" id="${id}"${spec ? ` data-spec="${specId}"` : ''}>`,
    `<div class="chart-static">${svg}</div>`,
    spec ? `<script type="application/json" id="${specId}" class="chart-spec">${jsonForScript(spec)}</script>` : '',
    `<figcaption><a href="#${id}">Figure ${n}</a>${title ? `: ${title}` : ''}</figcaption>`,
    `</figure>`,
  ].join('');
}

function renderFinding(o: DataOutput, st: PageState): string | null {
  const parsed = parseFinding(o.data[FINDING_MIME], st.nb.name);
  if (!parsed) return null;
  const anchor = uniqueId(`finding-${slugify(parsed.finding.rq)}`, st.md.ids);
  const placed: PlacedFinding = { ...parsed.finding, page: st.page, anchor, ...(parsed.problem ? { problem: parsed.problem } : {}) };
  st.findings.push(placed);
  return findingCard(placed);
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The ProgressRecord of a progress output (lib/src/display/progress), or
 * null when the output is not one or the record is malformed: it then
 * shows as any output would, by its HTML.
 */
export function parseProgress(o: Output): ProgressRecord | null {
  if (o.output_type === 'stream' || o.output_type === 'error') return null;
  const r = jsonObject(o.data[PROGRESS_MIME]);
  if (!r || typeof r.label !== 'string' || !PROGRESS_STATES.includes(r.state as ProgressRecord['state']) || num(r.seconds) === null) return null;
  return {
    label: r.label,
    state: r.state as ProgressRecord['state'],
    step: num(r.step) ?? 0,
    totalSteps: num(r.totalSteps),
    epoch: num(r.epoch),
    totalEpochs: num(r.totalEpochs),
    seconds: num(r.seconds)!,
    loss: num(r.loss),
    testAccuracy: num(r.testAccuracy),
    note: typeof r.note === 'string' ? r.note : null,
  };
}

/** "26 runs, 2 diverged, 4 min 34 s" (and how many never finished, if any). */
export function progressSummary(runs: ProgressRecord[]): string {
  const count = (pred: (r: ProgressRecord) => boolean) => runs.filter(pred).length;
  const unfinished = count((r) => r.state === 'running' || r.state === 'stopped');
  return [
    `${runs.length} run${runs.length === 1 ? '' : 's'}`,
    `${count((r) => r.state === 'diverged')} diverged`,
    unfinished ? `${unfinished} unfinished` : '',
    formatDuration(runs.reduce((s, r) => s + r.seconds, 0)),
  ]
    .filter(Boolean)
    .join(', ');
}

/**
 * A cell's training runs as one folded block: the summary line, and a row
 * per run. In the notebook each run is a live progress bar; in the report,
 * RQ1's sweep would be 26 finished bars in a row.
 */
function renderProgress(runs: ProgressRecord[]): string {
  const of = (n: number | null, total: number | null) => (n === null ? '—' : total === null ? String(n) : `${n}/${total}`);
  const rows = runs.map((r) => {
    // "diverged at step 312: …" says its state already.
    const status = !r.note ? r.state : r.note.startsWith(r.state) ? r.note : `${r.state}: ${r.note}`;
    return `<tr class="${r.state}"><td>${escapeHtml(r.label)}</td><td class="num">${of(r.step, r.totalSteps)}</td><td class="num">${of(r.epoch, r.totalEpochs)}</td><td class="num">${r.testAccuracy === null ? '—' : `${(100 * r.testAccuracy).toFixed(1)}%`}</td><td class="num">${escapeHtml(formatDuration(r.seconds))}</td><td>${escapeHtml(status)}</td></tr>`;
  });
  return [
    `<details class="output progress"><summary>${escapeHtml(progressSummary(runs))}</summary>`,
    '<table class="progress-runs"><thead><tr><th scope="col">run</th><th scope="col">steps</th><th scope="col">epochs</th><th scope="col">test accuracy</th><th scope="col">time</th><th scope="col">status</th></tr></thead><tbody>',
    ...rows,
    '</tbody></table></details>',
  ].join('');
}

const pre = (cls: string, text: string) => `<pre class="output ${cls}">${escapeHtml(text)}</pre>`;

function renderData(o: DataOutput, st: PageState): string {
  const d = o.data;
  if (d[FINDING_MIME] !== undefined) {
    const html = renderFinding(o, st);
    if (html) return html;
  }
  if (d[VEGALITE_MIME] !== undefined && typeof d[SVG_MIME] === 'string') {
    const html = renderChart(o, st);
    if (html) return html;
  }
  if (typeof d['text/html'] === 'string') return `<div class="output html">${sanitizeHtml(d['text/html'] as string)}</div>`;
  if (typeof d[SVG_MIME] === 'string') {
    const svg = sanitizeSvg(d[SVG_MIME] as string, `p${++st.pictures}-`);
    if (svg) return `<div class="output svg">${svg}</div>`;
  }
  for (const mime of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) {
    if (typeof d[mime] !== 'string') continue;
    const uri = `data:${mime};base64,${(d[mime] as string).replace(/\s+/g, '')}`;
    if (isDataImage(uri)) {
      const alt = typeof d['text/plain'] === 'string' ? (d['text/plain'] as string) : 'image output';
      return `<div class="output image"><img src="${escapeHtml(uri)}" alt="${escapeHtml(alt)}"></div>`;
    }
  }
  if (typeof d['text/markdown'] === 'string') {
    // Headings in outputs get ids (unique on the page) but stay out of the table of contents.
    const ctx: MarkdownContext = { ids: st.md.ids, headings: [] };
    const html = renderMarkdown(d['text/markdown'] as string, ctx);
    if (ctx.math) st.md.math = true;
    return `<div class="output markdown">${html}</div>`;
  }
  if (typeof d['text/latex'] === 'string') {
    const { html, ok } = renderLatexOutput(d['text/latex'] as string);
    if (ok) st.md.math = true;
    return `<div class="output"><div class="math display${ok ? '' : ' error'}">${sanitizeHtml(html, { math: true })}</div></div>`;
  }
  if (typeof d['text/plain'] === 'string') return pre('text', cleanStream(d['text/plain'] as string));
  const json = Object.entries(d).find(([mime]) => /[/+]json$/.test(mime));
  if (json) return pre('text json', JSON.stringify(json[1], null, 2));
  const mimes = Object.keys(d);
  return mimes.length ? pre('text omitted', `[output of type ${mimes.join(', ')} not shown]`) : '';
}

function renderOutputs(cellOutputs: Output[], st: PageState): string {
  const parts: string[] = [];
  // All the cell's progress outputs go into one block, where the first was;
  // out of the way, the stream writes between runs read as one block again.
  const progress = cellOutputs.map(parseProgress);
  const runs = progress.filter((r): r is ProgressRecord => r !== null);
  const outputs = cellOutputs.filter((_, i) => !progress[i]);
  const progressAt = runs.length ? progress.findIndex((r) => r !== null) : -1;
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i];
    if (i === progressAt) parts.push(renderProgress(runs));
    if (o.output_type === 'stream') {
      // Consecutive writes to one stream read as one block (not across the progress block's place).
      let text = o.text;
      while (i + 1 < outputs.length && i + 1 !== progressAt && outputs[i + 1].output_type === 'stream' && (outputs[i + 1] as typeof o).name === o.name) text += (outputs[++i] as typeof o).text;
      const clean = cleanStream(text).replace(/\n+$/, '');
      if (clean) parts.push(pre(`stream ${o.name}`, clean));
    } else if (o.output_type === 'error') {
      const head = `${o.ename}: ${o.evalue}`;
      let tb = cleanStream(o.traceback.join('\n')).trim();
      if (tb.startsWith(head)) tb = tb.slice(head.length).replace(/^\n+/, '');
      parts.push(`<pre class="output error"><strong>${escapeHtml(head)}</strong>${tb ? '\n' + escapeHtml(tb) : ''}</pre>`);
    } else {
      parts.push(renderData(o, st));
    }
  }
  if (progressAt === outputs.length) parts.push(renderProgress(runs));
  return parts.filter(Boolean).join('\n');
}

const hasTag = (c: Cell, tag: string) => Array.isArray(c.metadata.tags) && c.metadata.tags.includes(tag);

function renderCodeCell(c: Cell, index: number, st: PageState): { html: string; anchor: string } {
  const anchor = uniqueId(`cell-${index + 1}`, st.md.ids);
  const source = hasTag(c, 'remove-input') ? '' : c.source.replace(/\s+$/, '');
  const outputs = hasTag(c, 'remove-output') ? '' : renderOutputs(c.outputs, st);
  if (!source && !outputs) return { html: '', anchor };
  const firstLine = source.split('\n').find((l) => l.trim()) ?? '';
  const lines = source.split('\n').length;
  const prompt = c.execution_count !== null ? `In [${c.execution_count}]` : 'In [ ]';
  const summary = `<summary><span class="prompt">${escapeHtml(prompt)}</span> <code class="first-line">${escapeHtml(firstLine.length > 90 ? firstLine.slice(0, 89) + '…' : firstLine)}</code>${lines > 1 ? ` <span class="lines">${lines} lines</span>` : ''}</summary>`;
  const code = source ? `<details class="source">${summary}<pre class="code"><code class="hljs language-${escapeHtml(st.nb.language)}">${highlight(source, st.nb.language)}</code></pre></details>` : '';
  const params = hasTag(c, 'parameters') ? ' parameters' : '';
  return { html: `<section class="cell code-cell${params}" id="${anchor}">${code}${outputs ? `<div class="outputs">${outputs}</div>` : ''}</section>`, anchor };
}

export function renderNotebook(nb: Notebook, page: string): RenderedNotebook {
  const st: PageState = { nb, page, md: { ids: new Set(RESERVED_IDS), headings: [] }, figures: [], findings: [], pictures: 0 };
  const parts: string[] = [];
  let parametersAnchor: string | undefined;
  let parametersRank = 0;
  let afterParametersHeading = false;
  nb.cells.forEach((c, i) => {
    if (hasTag(c, 'remove-cell')) return;
    const under = afterParametersHeading;
    afterParametersHeading = false;
    if (c.cell_type === 'markdown') {
      afterParametersHeading = /^#{1,6}\s*parameters\s*#*\s*$/im.test(c.source);
      if (c.source.trim()) parts.push(`<section class="cell markdown-cell">${renderMarkdown(c.source, st.md, c.attachments)}</section>`);
    } else if (c.cell_type === 'code') {
      const { html, anchor } = renderCodeCell(c, i, st);
      // The parameters cell: tagged "parameters"; else the first under a "Parameters" heading (the
      // notebooks' convention); else the first that picks settings with byProfile(…).
      const rank = hasTag(c, 'parameters') ? 3 : under ? 2 : /\bbyProfile\s*\(/.test(c.source) ? 1 : 0;
      if (rank > parametersRank) [parametersAnchor, parametersRank] = [anchor, rank];
      if (html) parts.push(html);
    } else if (c.source.trim()) {
      parts.push(`<section class="cell raw-cell"><pre>${escapeHtml(c.source)}</pre></section>`);
    }
  });
  const top = st.md.headings.reduce<Heading | undefined>((best, h) => (!best || h.level < best.level ? h : best), undefined);
  return {
    name: nb.name,
    page,
    title: top?.html ?? escapeHtml(nb.name),
    body: parts.join('\n'),
    headings: st.md.headings,
    figures: st.figures,
    findings: st.findings,
    parametersAnchor,
    math: st.md.math === true,
  };
}
