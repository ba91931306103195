/**
 * exportReport: a folder of executed notebooks → a static site.
 *
 *   out/index.html        paper, findings table, reproducibility
 *   out/<notebook>.html   one page per notebook
 *   out/findings.json     [{ rq, claim, metric, value, threshold, verdict, converged, stepBudget, notebook }]
 *   out/grids/            the experiment grids the notebooks read (notebooks/grids/*.json)
 *   out/assets/           report.css, vega.js (Vega 5, vega-interpreter, Vega-Lite 5 browser builds),
 *                         katex.min.css and fonts/*.woff2 (math is typeset at export)
 *
 * Nothing else in `out` is touched, except pages an earlier export wrote
 * (recognised by their generator tag) for notebooks that are gone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { collectEnvironment, readEnvironmentFile, type Environment } from './environment';
import { toRecord, type FindingRecord } from './findings';
import { pageName, readNotebooks, SVG_MIME, VEGALITE_MIME, type DataOutput, type Notebook } from './notebook';
import { katexAssets } from './math';
import { GENERATOR, indexPage, notebookPage, type Scripts } from './page';
import { renderNotebook, type RenderedNotebook } from './render';

export interface ExportOptions {
  /** Folder of executed .ipynb files. */
  inDir: string;
  /** Folder the site goes to. */
  outDir: string;
  /** An environment.json (see ./environment), optional. */
  environmentFile?: string;
  /** The repository root: git, node_modules (default: two levels above this file). */
  root?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  now?: Date;
}

export interface ExportResult {
  outDir: string;
  pages: string[];
  findings: FindingRecord[];
  figures: number;
  environment: Environment;
  /** False when the Vega browser builds were not found: charts stay static. */
  interactive: boolean;
}

const ASSETS_SRC = path.join(__dirname, 'assets');

