/**
 * The static report, exported from two small executed notebooks
 * (test/fixtures/report, written by make-fixtures.ts) that carry charts
 * from the project's chart code, findings, and hostile text in every place
 * a notebook can put some. The pages are parsed back and checked: content
 * rendered, links resolving, and no script but the report's own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DomUtils, parseDocument } from 'htmlparser2';
import { exportReport, type ExportResult } from '../../report/export';
import { readNotebook } from '../../report/exporter/notebook';
import { cpuVectorExtension } from '../../lib/src/util/cpu';

const root = path.resolve(__dirname, '../..');
const fixtures = path.join(root, 'test', 'fixtures', 'report');
const chartsScript = fs.readFileSync(path.join(root, 'report', 'exporter', 'assets', 'charts.js'), 'utf8');

type Doc = ReturnType<typeof parseDocument>;
type El = Parameters<typeof DomUtils.getAttributeValue>[0];

/** The descendants of doc (not doc itself) that match. */
const all = (doc: Doc | El, pred: (e: El) => boolean): El[] => DomUtils.findAll(pred, doc.children);
const byTag = (doc: Doc | El, tag: string) => all(doc, (e) => e.name === tag);
const byClass = (doc: Doc | El, cls: string) => all(doc, (e) => (e.attribs.class ?? '').split(/\s+/).includes(cls));
const text = (e: Doc | El | El[]) => DomUtils.textContent(e as El);
const attr = (e: El, name: string) => e.attribs[name];
/** The TeX source of a typeset formula (KaTeX keeps it in the MathML annotation). */
const tex = (e: El) => text(byTag(e, 'annotation'));

let out: string;
let result: ExportResult;
const pages: Record<string, Doc> = {};
const raw: Record<string, string> = {};

function load(dir: string, file: string): Doc {
  raw[file] = fs.readFileSync(path.join(dir, file), 'utf8');
  return parseDocument(raw[file], { decodeEntities: true });
}

before(async () => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-report-'));
  fs.writeFileSync(path.join(out, 'README.md'), '# Report\n');
  // A page an earlier export wrote for a notebook that is gone, and a page it did not write.
  fs.writeFileSync(path.join(out, 'rq9-gone.html'), '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="generator" content="bnlab report exporter">\n</head></html>');
  fs.writeFileSync(path.join(out, 'mine.html'), '<p>not the exporter’s</p>');
  result = await exportReport({ inDir: fixtures, outDir: out, log: () => {} });
  for (const f of ['index.html', 'rq1-fixture.html', 'rq2-fixture.html']) pages[f] = load(out, f);
});

after(() => fs.rmSync(out, { recursive: true, force: true }));

