/**
 * The report's charts under a CSP without 'unsafe-eval', in headless
 * Chromium: Vega runs its expressions through vega-interpreter, so a
 * chart goes live with no eval at all, and chart specs whose expressions
 * try to reach code (constructor chains, this, window, eval, Function
 * taken from a string) get nowhere: each stays static or goes live
 * harmless, nothing they aim at runs, and the page's only CSP violation is
 * the one this test provokes on purpose to show eval really is blocked.
 * Quick: it exports a small notebook written here, not the five notebooks
 * (report.test.ts does those).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { lineChart } from '../../lib/src/charts';
import { chartBundle } from '../../lib/src/display/show';
import { exportReport } from '../../report/export';
import { browserSkipReason, collectErrors, launchChromium } from './helpers';

declare const document: any;
declare const window: any;

const skip = browserSkipReason();

/** What each hostile expression would do if it ran: set a flag on window. */
const PAYLOAD = "window.__pwned = 'pwned'";
const HOSTILE: { name: string; spec: Record<string, unknown> }[] = [
  { name: 'constructor chain in a calculate', spec: { transform: [{ calculate: `constructor.constructor("${PAYLOAD}")()`, as: 'z' }] } },
  { name: 'Function from a string literal', spec: { transform: [{ calculate: `'x'['constructor']['constructor']("${PAYLOAD}")()`, as: 'z' }] } },
  { name: 'Function as a value', spec: { params: [{ name: 'fn', expr: "'x'['constructor']['constructor']" }], transform: [{ calculate: "datum['constructor']['constructor']", as: 'z' }] } },
  { name: 'this', spec: { transform: [{ calculate: `this.eval("${PAYLOAD}")`, as: 'z' }] } },
  { name: 'window', spec: { transform: [{ filter: `window.eval("${PAYLOAD}")` }] } },
  { name: 'eval', spec: { params: [{ name: 'e', expr: `eval("${PAYLOAD}")` }] } },
  { name: 'prototype pollution', spec: { params: [{ name: 'o', expr: "{'__proto__': {'polluted': 'yes'}, 'toString': 1}" }] } },
  { name: 'an encoding', spec: { encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, tooltip: { value: { expr: `'x'['constructor']['constructor']("${PAYLOAD}")` } } } } },
];

const base = (title: string) => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title,
  data: { values: [1, 2, 3, 4].map((x) => ({ x, y: x * x })) },
  mark: 'line',
  encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
});
/** A stand-in for the static picture: the exporter wants one, and Node should not render the hostile specs. */
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><rect width="300" height="200" fill="#eee"/><path d="M10 190 L290 10" stroke="#000"/></svg>';

let tmp: string;
let browser: Browser;
let ctx: BrowserContext;
const offsite: string[] = [];

/** Opens a page with its CSP violations recorded from the first script on. */
async function open(file: string, errors: string[], ignore?: (text: string) => boolean): Promise<Page> {
  const page = await ctx.newPage();
  collectErrors(page, file, errors, ignore);
  await page.goto(pathToFileURL(path.join(tmp, 'site', file)).href, { waitUntil: 'load' });
  await page.waitForFunction(() => Array.from(document.querySelectorAll('figure.chart[data-spec]') as ArrayLike<any>).every((f: any) => ['yes', 'failed'].includes(f.getAttribute('data-live'))), undefined, { timeout: 60_000 });
  // Vega renders asynchronously after runAsync; give late handlers (tooltips, signals) a moment.
  await page.waitForTimeout(300);
  return page;
}

const violations = (page: Page) => page.evaluate(() => window.__violations as { directive: string; blocked: string; sample: string }[]);
const liveStates = (page: Page) => page.locator('figure.chart').evaluateAll((fs: any[]) => fs.map((f) => `${f.querySelector('figcaption').textContent}: ${f.getAttribute('data-live')}`));