function writeFile(file: string, text: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * A chart output without its SVG (a kernel that sent the spec alone) gets
 * one rendered now, with the same code the notebooks use.
 */
async function renderMissingSvgs(nbs: Notebook[], log: (l: string) => void): Promise<void> {
  const missing = nbs.flatMap((nb) =>
    nb.cells.flatMap((c) => c.outputs.filter((o): o is DataOutput => o.output_type !== 'stream' && o.output_type !== 'error' && o.data[VEGALITE_MIME] !== undefined && typeof o.data[SVG_MIME] !== 'string').map((o) => ({ nb, o }))),
  );
  if (!missing.length) return;
  const { renderSvg } = await import('../../lib/src/charts/render');
  for (const { nb, o } of missing) {
    try {
      const spec = typeof o.data[VEGALITE_MIME] === 'string' ? JSON.parse(o.data[VEGALITE_MIME] as string) : o.data[VEGALITE_MIME];
      o.data[SVG_MIME] = await renderSvg(spec);
    } catch (err) {
      log(`[report] ${nb.name}: a chart without SVG could not be rendered (${(err as Error).message}); it is left out`);
    }
  }
}

function readAsset(name: string): string {
  return fs.readFileSync(path.join(ASSETS_SRC, name), 'utf8');
}

/** report.css: highlight.js's GitHub theme, then ours. */
function stylesheet(root: string, log: (l: string) => void): string {
  let theme = '';
  for (const dir of [root, __dirname]) {
    try {
      theme = fs.readFileSync(require.resolve('highlight.js/styles/github.css', { paths: [dir] }), 'utf8');
      break;
    } catch {
      /* next */
    }
  }
  if (!theme) log('[report] highlight.js/styles/github.css not found: code is highlighted without colours');
  return `/* highlight.js GitHub theme (BSD-3-Clause) */\n${theme}\n/* bnlab report */\n${readAsset('report.css')}`;
}

/**
 * assets/vega.js: the Vega, vega-interpreter and Vega-Lite browser builds
 * from node_modules, in that order (the interpreter's UMD adds
 * expressionInterpreter to window.vega; Vega-Lite's reads window.vega).
 * The interpreter is what lets the pages' CSP forbid eval (see page.ts).
 */
function vegaBundle(root: string): string | null {
  const parts: string[] = [];
  for (const [pkg, file] of [['vega', 'build/vega.min.js'], ['vega-interpreter', 'build/vega-interpreter.min.js'], ['vega-lite', 'build/vega-lite.min.js']]) {
    const p = path.join(root, 'node_modules', pkg, file);
    if (!fs.existsSync(p)) return null;
    const version = (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    parts.push(`/* ${pkg}@${version} (BSD-3-Clause), ${file} */\n${fs.readFileSync(p, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n')}`);
  }
  return parts.join('\n;\n');
}

/** Pages a previous export wrote for notebooks no longer there. */
function staleOwnPages(outDir: string, keep: Set<string>): string[] {
  if (!fs.existsSync(outDir)) return [];
  return fs.readdirSync(outDir).filter((f) => {
    if (!f.endsWith('.html') || keep.has(f)) return false;
    const head = fs.readFileSync(path.join(outDir, f), 'utf8').slice(0, 1000);
    return head.includes(`<meta name="generator" content="${GENERATOR}">`);
  });
}

export async function exportReport(opts: ExportOptions): Promise<ExportResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const root = opts.root ?? path.resolve(__dirname, '..', '..');
  const outDir = path.resolve(opts.outDir);
  const t0 = Date.now();

  const notebooks = readNotebooks(opts.inDir);
  if (notebooks.length === 0) throw new Error(`no executed notebooks (*.ipynb) in ${opts.inDir} (run them first: npm run notebooks)`);
  log(`[report] ${notebooks.length} executed notebook${notebooks.length === 1 ? '' : 's'} in ${opts.inDir}`);
  await renderMissingSvgs(notebooks, log);

  // Page names, unique even if two notebook names map to one safe name.
  const pages = new Map<Notebook, string>();
  const used = new Set(['index.html']);
  for (const nb of notebooks) {
    const base = pageName(nb.name);
    let page = `${base}.html`;
    for (let i = 2; used.has(page); i++) page = `${base}-${i}.html`;
    used.add(page);
    pages.set(nb, page);
  }

  const rendered: RenderedNotebook[] = notebooks.map((nb) => renderNotebook(nb, pages.get(nb)!));
  const env = collectEnvironment({
    root,
    notebooks,
    pages,
    parametersAnchors: new Map(notebooks.map((nb, i) => [nb, rendered[i].parametersAnchor])),
    file: readEnvironmentFile(opts.environmentFile),
    now: opts.now,
  });

  fs.mkdirSync(path.join(outDir, 'assets'), { recursive: true });
  const vega = vegaBundle(root);
  if (vega) writeFile(path.join(outDir, 'assets', 'vega.js'), vega);
  else log('[report] node_modules/vega, vega-interpreter or vega-lite has no browser build: charts stay static SVG');
  writeFile(path.join(outDir, 'assets', 'report.css'), stylesheet(root, log));
  const katex = rendered.some((r) => r.math) ? katexAssets(root) : null;
  if (katex) {
    fs.mkdirSync(path.join(outDir, 'assets', 'fonts'), { recursive: true });
    for (const f of katex.fonts) writeFile(path.join(outDir, 'assets', 'fonts', f.name), fs.readFileSync(f.file));
    writeFile(path.join(outDir, 'assets', 'katex.min.css'), katex.css);
  } else if (rendered.some((r) => r.math)) log('[report] katex/dist/katex.min.css not found: math is typeset without its stylesheet');
  const scripts: Scripts = { charts: readAsset('charts.js'), vega: vega !== null, katex: katex !== null };

  // The experiment grids the notebooks read (notebooks/grids): a notebook links
  // its grid by that relative path, and the report keeps what was swept, for the record.
  const gridsDir = path.join(root, 'notebooks', 'grids');
  if (fs.existsSync(gridsDir)) {
    fs.mkdirSync(path.join(outDir, 'grids'), { recursive: true });
    for (const f of fs.readdirSync(gridsDir).filter((x) => x.endsWith('.json'))) writeFile(path.join(outDir, 'grids', f), fs.readFileSync(path.join(gridsDir, f)));
  }

  rendered.forEach((nb, i) => {
    const prev = i === 0 ? { href: 'index.html', label: 'Overview' } : { href: rendered[i - 1].page, label: rendered[i - 1].title };
    const next = i + 1 < rendered.length ? { href: rendered[i + 1].page, label: rendered[i + 1].title } : null;
    writeFile(path.join(outDir, nb.page), notebookPage(nb, { prev, next, env, scripts }));
    const run = env.runs[i];
    log(`[report] ${nb.page}: ${nb.figures.length} figure${nb.figures.length === 1 ? '' : 's'}, ${nb.findings.length} finding${nb.findings.length === 1 ? '' : 's'}${run.error ? `, notebook error: ${run.error}` : ''}`);
  });
  writeFile(path.join(outDir, 'index.html'), indexPage(rendered, { env, scripts }));

  const findings = rendered.flatMap((nb) => nb.findings.map(toRecord));
  writeFile(path.join(outDir, 'findings.json'), JSON.stringify(findings, null, 2) + '\n');

  const keep = new Set(['index.html', ...rendered.map((r) => r.page)]);
  for (const f of staleOwnPages(outDir, keep)) {
    fs.rmSync(path.join(outDir, f));
    log(`[report] removed ${f} (its notebook is gone)`);
  }

  const figures = rendered.reduce((s, r) => s + r.figures.length, 0);
  log(`[report] wrote ${path.join(outDir, 'index.html')}, ${rendered.length} page${rendered.length === 1 ? '' : 's'}, ${figures} figures, ${findings.length} findings in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { outDir, pages: ['index.html', ...rendered.map((r) => r.page)], findings, figures, environment: env, interactive: vega !== null };
}
