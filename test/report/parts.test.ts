/**
 * The exporter's parts on their own: URL and style filters, the SVG and
 * HTML allow-lists, markdown, stream clean-up, tolerant notebook JSON, the
 * fallback kernel's split bundles, and a chart that arrives without its SVG.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { exportReport } from '../../report/export';
import { parseFinding } from '../../report/exporter/findings';
import { renderMarkdown } from '../../report/exporter/markdown';
import { renderLatexOutput, renderTex } from '../../report/exporter/math';
import { mergeSplitBundles, pageName, parseJsonTolerant, type Output } from '../../report/exporter/notebook';
import { chartTitle, cleanStream } from '../../report/exporter/render';
import { jsonForScript, safeHref, safeStyle, sanitizeHtml, sanitizeSvg } from '../../report/exporter/sanitize';

describe('report exporter parts', () => {
  it('keeps only links that can neither run code nor leave by a side door', () => {
    for (const bad of ['javascript:alert(1)', ' JaVaScRiPt:alert(1)', 'java\nscript:alert(1)', 'java\tscript:x', 'vbscript:x', 'data:text/html,<script>alert(1)</script>', '//evil.example/x', '\\\\evil', 'file:///etc/passwd']) {
      assert.equal(safeHref(bad), null, bad);
    }
    for (const good of ['https://arxiv.org/abs/1806.02375', 'http://example.org', 'mailto:a@b.c', '#setup', 'rq2-depth.html#fig-1', 'notes/a.html']) assert.equal(safeHref(good), good);
  });

  it('filters style declarations', () => {
    assert.equal(safeStyle('fill: url(#g0); stroke: url(http://evil/x); color: red'), 'fill: url(#g0); color: red');
    assert.equal(safeStyle('width: expression(alert(1)); behavior: url(x.htc); color: \\72 ed'), '');
  });

  it('escapes JSON for a script element', () => {
    const s = jsonForScript({ t: '</script><script>alert(1)</script><!--', u: '\u2028' });
    assert.doesNotMatch(s, /<|>|\u2028/);
    assert.deepEqual(JSON.parse(s), { t: '</script><script>alert(1)</script><!--', u: '\u2028' });
  });

  it('sanitises SVG: no script, handlers, foreign content or outside references; ids prefixed', () => {
    const svg = sanitizeSvg(
      '<?xml version="1.0"?><!DOCTYPE svg><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10" onload="alert(1)">' +
        '<defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient><clipPath id="c"><rect width="5" height="5"/></clipPath></defs>' +
        '<rect fill="url(#g)" clip-path="url(#c)" width="10" height="10" onmouseover="alert(2)"/>' +
        '<rect fill="url(http://evil/x#g)" width="1" height="1"/>' +
        '<script>alert(3)</script><SCRIPT>alert(4)</SCRIPT><style>@import url(http://evil)</style>' +
        '<a xlink:href="javascript:alert(5)"><text>a</text></a><a href="#c"><text>b</text></a>' +
        '<use xlink:href="http://evil/sprite.svg#x"/><image href="data:image/png;base64,AAAA"/><image xlink:href="https://evil/t.png"/>' +
        '<foreignObject><body xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://evil"></iframe></body></foreignObject>' +
        '<animate attributeName="href" values="javascript:alert(6)"/><set attributeName="onclick" to="alert(7)"/></svg>',
      'f1-',
    );
    assert.doesNotMatch(svg, /script|alert|onload|onmouseover|evil|iframe|foreignObject|animate|<set|<style|import/i);
    assert.match(svg, /<linearGradient id="f1-g">/);
    assert.match(svg, /fill="url\(#f1-g\)" clip-path="url\(#f1-c\)"/);
    assert.match(svg, /<a href="#f1-c">/);
    assert.match(svg, /<image href="data:image\/png;base64,AAAA">/);
    assert.match(svg, /viewBox="0 0 10 10"/, 'camelCase attributes must survive');
    assert.equal(sanitizeSvg('<div>not svg</div>', 'x-'), '');
  });

  it('sanitises HTML outputs to an allow-list and shows the rest as text', () => {
    const html = sanitizeHtml(
      '<table class="dataframe"><tr><th colspan="2" onclick="x()">h</th></tr></table><a href="JAVASCRIPT:alert(1)" target="_blank">j</a><a href="https://x.org">k</a>' +
        '<img src="x" onerror="alert(1)"><img src="data:image/png;base64,AAAA" alt="ok"><form action="https://evil"><input name="q"></form><object data="x"></object><svg onload="alert(1)"></svg>' +
        '<span style="color: red; background: url(javascript:alert(1)); position: fixed">s</span><div id="content">clobber</div><a name="top">n</a>',
    );
    assert.doesNotMatch(html, /<(script|form|object|svg|iframe)/i);
    assert.doesNotMatch(html, /onclick|onerror|onload|javascript|position|url\(|id="content"|name="top"|target=/i);
    assert.match(html, /<th colspan="2">h<\/th>/);
    assert.match(html, /<a href="https:\/\/x.org" rel="noopener noreferrer">k<\/a>/);
    assert.match(html, /<img alt="ok" src="data:image\/png;base64,AAAA" \/>/);
    assert.match(html, /<span style="color:red">s<\/span>/);
    assert.match(html, /&lt;form/, 'a disallowed tag shows as text');
  });

  it('renders markdown with GitHub tables and task lists, escaping raw HTML', () => {
    const ctx = { ids: new Set<string>(), headings: [] as { level: number; id: string; html: string }[] };
    const html = renderMarkdown('# A & B\n\n- [x] done\n\n<details open><summary>x</summary></details>\n\n```python\nx = 1\n```\n\n[a](<javascript:alert(1)>) [b](rq3-x.ipynb) ![i](attachment:p.png)', ctx, {
      'p.png': { 'image/png': 'iVBORw0KGgo=' },
    });
    assert.deepEqual(ctx.headings, [{ level: 1, id: 'a-b', html: 'A &amp; B' }]);
    assert.match(html, /<input type="checkbox" disabled checked \/>/);
    assert.match(html, /&lt;details open&gt;/);
    assert.match(html, /<code class="hljs language-python">x = <span class="hljs-number">1<\/span><\/code>/);
    assert.doesNotMatch(html, /javascript/);
    assert.match(html, /<a href="rq3-x.html">b<\/a>/);
    assert.match(html, /<img alt="i" src="data:image\/png;base64,iVBORw0KGgo=" \/>/);
  });

  it('typesets math in markdown: $…$ and $$…$$ whole, not read as emphasis or escapes', () => {
    const ctx: { ids: Set<string>; headings: { level: number; id: string; html: string }[]; math?: boolean } = { ids: new Set<string>(), headings: [] };
    const tex = (html: string) => [...html.matchAll(/<annotation encoding="application\/x-tex">([^<]*)<\/annotation>/g)].map((m) => m[1]);
    const html = renderMarkdown('## Scaling by $\\sqrt{N}$\n\n*a $x*y$ b* and _c $z_1 + w_2$ d_, $$\\sum_i a_i$$ inline.\n\n$$\n\\int_0^1 f\n$$\n', ctx);
    assert.equal(ctx.math, true);
    assert.deepEqual(tex(html), ['\\sqrt{N}', 'x*y', 'z_1 + w_2', '\\sum_i a_i', '\\int_0^1 f']);
    assert.match(html, /<em>a <span class="math inline">/);
    assert.match(html, /<div class="math display"><span class="katex-display">/);
    assert.match(html, /<span class="math display"><span class="katex-display">/, '$$…$$ inside a paragraph is display math');
    // The table of contents and the heading id read the TeX source.
    assert.deepEqual(ctx.headings, [{ level: 2, id: 'scaling-by-sqrt-n', html: 'Scaling by \\sqrt{N}' }]);
    assert.doesNotMatch(html, /&lt;|<!--/);

    // Not math: prices, escaped dollars, code spans and blocks, a space inside the dollars.
    const plain: { ids: Set<string>; headings: never[]; math?: boolean } = { ids: new Set<string>(), headings: [] };
    const text = renderMarkdown('It costs $5 and $6, or $ 7 $.\n\nEscaped: \\$x$ and \\$y\\$.\n\nCode `$a_1$` and `$$b$$`.\n\n```\n$$\nc\n$$\n```\n', plain);
    assert.equal(plain.math, undefined);
    assert.doesNotMatch(text, /katex|class="math/);
    assert.match(text, /It costs \$5 and \$6, or \$ 7 \$\./);
    assert.match(text, /Escaped: \$x\$ and \$y\$\./);
    assert.match(text, /<code>\$a_1\$<\/code> and <code>\$\$b\$\$<\/code>/);
    assert.match(text, /<pre class="code"><code class="hljs">\$\$\nc\n\$\$<\/code><\/pre>/);
  });

  it('shows a formula KaTeX cannot read as its escaped source, and renders no link from TeX', () => {
    const bad = renderTex('\\frac{<b>}{', false);
    assert.equal(bad.ok, false);
    assert.match(bad.html, /^<code class="math-error" title="KaTeX parse error: [^"]*">\$\\frac\{&lt;b&gt;\}\{\$<\/code>$/);
    const md = renderMarkdown('See $\\frac{1}{$ and $x^{<script>alert(1)</script>}$.', { ids: new Set(), headings: [] });
    assert.match(md, /<span class="math inline error"><code class="math-error" title="KaTeX parse error[^"]*">\$\\frac\{1\}\{\$<\/code><\/span>/);
    assert.doesNotMatch(md, /<script|<b>/);
    // trust is off: \href, \url, \includegraphics, \htmlClass … render as red source text, never a link or an image.
    for (const src of ['\\href{javascript:alert(1)}{x}', '\\url{javascript:alert(1)}', '\\includegraphics{http://evil.example/x.png}', '\\htmlClass{x}{y}', '\\htmlStyle{position:fixed}{y}', '\\htmlData{x=1}{y}', '\\htmlId{top}{y}']) {
      const html = renderMarkdown(`$${src}$`, { ids: new Set(), headings: [] });
      assert.match(html, /class="katex"/, src);
      // The TeX source stays readable in the MathML annotation (text); nothing of it reaches markup.
      const markup = html.replace(/<annotation[^>]*>[^<]*<\/annotation>/g, '');
      assert.doesNotMatch(markup, /<a |<img |href=|src=|data-x|id="top"|position|javascript:|evil\.example/, src);
    }
    // A text/latex output.
    const out = renderLatexOutput('$$\\alpha^2$$');
    assert.equal(out.ok, true);
    assert.match(out.html, /<math xmlns="http:\/\/www.w3.org\/1998\/Math\/MathML" display="block">/);
  });

  it('keeps KaTeX markup only where math is allowed, and nothing hostile in it', () => {
    const hostile = [
      '<math><mi href="javascript:alert(1)" onclick="alert(2)">x</mi><maction actiontype="statusline"><mi>y</mi></maction>',
      '<semantics><annotation-xml encoding="text/html"><img src=x onerror=alert(3)></annotation-xml></semantics>',
      '<mglyph src="http://evil.example/x.png"></mglyph><mstyle mathcolor="red" style="position:fixed;top:0">z</mstyle></math>',
      '<span class="katex" style="height:1em;top:-2em;position:absolute;background-image:url(http://evil.example/x)">s</span>',
      '<svg xmlns="http://www.w3.org/2000/svg" width="1em" viewBox="0 0 10 10" onload="alert(4)"><script>alert(5)</script><path d="M0 0" style="fill:url(http://evil.example/x)"/><use href="#p"/><a href="javascript:alert(6)"><line x1="0" y1="0" x2="1" y2="1" stroke-width="1"/></a></svg>',
    ].join('');
    const math = sanitizeHtml(hostile, { math: true });
    assert.doesNotMatch(math, /<(?!\/?(math|mi|semantics|mstyle|span|svg|path|line|a)\b)[a-z]/i, 'only allowed elements (the rest is shown as text)');
    assert.match(math, /&lt;maction&gt;/);
    assert.doesNotMatch(math, /\son\w+=|href=|src=|position|url\(|evil|<script/i);
    assert.match(math, /<mi>x<\/mi>/);
    assert.match(math, /<mstyle mathcolor="red">z<\/mstyle>/);
    assert.match(math, /<span class="katex" style="height:1em;top:-2em">s<\/span>/);
    assert.match(math, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="1em" viewbox="0 0 10 10">/);
    assert.match(math, /<path d="M0 0"><\/path>/);
    assert.match(math, /<line x1="0" y1="0" x2="1" y2="1" stroke-width="1"/);
    // Notebook HTML outputs get none of it.
    const html = sanitizeHtml('<math><mi>x</mi></math><svg><path d="M0 0"/></svg><span style="top:-2em;color:red">s</span>');
    assert.doesNotMatch(html, /<math|<mi|<svg|<path/);
    assert.match(html, /<span style="color:red">s<\/span>/);
  });

  it('cleans streams and names pages', () => {
    assert.equal(cleanStream('a\r\nb\rc\r\n\u001b[1;31mred\u001b[0m\n10%\r50%\r100%\r'), 'a\nc\nred\n100%');
    assert.equal(pageName('rq1-learning-rate'), 'rq1-learning-rate');
    assert.equal(pageName('../"><script>x'), 'script-x');
    assert.equal(chartTitle({ title: { text: ['Loss', 'by depth'] } }), 'Loss by depth');
    assert.equal(chartTitle({}, '<Vega-Lite chart: Accuracy>'), 'Accuracy');
  });

  it('reads notebooks with NaN and reads malformed findings without trusting them', () => {
    assert.deepEqual(parseJsonTolerant('{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN"}'), { a: null, b: [null, null], c: 'NaN' });
    const f = parseFinding({ rq: 'RQ9', claim: 'c', metric: 'm', value: 'abc', threshold: 't', verdict: 'pwned' }, 'nb')!;
    assert.equal(f.finding.verdict, 'inconclusive');
    assert.equal(f.finding.value, null);
    assert.equal(f.finding.notebook, 'nb');
    assert.match(f.problem!, /verdict "pwned"/);
    assert.equal(parseFinding('not json', 'nb'), null);
  });

  it('puts a bundle that the fallback kernel path split into one output back together', () => {
    const d = (data: Record<string, unknown>): Output => ({ output_type: 'display_data', data, metadata: {} });
    const merged = mergeSplitBundles([
      d({ 'application/vnd.vegalite.v5+json': { mark: 'point' } }),
      d({ 'image/svg+xml': '<svg></svg>' }),
      d({ 'text/plain': '<Vega-Lite chart: chart>' }),
      d({ 'text/plain': 'a separate output' }),
      { output_type: 'stream', name: 'stdout', text: 'x' },
    ]);
    assert.equal(merged.length, 3);
    assert.deepEqual(Object.keys((merged[0] as { data: object }).data), ['application/vnd.vegalite.v5+json', 'image/svg+xml', 'text/plain']);
  });

  it('renders the SVG of a chart that arrived as a spec alone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-report-nosvg-'));
    try {
      const spec = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title: 'Spec only', data: { values: [{ x: 1, y: 2 }, { x: 2, y: 3 }] }, mark: 'line', encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } };
      const nb = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ cell_type: 'code', execution_count: 1, metadata: {}, source: 'show()', outputs: [{ output_type: 'display_data', metadata: {}, data: { 'application/vnd.vegalite.v5+json': spec } }] }] };
      fs.mkdirSync(path.join(dir, 'in'));
      fs.writeFileSync(path.join(dir, 'in', 'only-spec.ipynb'), JSON.stringify(nb));
      const r = await exportReport({ inDir: path.join(dir, 'in'), outDir: path.join(dir, 'out'), log: () => {} });
      assert.equal(r.figures, 1);
      const page = fs.readFileSync(path.join(dir, 'out', 'only-spec.html'), 'utf8');
      assert.match(page, /<figure class="chart" id="fig-1" data-spec="spec-1"><div class="chart-static"><svg/);
      assert.match(page, /Figure 1<\/a>: Spec only/);
      assert.match(page, /no run metadata/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the notebook runs table', () => {
  it('gives the elapsed time from the first start to the last end when notebooks ran side by side', async () => {
    const { elapsedSeconds } = await import('../../report/exporter/page');
    // Two lanes: a 600 s notebook beside two of 250 s run one after the other.
    const runs = [
      { seconds: 600, executedAt: '2026-12-07T10:10:00Z' },
      { seconds: 250, executedAt: '2026-12-07T10:04:10Z' },
      { seconds: 250, executedAt: '2026-12-07T10:08:20Z' },
    ];
    assert.equal(elapsedSeconds(runs), 600);
    assert.equal(elapsedSeconds([{ seconds: 60, executedAt: '2026-12-07T10:01:00Z' }, { seconds: 60, executedAt: '2026-12-07T10:02:00Z' }]), 120);
    assert.equal(elapsedSeconds([{ seconds: 60 }]), null);
    assert.equal(elapsedSeconds([]), null);
  });
});