describe('report charts without unsafe-eval, in Chromium', { skip }, () => {
  before(
    async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-browser-csp-'));
      const chart = (data: Record<string, unknown>) => ({ output_type: 'display_data', metadata: {}, data });
      const cell = (n: number, outputs: unknown[]) => ({ cell_type: 'code', execution_count: n, metadata: {}, source: 'await bn.show(spec);', outputs });
      const benign = await chartBundle(lineChart([1, 2, 3, 4, 5].map((epoch) => ({ epoch, loss: 1 / epoch, norm: epoch % 2 ? 'batch' : 'none' })), { x: 'epoch', y: 'loss', color: 'norm', title: 'A real chart' }));
      const notebook = (cells: unknown[]) => JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells });
      fs.mkdirSync(path.join(tmp, 'in'));
      fs.writeFileSync(path.join(tmp, 'in', 'a-benign.ipynb'), notebook([cell(1, [chart(benign)])]));
      fs.writeFileSync(
        path.join(tmp, 'in', 'b-hostile.ipynb'),
        notebook([
          cell(1, [chart(benign)]),
          ...HOSTILE.map((h, i) => cell(i + 2, [chart({ 'application/vnd.vegalite.v5+json': { ...base(h.name), ...h.spec }, 'image/svg+xml': SVG, 'text/plain': `<Vega-Lite chart: ${h.name}>` })])),
        ]),
      );
      await exportReport({ inDir: path.join(tmp, 'in'), outDir: path.join(tmp, 'site'), log: () => {} });
      browser = await launchChromium();
      ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await ctx.route(
        (url) => !['file:', 'data:', 'blob:'].includes(url.protocol),
        (route) => {
          offsite.push(route.request().url());
          return route.abort();
        },
      );
      // Injected by the browser (not a page script, so the CSP does not stop it): records every violation.
      await ctx.addInitScript(() => {
        window.__violations = [];
        document.addEventListener('securitypolicyviolation', (e: any) => window.__violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample }));
      });
    },
    { timeout: 120_000 },
  );

  after(async () => {
    await browser?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the chart pages forbid eval', () => {
    for (const f of ['a-benign.html', 'b-hostile.html']) {
      const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(fs.readFileSync(path.join(tmp, 'site', f), 'utf8'))![1].replace(/&#39;/g, "'");
      assert.match(csp, /script-src 'self' file: 'sha256-[^']+'(;|$)/, `${f}: ${csp}`);
      assert.doesNotMatch(csp, /unsafe-eval|unsafe-inline'[^;]*script|wasm-unsafe-eval/, f);
    }
    assert.match(fs.readFileSync(path.join(tmp, 'site', 'assets', 'vega.js'), 'utf8'), /vega-interpreter@1\.\d+\.\d+/);
  });

  it('a real chart goes live with no CSP violation and no error', async () => {
    const errors: string[] = [];
    const page = await open('a-benign.html', errors);
    assert.deepEqual(await liveStates(page), ['Figure 1: A real chart: yes']);
    assert.ok((await page.locator('figure.chart .chart-live svg.marks path').count()) > 3, 'the live chart drew nothing');
    // Hovering runs the tooltip's expressions through the interpreter too.
    const box = (await page.locator('figure.chart .chart-live svg.marks').boundingBox())!;
    for (let x = 0.1; x < 1; x += 0.1) await page.mouse.move(box.x + box.width * x, box.y + box.height / 2);
    assert.deepEqual(await violations(page), []);
    assert.deepEqual(errors, []);
    assert.deepEqual(offsite, []);
    await page.close();
  });

  it('hostile chart expressions run nothing: each chart stays static or goes live harmless, and only the eval this test tries is refused', async () => {
    // The hostile charts do log errors (Vega's parse errors, vega-interpreter's "Prevented interpretation
    // of member …"): expected here. What must not appear is a refusal by the CSP.
    const errors: string[] = [];
    const page = await open('b-hostile.html', errors);
    const states = await liveStates(page);
    assert.equal(states.length, 1 + HOSTILE.length);
    assert.equal(states[0], 'Figure 1: A real chart: yes', 'the real chart on the same page still goes live');
    const escaped = await page.evaluate(() => ({ pwned: window.__pwned, polluted: ({} as any).polluted }));
    assert.deepEqual(escaped, { pwned: undefined, polluted: undefined }, `an expression ran: ${states.join('; ')}`);
    for (const f of await page.locator('figure.chart').all()) assert.equal(await f.locator('svg').count(), 1, 'every figure still shows its chart, static or live');
    assert.deepEqual(await violations(page), [], 'the hostile specs caused a CSP violation: something tried to eval');
    assert.deepEqual(errors.filter((e) => /Content Security Policy|Refused to/i.test(e)), []);
    // Who stopped what: Vega's parser rejects the constructor chains, this, window and eval (those
    // charts stay static, "chart stays static" on the console); the object literal parses, goes live,
    // and the interpreter drops its __proto__ key.
    assert.equal(states[1 + HOSTILE.findIndex((h) => h.name === 'prototype pollution')], 'Figure 8: prototype pollution: yes');
    assert.ok(errors.some((e) => /Prevented interpretation of property "__proto__"/.test(e)), `vega-interpreter did not refuse __proto__:\n${errors.join('\n')}`);
    process.stderr.write(`[csp] ${states.join('; ')}\n`);
    // The CSP is what would stop an expression that did reach Function: the page refuses eval. (Not
    // inside page.evaluate itself: DevTools lets its own evaluation eval; a timer the page runs is the page.)
    await page.evaluate(() => {
      setTimeout(() => {
        try {
          window.__evalResult = `not blocked: ${new (window.Function as any)('return 1')()}`;
        } catch (e: any) {
          window.__evalResult = String(e?.name);
        }
      }, 0);
    });
    await page.waitForFunction(() => window.__evalResult !== undefined, undefined, { timeout: 5000 });
    assert.equal(await page.evaluate(() => window.__evalResult), 'EvalError');
    await page.waitForFunction(() => window.__violations.length > 0, undefined, { timeout: 5000 });
    assert.deepEqual((await violations(page)).map((v) => [v.directive, v.blocked]), [['script-src', 'eval']], 'the one intended violation');
    assert.deepEqual(offsite, []);
    await page.close();
  });
});