describe('report export', () => {
  it('writes the site next to what is there, and removes only its own stale pages', () => {
    assert.deepEqual(result.pages, ['index.html', 'rq1-fixture.html', 'rq2-fixture.html']);
    for (const f of ['index.html', 'rq1-fixture.html', 'rq2-fixture.html', 'findings.json', 'assets/report.css', 'assets/vega.js']) assert.ok(fs.existsSync(path.join(out, f)), f);
    assert.equal(fs.readFileSync(path.join(out, 'README.md'), 'utf8'), '# Report\n');
    assert.ok(!fs.existsSync(path.join(out, 'rq9-gone.html')), 'stale generated page left behind');
    assert.ok(fs.existsSync(path.join(out, 'mine.html')), 'removed a page the exporter did not write');
    const vega = fs.readFileSync(path.join(out, 'assets', 'vega.js'), 'utf8');
    assert.match(vega, /vega@5\./);
    assert.match(vega, /vega-lite@5\./);
    // The expression interpreter, between the two: the CSP allows no eval (page.ts).
    assert.match(vega, /vega@5\.[^]*vega-interpreter@1\.[^]*vega-lite@5\./);
    assert.doesNotMatch(vega, /sourceMappingURL/);
    assert.match(fs.readFileSync(path.join(out, 'assets', 'report.css'), 'utf8'), /\.hljs-keyword/);
  });

  it('renders markdown: headings with ids, tables, math; raw HTML shown as text', () => {
    const doc = pages['rq1-fixture.html'];
    const md = byClass(doc, 'markdown-cell');
    const h1 = byTag(doc, 'h1')[0];
    assert.equal(attr(h1, 'id'), 'rq1-learning-rates-and-script-alert-1-script-bn');
    assert.match(text(h1), /RQ1: Learning rates and <script>alert\(1\)<\/script> BN/);
    assert.deepEqual(byTag(doc, 'h2').filter((h) => attr(h, 'id')).map((h) => attr(h, 'id')), ['setup', 'results']);
    assert.equal(attr(byTag(doc, 'h3')[0], 'id'), 'training');
    const table = byTag(md[1], 'table')[0];
    assert.ok(table, 'markdown table not rendered');
    assert.deepEqual(byTag(table, 'th').map(text), ['profile', 'seeds']);
    assert.deepEqual(byTag(table, 'td').map(text), ['smoke', '1, 2']);
    assert.deepEqual(byClass(md[0], 'math').map(tex), ['\\eta_t = 0.1', 'L = \\sum_i \\ell_i']);
    assert.match(text(md[1]), /<div onclick="alert\(1\)">raw html block<\/div>/);
    assert.match(text(md[0]), /<img src=x onerror=alert\(1\)>/);
    // The javascript: link keeps its text and loses its target; the .ipynb link points to the page.
    assert.ok(!byTag(md[0], 'a').some((a) => /javascript/i.test(attr(a, 'href') ?? '')));
    assert.ok(byTag(md[1], 'a').some((a) => attr(a, 'href') === 'rq2-fixture.html'));
    // Duplicate heading texts get distinct ids.
    const ids2 = byTag(pages['rq2-fixture.html'], 'h2').map((h) => attr(h, 'id'));
    assert.deepEqual(ids2.filter(Boolean), ['measuring', 'measuring-2']);
  });

  it('typesets math with KaTeX at export, and leaves dollars that are not math alone', () => {
    const doc = pages['rq1-fixture.html'];
    const cell = byClass(doc, 'markdown-cell').find((c) => text(c).includes('The gain is bounded'))!;
    assert.ok(cell, 'math cell not rendered');
    const maths = byClass(cell, 'math');
    assert.deepEqual(maths.map((m) => `${m.name}.${attr(m, 'class')}`), ['span.math inline', 'span.math inline', 'div.math display', 'span.math inline error', 'span.math inline']);
    // Inline and display: KaTeX's HTML and MathML, the source kept in the annotation.
    const [sqrt, normal, display, broken, hostile] = maths;
    assert.equal(tex(sqrt), '\\sqrt{(M+1)^{M+1}/M^M}');
    assert.equal(tex(normal), '\\mathcal N(0, 1/N)');
    assert.equal(tex(display), '\\hat x_i = \\frac{x_i - \\mu_B}{\\sqrt{\\sigma_B^2 + \\epsilon}}');
    for (const m of [sqrt, normal, display]) {
      assert.equal(byClass(m, 'katex').length, 1);
      assert.equal(byClass(m, 'katex-html').length, 1);
      assert.equal(attr(byTag(m, 'math')[0], 'xmlns'), 'http://www.w3.org/1998/Math/MathML');
    }
    assert.equal(byClass(display, 'katex-display').length, 1);
    assert.equal(attr(byTag(display, 'math')[0], 'display'), 'block');
    assert.equal(byTag(sqrt, 'msqrt').length, 1);
    assert.ok(byTag(sqrt, 'svg').length >= 1 && byTag(sqrt, 'path').length >= 1, 'the radical sign (an SVG path) was stripped');
    assert.ok(byTag(display, 'mfrac').length === 1);
    // Nothing KaTeX wrote was escaped into text by the sanitiser.
    assert.doesNotMatch(text(maths.filter((m) => m !== broken)), /<\/?[a-z]+[\s>]/);
    // A formula KaTeX cannot read: its source, escaped, in <code> with the parse error as title.
    const code = byTag(broken, 'code')[0];
    assert.equal(attr(code, 'class'), 'math-error');
    assert.equal(text(code), '$\\frac{1}{$');
    assert.match(attr(code, 'title')!, /^KaTeX parse error/);
    // With trust off, \href renders as red text: no link, no javascript: anywhere in an attribute.
    assert.equal(tex(hostile), '\\href{javascript:alert(1)}{x}');
    assert.equal(byTag(hostile, 'a').length, 0);
    for (const e of all(cell, () => true)) for (const v of Object.values(e.attribs)) assert.doesNotMatch(v, /javascript:/i);
    // Dollars in code, prices and escaped dollars are text.
    assert.deepEqual(byTag(cell, 'code').filter((c) => attr(c, 'class') === undefined).map(text), ['$x_1$']);
    assert.equal(text(byTag(cell, 'pre')[0]), 'const label = `$${n}$`;');
    const paras = byTag(cell, 'p').map(text);
    assert.ok(paras.includes('Prices stay text: $5 and $6.'), paras.join(' | '));
    assert.ok(paras.some((p) => p.startsWith('So does an escaped $x$. A hostile link: ')), paras.join(' | '));
  });

  it('links the KaTeX stylesheet only from pages with math, and ships it with its woff2 fonts', () => {
    const links = (file: string) => byTag(pages[file], 'link').map((l) => attr(l, 'href'));
    assert.deepEqual(links('rq1-fixture.html'), ['assets/katex.min.css', 'assets/report.css']);
    assert.deepEqual(links('rq2-fixture.html'), ['assets/report.css']);
    assert.deepEqual(links('index.html'), ['assets/report.css']);
    const css = fs.readFileSync(path.join(out, 'assets', 'katex.min.css'), 'utf8');
    assert.match(css, /^\/\* KaTeX \d+\.\d+\.\d+ /);
    assert.match(css, /\.katex\{/);
    const urls = [...css.matchAll(/url\(\s*['"]?([^'")]+)['"]?\s*\)/g)].map((m) => m[1]);
    assert.ok(urls.length >= 10, `only ${urls.length} font urls`);
    for (const u of urls) {
      assert.match(u, /^fonts\/KaTeX_[A-Za-z0-9_-]+\.woff2$/);
      assert.ok(fs.statSync(path.join(out, 'assets', u)).size > 1000, `${u} missing`);
    }
    assert.deepEqual(fs.readdirSync(path.join(out, 'assets', 'fonts')).sort(), [...new Set(urls.map((u) => u.slice('fonts/'.length)))].sort());
    // The CSP lets the stylesheet and its fonts load from the report's own folder; still no script on a page without charts.
    const csp = attr(byTag(pages['rq1-fixture.html'], 'meta').find((m) => attr(m, 'http-equiv') === 'Content-Security-Policy')!, 'content')!;
    assert.match(csp, /style-src 'self'/);
    assert.match(csp, /font-src 'self'/);
  });

  it('highlights code and folds it', () => {
    const doc = pages['rq1-fixture.html'];
    const cells = byClass(doc, 'code-cell');
    assert.equal(cells.length, 9);
    for (const c of cells) {
      const d = byTag(c, 'details')[0];
      assert.ok(d, `${attr(c, 'id')}: code not in <details>`);
      assert.equal(attr(d, 'open'), undefined, 'code unfolded');
      assert.ok(byTag(d, 'summary').length === 1);
      assert.ok(byClass(d, 'hljs').length === 1);
    }
    assert.ok(byClass(doc, 'hljs-keyword').some((k) => text(k) === 'await'));
    assert.deepEqual(cells.filter((c) => attr(c, 'class')!.split(' ').includes('parameters')).map((c) => attr(c, 'id')), ['cell-4']);
  });

  it('escapes streams, keeps the last state of \\r lines and drops ANSI codes', () => {
    const doc = pages['rq1-fixture.html'];
    const stdout = byClass(doc, 'stdout');
    assert.equal(stdout.length, 1, 'consecutive stdout writes are one block');
    assert.equal(text(stdout[0]), '<b>bold?</b> </pre><script>alert("stream")</script>\nstep 2');
    assert.equal(byTag(stdout[0], 'b').length, 0);
    assert.ok(raw['rq1-fixture.html'].includes('&lt;b&gt;bold?&lt;/b&gt; &lt;/pre&gt;&lt;script&gt;'));
    const stderr = byClass(doc, 'stderr').map(text);
    assert.ok(stderr.includes('warning: slow <i>CPU</i>'), stderr.join(' | '));
    assert.ok(stderr.some((s) => s.startsWith('[bnlab] backend tensorflow')));
    const plain = byClass(doc, 'output').filter((e) => attr(e, 'class')!.split(' ').includes('text')).map(text);
    assert.ok(plain.includes("{ value: '<img src=x onerror=alert(1)>' }"));
  });

  it('sanitises HTML, markdown and SVG outputs', () => {
    const doc = pages['rq1-fixture.html'];
    const html = byClass(doc, 'html')[0];
    assert.equal(text(byTag(html, 'b')), 'progress');
    const div = byTag(html, 'div')[0];
    assert.equal(attr(div, 'style'), 'color:#c00', 'unsafe style kept or safe style lost');
    assert.equal(attr(div, 'onclick'), undefined);
    assert.equal(attr(byTag(html, 'a')[0], 'href'), undefined);
    assert.equal(byTag(html, 'img').length, 0, 'external image kept');
    assert.equal(byTag(html, 'iframe').length, 0);
    assert.match(text(html), /<script>alert\("html"\)<\/script>/, 'the script shows as text');
    const mdOut = byClass(doc, 'markdown').find((e) => attr(e, 'class')!.includes('output'))!;
    assert.equal(text(byTag(mdOut, 'strong')), 'markdown output');
    const svg = byClass(doc, 'svg')[0];
    assert.equal(byTag(svg, 'svg').length, 1);
    assert.equal(byTag(svg, 'rect').length, 1);
    assert.equal(byTag(svg, 'image').length, 1);
    assert.equal(attr(byTag(svg, 'image')[0], 'href'), undefined, 'external image reference kept');
    assert.equal(attr(byTag(svg, 'a')[0], 'href'), undefined);
    assert.equal(byTag(svg, 'foreignObject').length + byTag(svg, 'foreignobject').length, 0);
    const img = byClass(doc, 'image').flatMap((e) => byTag(e, 'img'));
    assert.equal(img.length, 1);
    assert.match(attr(img[0], 'src')!, /^data:image\/png;base64,iVBOR/);
  });

  it('inlines charts as SVG, numbered and captioned, with their Vega-Lite spec', () => {
    const doc = pages['rq1-fixture.html'];
    const figures = byTag(doc, 'figure');
    assert.deepEqual(figures.map((f) => attr(f, 'id')), ['fig-1', 'fig-2']);
    assert.deepEqual(figures.map((f) => text(byTag(f, 'figcaption'))), ['Figure 1: Training loss </script><script>alert("title")</script>', 'Figure 2: Channel means by depth']);
    const nb = readNotebook(path.join(fixtures, 'rq1-fixture.ipynb'));
    const specs = nb.cells.flatMap((c) => c.outputs).flatMap((o) => ('data' in o && o.data['application/vnd.vegalite.v5+json'] ? [o.data['application/vnd.vegalite.v5+json']] : []));
    figures.forEach((f, i) => {
      const svg = byTag(byClass(f, 'chart-static')[0], 'svg');
      assert.equal(svg.length, 1, 'chart not inline SVG');
      assert.ok(all(svg[0], (e) => e.name === 'path').length > 3, 'chart SVG lost its marks');
      const script = document(f, attr(f, 'data-spec')!);
      assert.equal(attr(script, 'type'), 'application/json');
      assert.deepEqual(JSON.parse(text(script)), specs[i], 'spec changed on the way');
    });
    // Vega names gradients alike in every chart; on the page each id is unique and references stay inside their chart.
    const ids = all(doc, (e) => attr(e, 'id') !== undefined).map((e) => attr(e, 'id'));
    assert.equal(new Set(ids).size, ids.length, `duplicate ids: ${ids.filter((x, i) => ids.indexOf(x) !== i).join(', ')}`);
    const heat = byClass(figures[1], 'chart-static')[0];
    const refs = [...DomUtils.getOuterHTML(heat).matchAll(/url\(#([^)]+)\)/g)].map((m) => m[1]);
    assert.ok(refs.length > 0, 'heatmap legend lost its gradient');
    for (const r of refs) assert.ok(all(heat, (e) => attr(e, 'id') === r).length === 1, `url(#${r}) does not resolve within its chart`);
    // A chart sent as one output per MIME type (fallback kernel path) is still one figure.
    const rq2 = byTag(pages['rq2-fixture.html'], 'figure');
    assert.equal(rq2.length, 1);
    assert.equal(text(byTag(rq2[0], 'figcaption')), 'Figure 1: Split bundle chart');
    assert.equal(byClass(pages['rq2-fixture.html'], 'output').length, 0, 'split bundle left text stand-ins behind');
  });

  it('shows findings on their page and in the index table, and writes findings.json', () => {
    const json = JSON.parse(fs.readFileSync(path.join(out, 'findings.json'), 'utf8'));
    assert.deepEqual(json, [
      {
        rq: 'RQ1',
        claim: 'BN trains at learning rates where the plain network <script>alert("claim")</script> diverges.',
        metric: 'test accuracy gain of BN at lr 0.1',
        value: 0.123456,
        threshold: 'reproduced if > 0.05',
        verdict: 'reproduced',
        converged: true,
        stepBudget: { min: 450, max: 900 },
        notebook: 'rq1-fixture',
      },
      { rq: 'RQ2', claim: 'Gradients grow with depth without BN.', metric: 'gradient spread ratio', value: 250000, threshold: 'reproduced if > 10', verdict: 'inconclusive', converged: null, stepBudget: null, notebook: 'rq2-fixture' },
    ]);
    const card = document(pages['rq1-fixture.html'], 'finding-rq1');
    assert.match(attr(card, 'class')!, /verdict-reproduced/);
    assert.deepEqual(byTag(card, 'td').map(text), ['test accuracy gain of BN at lr 0.1', '0.1235', 'reproduced if > 0.05', '≈ 0.12 (Fig. 1)', 'yes', '450–900']);
    assert.equal(text(byClass(card, 'note')), 'Fashion-MNIST subset, <img src=x onerror=alert(1)>');
    // The split finding is one card, and its markdown stand-in is not shown again.
    assert.equal(byClass(pages['rq2-fixture.html'], 'finding').length, 1);
    assert.equal(text(byClass(document(pages['rq2-fixture.html'], 'finding-rq2'), 'num')), '2.50e+5');

    const index = pages['index.html'];
    const rows = byTag(byClass(index, 'findings')[0], 'tr').slice(1);
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((r) => text(byTag(r, 'td')[0])), ['RQ1', 'RQ2']);
    assert.match(text(byTag(rows[0], 'td')[1]), /<script>alert\("claim"\)<\/script>/);
    assert.match(text(byTag(rows[0], 'td')[2]), /0\.1235/);
    assert.match(text(byTag(rows[0], 'td')[2]), /paper: ≈ 0\.12/);
    // The convergence and step-budget columns: yes for a training finding whose runs converged, — where none trained.
    assert.deepEqual(rows.map((r) => [text(byTag(r, 'td')[3]), text(byTag(r, 'td')[4])]), [['yes', '450–900'], ['—', '—']]);
    assert.deepEqual(rows.map((r) => text(byTag(r, 'td')[5]).trim()), ['✓ reproduced', '? inconclusive']);
    assert.deepEqual(rows.map((r) => byTag(r, 'a').map((a) => attr(a, 'href'))), [
      ['rq1-fixture.html', 'rq1-fixture.html#finding-rq1'],
      ['rq2-fixture.html', 'rq2-fixture.html#finding-rq2'],
    ]);
    assert.match(text(index), /2 findings: 1 reproduced, 0 not reproduced, 1 inconclusive/);
    assert.match(text(index), /Bjorck, Gomes, Selman and Weinberger/);
  });

  it('has a reproducibility block from the notebooks and this machine', () => {
    const repro = document(pages['index.html'], 'reproducibility');
    const row = (label: string) => {
      const th = byTag(repro, 'th').find((t) => text(t) === label);
      assert.ok(th, `no row ${label}`);
      return text(byTag(th.parent as El, 'td'));
    };
    assert.match(row('Commit'), /^([0-9a-f]{40}|unknown.*)$/);
    assert.match(row('Uncommitted changes'), /^(no|yes|unknown)/);
    assert.equal(row('Profile'), 'smoke');
    assert.equal(row('Backend'), 'tensorflow (libtensorflow 2.21.0)');
    assert.match(row('Node'), new RegExp(`^${process.version.replace(/\./g, '\\.')}`));
    const tfjs = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', '@tensorflow', 'tfjs-core', 'package.json'), 'utf8')).version;
    assert.ok(row('Packages').includes(`@tensorflow/tfjs-core@${tfjs}`));
    assert.match(row('Packages'), /tslab@\d/);
    assert.match(row('Machine'), new RegExp(`^${os.cpus().length} cores?`));
    const vector = cpuVectorExtension();
    if (vector) assert.ok(row('Machine').includes(`, ${vector})`), `the machine line names the vector extension: ${row('Machine')}`);
    assert.match(row('Seeds'), /parameters cell/);
    assert.ok(byTag(repro, 'a').some((a) => attr(a, 'href') === 'rq1-fixture.html#cell-4'), 'seeds do not link the parameters cell');
    const runs = byTag(byClass(repro, 'runs')[0], 'tr').map((r) => byTag(r, 'td').map(text));
    assert.deepEqual(runs.slice(1, 3).map((r) => [r[0], r[3]]), [['rq1-fixture', '12.3 s'], ['rq2-fixture', '3.5 s']]);
    assert.match(runs[1][5], /^error/);
    assert.match(text(pages['rq1-fixture.html']), /This notebook stopped with an error: rq1-fixture\.ipynb, cell 12: Error: <script>alert\('error'\)<\/script>/);
    const err = byClass(pages['rq1-fixture.html'], 'error').find((e) => e.name === 'pre')!;
    assert.match(text(err), /^Error: <script>alert\('error'\)<\/script>\n {4}at <anonymous>:1:7$/);
  });

  it('has a table of contents, figure list and previous/next links that resolve', () => {
    const toc = byClass(document(pages['rq1-fixture.html'], 'contents'), 'toc')[0];
    assert.deepEqual(byTag(toc, 'a').map((a) => attr(a, 'href')), ['#rq1-learning-rates-and-script-alert-1-script-bn', '#setup', '#training', '#results']);
    const prevNext = (doc: Doc) => byTag(doc, 'a').filter((a) => attr(a, 'rel') === 'prev' || attr(a, 'rel') === 'next').map((a) => `${attr(a, 'rel')}:${attr(a, 'href')}`);
    assert.deepEqual([...new Set(prevNext(pages['index.html']))], ['next:rq1-fixture.html']);
    assert.deepEqual([...new Set(prevNext(pages['rq1-fixture.html']))], ['prev:index.html', 'next:rq2-fixture.html']);
    assert.deepEqual([...new Set(prevNext(pages['rq2-fixture.html']))], ['prev:rq1-fixture.html']);
    // Every relative link on every page reaches a file, and its fragment an element there.
    let checked = 0;
    for (const [file, doc] of Object.entries(pages)) {
      for (const el of all(doc, (e) => attr(e, 'href') !== undefined || attr(e, 'src') !== undefined)) {
        const url = (attr(el, 'href') ?? attr(el, 'src'))!;
        if (/^(https?|mailto|data):/.test(url)) continue;
        const [target, frag] = url.split('#');
        const targetFile = target || file;
        assert.ok(fs.existsSync(path.join(out, targetFile)), `${file}: ${url} → no file`);
        if (frag) {
          const tdoc = pages[targetFile] ?? load(out, targetFile);
          assert.ok(all(tdoc, (e) => attr(e, 'id') === frag).length === 1, `${file}: ${url} → no element #${frag}`);
        }
        checked++;
      }
    }
    assert.ok(checked > 30, `only ${checked} links checked`);
  });

  it('lets no script in but its own', () => {
    for (const [file, doc] of Object.entries(pages)) {
      const scripts = byTag(doc, 'script');
      const figures = byTag(doc, 'figure');
      for (const s of scripts) {
        if (attr(s, 'src') !== undefined) assert.equal(attr(s, 'src'), 'assets/vega.js', `${file}: foreign script src`);
        else if (attr(s, 'type') === 'application/json') {
          assert.equal(attr(s, 'class'), 'chart-spec', `${file}: JSON script outside a chart`);
          assert.ok(figures.some((f) => attr(f, 'data-spec') === attr(s, 'id')), `${file}: JSON script ${attr(s, 'id')} belongs to no figure`);
          assert.ok(!/<\/script|<!--/i.test(text(s)));
        } else assert.equal(text(s), chartsScript, `${file}: an inline script that is not the chart script`);
        assert.deepEqual(Object.keys(s.attribs).filter((k) => !['src', 'type', 'id', 'class'].includes(k)), []);
      }
      // The parser and the raw text agree on the number of scripts: none hides from the parse.
      assert.equal((raw[file].match(/<script\b/gi) ?? []).length, scripts.length, `${file}: script tags the parser did not see`);
      assert.equal(scripts.filter((s) => !attr(s, 'src') && attr(s, 'type') !== 'application/json').length, figures.length ? 1 : 0);
      for (const e of all(doc, () => true)) {
        for (const [k, v] of Object.entries(e.attribs)) {
          assert.ok(!/^on/i.test(k), `${file}: <${e.name} ${k}>`);
          assert.ok(!/^\s*(javascript|vbscript|data:text)/i.test(v.replace(/[\s\u0000-\u001f]/g, '')), `${file}: <${e.name} ${k}="${v}">`);
        }
        assert.ok(!['iframe', 'object', 'embed', 'foreignobject', 'base', 'form', 'style', 'link'].includes(e.name.toLowerCase()) || (e.name === 'link' && ['assets/report.css', 'assets/katex.min.css'].includes(attr(e, 'href')!)), `${file}: <${e.name}>`);
      }
      // Every alert() of the fixtures is text a reader sees, not code.
      const hostile = all(doc, (e) => e.name !== 'script' && e.children.some((c) => c.type === 'text' && /alert\(/.test((c as unknown as { data: string }).data)));
      assert.ok(file === 'index.html' || hostile.length > 0);
      const csp = byTag(doc, 'meta').find((m) => attr(m, 'http-equiv') === 'Content-Security-Policy');
      assert.ok(csp && /script-src [^;]*'sha256-/.test(attr(csp, 'content')!) === figures.length > 0, `${file}: CSP`);
      assert.doesNotMatch(attr(csp!, 'content')!, /'unsafe-inline'[^;]*;.*script|script-src[^;]*'unsafe-inline'/);
      assert.doesNotMatch(attr(csp!, 'content')!, /unsafe-eval/, `${file}: charts run without eval (vega-interpreter)`);
    }
  });

  it('takes the environment from environment.json when given', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-report-env-'));
    try {
      const envFile = path.join(dir, 'environment.json');
      fs.writeFileSync(envFile, JSON.stringify({ commit: 'abc1234', dirty: false, backend: 'wasm', node: 'v20.0.0', cores: 64, cpu: 'Test CPU', seeds: [7, 8], versions: { tslab: '9.9.9' }, 'GPU driver': 'none <b>' }));
      await exportReport({ inDir: fixtures, outDir: path.join(dir, 'site'), environmentFile: envFile, log: () => {} });
      const repro = document(load(path.join(dir, 'site'), 'index.html'), 'reproducibility');
      const rows = Object.fromEntries(byTag(repro, 'tr').filter((r) => byTag(r, 'th').length === 1 && byTag(r, 'td').length === 1).map((r) => [text(byTag(r, 'th')), text(byTag(r, 'td'))]));
      assert.equal(rows.Commit, 'abc1234');
      assert.equal(rows['Uncommitted changes'], 'no (clean)');
      assert.equal(rows.Backend, 'wasm');
      assert.equal(rows.Node, 'v20.0.0');
      assert.match(rows.Machine, /^64 cores \(Test CPU\)/);
      assert.equal(rows.Seeds, '7, 8');
      assert.match(rows.Packages, /tslab@9\.9\.9/);
      assert.equal(rows['GPU driver'], 'none <b>');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as a command line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-report-cli-'));
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'report', 'export.ts'), '--in', fixtures, '--out', dir], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /\[report\] 2 executed notebooks/);
      assert.match(r.stderr, /\[report\] rq1-fixture\.html: 2 figures, 1 finding/);
      const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.deepEqual(summary.pages, ['index.html', 'rq1-fixture.html', 'rq2-fixture.html']);
      assert.equal(summary.findings, 2);
      const bad = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'report', 'export.ts'), '--in', path.join(dir, 'nope')], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /no folder .*nope/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The element with this id (exactly one). */
function document(doc: Doc | El, id: string): El {
  const found = all(doc, (e) => attr(e, 'id') === id);
  assert.equal(found.length, 1, `#${id}: ${found.length} elements`);
  return found[0];
}
