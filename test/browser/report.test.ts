/**
 * The report as a reader gets it: the five notebooks executed under smoke
 * through the real kernel, exported with exportReport, then opened from
 * disk (file://) in headless Chromium. The parse-level checks live in
 * test/report/export.test.ts; these are the ones only a browser can make:
 * the links resolve to real pages and anchors, the charts are there, the
 * inlined chart script really turns them into live Vega views (past the
 * page's Content-Security-Policy), the static SVGs stay when JavaScript is
 * off, and no page logs an error. Screenshots of the index and one notebook
 * page go to test-output/browser/ for a person to look at.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { exportReport, type ExportResult } from '../../report/export';
import { pageName } from '../../report/exporter/notebook';
import { browserSkipReason, collectErrors, launchChromium, root, screenshotPath } from './helpers';
import { convergedText } from '../../lib/src/findings/schema';
import { PROGRESS_MIME } from '../../lib/src/display/mime';

// The callbacks passed to page.evaluate run in the page; the project's
// tsconfig has no DOM library, so the page's globals are declared loosely.
declare const document: any;

const skip = browserSkipReason();
const VEGALITE = /^application\/vnd\.vegalite\.v\d+\+json$/;
/** The notebook page that gets its screenshot: RQ3's charts are quick under smoke and varied. */
const SHOT_PAGE = 'rq3-random-matrices.html';

interface Output { output_type: string; data?: Record<string, unknown> }
interface Finding { rq: string; claim: string; verdict: string; converged: boolean | null; notebook: string }

let tmp: string;
let site: string;
let result: ExportResult;
let browser: Browser;
let live: BrowserContext; // JavaScript on, as a reader opens the report
let plain: BrowserContext; // JavaScript off
const errors: string[] = [];
/** Requests beyond the site's folder: the report must open from disk with no network. */
const offsite: string[] = [];
/** Vega-Lite outputs per notebook page, counted in the executed notebooks. */
const charts = new Map<string, number>();
/** Per notebook page, the progress records of each cell that trained (lib/src/display/progress). */
const progress = new Map<string, { state: string; seconds: number }[][]>();

async function open(ctx: BrowserContext, file: string): Promise<Page> {
  const page = await ctx.newPage();
  collectErrors(page, `${file}${ctx === plain ? ' (no JS)' : ''}`, errors);
  await page.goto(pathToFileURL(path.join(site, file)).href, { waitUntil: 'load' });
  return page;
}

/** Fails on what the pages logged or requested since the last call, so each test answers for its own pages. */
function assertNoErrors(): void {
  const logged = errors.splice(0);
  const requested = offsite.splice(0);
  assert.deepEqual(logged, [], `the pages logged errors:\n${logged.join('\n')}`);
  assert.deepEqual(requested, [], `the pages requested something beyond the disk:\n${requested.join('\n')}`);
}

describe('the exported report in Chromium', { skip }, () => {
  before(
    async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-browser-report-'));
      const executed = path.join(tmp, 'executed');
      site = path.join(tmp, 'site');
      const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', 'smoke', '--out', executed], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, BNLAB_PROFILE: 'smoke', BNLAB_RUNS_DIR: path.join(tmp, 'runs') },
        timeout: 600_000,
      });
      assert.equal(r.status, 0, `executing the notebooks failed:\n${(r.stderr ?? '').slice(-4000)}`);
      result = await exportReport({ inDir: executed, outDir: site, log: () => {} });
      for (const f of fs.readdirSync(executed).filter((x) => x.endsWith('.ipynb'))) {
        const nb = JSON.parse(fs.readFileSync(path.join(executed, f), 'utf8')) as { cells: { outputs?: Output[] }[] };
        const n = nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data && Object.keys(o.data).some((k) => VEGALITE.test(k))).length;
        charts.set(`${pageName(f.replace(/\.ipynb$/, ''))}.html`, n);
        const runs = nb.cells.map((c) => (c.outputs ?? []).flatMap((o) => (o.data?.[PROGRESS_MIME] ? [o.data[PROGRESS_MIME] as { state: string; seconds: number }] : []))).filter((r) => r.length > 0);
        progress.set(`${pageName(f.replace(/\.ipynb$/, ''))}.html`, runs);
      }
      browser = await launchChromium();
      live = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      plain = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false });
      for (const ctx of [live, plain]) {
        await ctx.route(
          (url) => !['file:', 'data:', 'blob:'].includes(url.protocol),
          (route) => {
            offsite.push(route.request().url());
            return route.abort();
          },
        );
      }
    },
    { timeout: 600_000 },
  );

  after(async () => {
    await browser?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('exported a page per notebook, each with charts', () => {
    const notebooks = fs.readdirSync(path.join(root, 'notebooks')).filter((f) => f.endsWith('.ipynb'));
    assert.ok(notebooks.length >= 5, `notebooks: ${notebooks.join(', ')}`);
    assert.equal(result.pages.length, notebooks.length + 1, `pages: ${result.pages.join(', ')}`);
    assert.deepEqual([...charts.keys()].sort(), result.pages.filter((p) => p !== 'index.html').sort());
    for (const [page, n] of charts) assert.ok(n >= 1, `${page}: its notebook has no Vega-Lite output`);
  });

  it('the index has one findings-table row per finding in findings.json', async () => {
    const findings = JSON.parse(fs.readFileSync(path.join(site, 'findings.json'), 'utf8')) as Finding[];
    assert.ok(findings.length >= 5, `${findings.length} findings`);
    const page = await open(live, 'index.html');
    const rows = await page.locator('table.findings tbody tr').evaluateAll((trs: any[]) =>
      trs.map((tr) => ({ cls: String(tr.className), cells: Array.from(tr.cells as ArrayLike<any>).map((td: any) => String(td.textContent).replace(/\s+/g, ' ').trim()) })),
    );
    assert.equal(rows.length, findings.length, `table rows:\n${rows.map((r) => r.cells[0]).join('\n')}`);
    findings.forEach((f, i) => {
      const row = rows[i];
      assert.equal(row.cells[0], f.rq, `row ${i + 1}`);
      assert.equal(row.cells[1], f.claim, `row ${i + 1}`);
      // Columns: RQ, claim, measured, converged, steps, verdict.
      assert.equal(row.cells.length, 6, `row ${i + 1}: ${row.cells.length} cells`);
      assert.equal(row.cells[3], convergedText(f.converged), `row ${i + 1}: converged cell`);
      assert.ok(row.cells[5].endsWith(f.verdict), `row ${i + 1}: verdict cell "${row.cells[5]}", findings.json says ${f.verdict}`);
      assert.equal(row.cls, `verdict-${f.verdict.replace(/\s+/g, '-')}`, `row ${i + 1}`);
    });
    await page.screenshot({ path: screenshotPath('report-index.png'), fullPage: true });
    await page.close();
    assertNoErrors();
  });

  it('every internal link on every page resolves to a file, and its #anchor to an element id there', async () => {
    const pages = fs.readdirSync(site).filter((f) => f.endsWith('.html')).sort();
    assert.deepEqual(pages, [...result.pages].sort());
    // Read each page once (scripts off: the ids and links a reader without JavaScript gets).
    const ids = new Map<string, Set<string>>();
    const links = new Map<string, string[]>();
    for (const file of pages) {
      const page = await open(plain, file);
      ids.set(file, new Set(await page.locator('[id]').evaluateAll((els: any[]) => els.map((e) => String(e.id)))));
      links.set(file, await page.locator('a[href]').evaluateAll((els: any[]) => els.map((e) => String(e.getAttribute('href')))));
      await page.close();
    }
    const broken: string[] = [];
    let checked = 0;
    for (const [file, hrefs] of links) {
      for (const href of hrefs) {
        if (/^(https?|mailto):/i.test(href)) continue; // external: not ours to resolve offline
        if (/^[a-z][a-z0-9+.-]*:/i.test(href)) {
          broken.push(`${file}: ${href} (a scheme the static report should not link with)`);
          continue;
        }
        const hash = href.indexOf('#');
        const target = hash < 0 ? href : href.slice(0, hash);
        const anchor = hash < 0 ? '' : decodeURIComponent(href.slice(hash + 1));
        const targetFile = target === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURIComponent(target.split('?')[0])));
        checked++;
        if (targetFile.startsWith('..') || !fs.existsSync(path.join(site, targetFile))) {
          broken.push(`${file}: ${href} (no file ${targetFile} in the site)`);
          continue;
        }
        if (!anchor) continue;
        const there = ids.get(targetFile);
        if (!there) broken.push(`${file}: ${href} (an anchor into ${targetFile}, which is not a page)`);
        else if (!there.has(anchor)) broken.push(`${file}: ${href} (no element with id "${anchor}" on ${targetFile})`);
      }
    }
    assert.deepEqual(broken, [], `broken links:\n${broken.join('\n')}`);
    // Every notebook page is reachable from the index, and the links were really found.
    for (const p of pages.filter((x) => x !== 'index.html')) assert.ok(links.get('index.html')!.includes(p), `index.html does not link ${p}`);
    assert.ok(checked > 50, `only ${checked} internal links checked`);
    assertNoErrors();
  });

  it('each notebook page holds its charts, and with JavaScript they become live Vega views', async () => {
    for (const [file, expected] of charts) {
      const page = await open(live, file);
      const figures = page.locator('figure.chart');
      const total = await figures.count();
      assert.ok(total >= expected, `${file}: ${total} figures for ${expected} Vega-Lite outputs`);
      // assets/charts.js upgrades every figure with a spec, one after another; it marks each data-live="yes" or "failed".
      const withSpec = await page.locator('figure.chart[data-spec]').count();
      assert.equal(withSpec, total, `${file}: ${total - withSpec} figures carry no spec to go live with`);
      await page.waitForFunction(
        () => Array.from(document.querySelectorAll('figure.chart[data-spec]') as ArrayLike<any>).every((f: any) => ['yes', 'failed'].includes(f.getAttribute('data-live'))),
        undefined,
        { timeout: 60_000 },
      );
      const state = await figures.evaluateAll((fs: any[]) =>
        fs.map((f) => ({ id: String(f.id), live: f.getAttribute('data-live'), svg: f.querySelectorAll('.chart-live svg.marks').length, stat: f.querySelectorAll('.chart-static').length })),
      );
      const notLive = state.filter((s) => s.live !== 'yes' || s.svg !== 1 || s.stat !== 0);
      assert.deepEqual(notLive, [], `${file}: figures not turned into one live Vega SVG view each`);
      // A live view has marks drawn, not an empty frame.
      const marks = await page.locator('figure.chart .chart-live svg.marks').evaluateAll((svgs: any[]) => svgs.map((s) => s.querySelectorAll('path, rect, line, symbol, text').length));
      assert.ok(marks.every((n) => n > 5), `${file}: a live chart with almost no marks (${marks.join(', ')})`);
      if (file === SHOT_PAGE) await page.screenshot({ path: screenshotPath('report-notebook.png'), fullPage: true });
      await page.close();
    }
    assertNoErrors();
  });

  it('folds each cell\'s training progress into one line, counted from the runs the executed notebook recorded', async () => {
    const trained = [...progress.values()].flat(2);
    assert.ok(trained.length >= 2, `only ${trained.length} training runs recorded progress under smoke`);
    // The loop's onEnd reached every record through nbclient's in-place updates: none is left running.
    assert.deepEqual(trained.filter((r) => r.state !== 'completed' && r.state !== 'diverged'), []);
    for (const [file, cells] of progress) {
      const page = await open(plain, file);
      const summaries = await page.locator('details.progress > summary').allTextContents();
      assert.deepEqual(
        summaries.map((t) => t.replace(/, [^,]*$/, '')),
        cells.map((runs) => `${runs.length} run${runs.length === 1 ? '' : 's'}, ${runs.filter((r) => r.state === 'diverged').length} diverged`),
        file,
      );
      assert.equal(await page.locator('details.progress[open]').count(), 0, `${file}: progress unfolded`);
      assert.doesNotMatch(await page.locator('#content').innerText(), /█|░/, `${file}: a progress bar is left on the page`);
      await page.close();
    }
    assertNoErrors();
  });

  it('with JavaScript off, the static SVGs are still there', async () => {
    for (const [file, expected] of charts) {
      const page = await open(plain, file);
      const svgs = await page.locator('figure.chart > .chart-static > svg').count();
      assert.ok(svgs >= expected, `${file}: ${svgs} static SVGs for ${expected} Vega-Lite outputs`);
      assert.equal(await page.locator('.chart-live').count(), 0, `${file}: charts went live with JavaScript off`);
      // Drawn, not zero-sized.
      const box = await page.locator('figure.chart > .chart-static > svg').first().boundingBox();
      assert.ok(box && box.width > 100 && box.height > 50, `${file}: the first static chart is ${JSON.stringify(box)}`);
      await page.close();
    }
    assertNoErrors();
  });
});
