/**
 * A notebook in JupyterLab, driven as a user drives it: JupyterLab started
 * the way `npm run notebook` starts it (the project's .venv, the notebooks/
 * folder, the bnlab-tslab kernelspec), RQ3 opened in headless Chromium,
 * Run > Run All Cells from the menu, then what the user sees is checked:
 * every code cell ran, no cell shows an error, and the charts render as
 * live Vega-Lite (not the SVG fallback). The executor tests run the same
 * notebook through nbclient; only this one covers JupyterLab's side: the
 * kernelspec as the launcher shows it, `import 'bnlab'` resolving from the
 * notebook folder in a server-started kernel, and the Vega-Lite mime output
 * rendered by JupyterLab's own renderer.
 *
 * The committed notebook is opened, never saved: autosave is off through a
 * scratch settings folder (checked before the notebook opens), no save
 * command is issued, and its bytes are compared afterwards. JupyterLab
 * creates a checkpoint when it opens a notebook, even unsaved; whatever it
 * adds under notebooks/ is removed. Every Jupyter folder (config, data,
 * runtime, settings, workspaces) is a scratch one, so nothing is written to
 * the home directory and no earlier workspace reopens.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkipReason, collectErrors, freePort, launchChromium, root, screenshotPath } from './helpers';

declare const document: any; // page-side callbacks; the project's tsconfig has no DOM library

const skip = browserSkipReason();
const NOTEBOOK = 'rq3-random-matrices.ipynb';
const KERNEL = 'TypeScript (bnlab)';
const notebooksDir = path.join(root, 'notebooks');
/** JupyterLab's own folders in a notebook folder: created by opening a notebook, removed afterwards. */
const LAB_LITTER = ['.ipynb_checkpoints', '.virtual_documents'];
/**
 * JupyterLab 4.6's debugger extension rejects a promise with this after
 * every execution on a kernel without debugger support (tslab has none);
 * it is JupyterLab's noise, not the notebook's, and the only page error
 * tolerated.
 */
const LAB_NOISE = (text: string) => text.includes('No active debugger session');

let tmp: string;
let server: ChildProcess | undefined;
let serverLog = '';
let base = '';
let token = '';
let browser: Browser | undefined;
let page: Page;
const errors: string[] = [];
const offsite: string[] = [];
let notebookHash = '';
let notebooksBefore: Set<string>;

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const listing = (dir: string) => new Set(fs.readdirSync(dir, { recursive: true }).map(String));

async function api(method: string, route: string): Promise<Response> {
  return fetch(`${base}${route}`, { method, headers: { Authorization: `token ${token}` } });
}

/** Processes started with our scratch folder in their command line: the kernels, which run in their own session. */
function strayProcesses(): number[] {
  const mine: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(tmp)) mine.push(Number(pid));
    } catch {
      // gone already
    }
  }
  return mine;
}

function killGroup(signal: NodeJS.Signals): void {
  if (server?.pid === undefined || server.exitCode !== null || server.signalCode !== null) return;
  try {
    process.kill(-server.pid, signal);
  } catch {
    // already gone
  }
}
const killOnExit = () => killGroup('SIGKILL');

/** Stops the server and its kernels: kernels shut down through the API, SIGTERM to the server's group, SIGKILL if it lingers. */
async function stopServer(): Promise<void> {
  if (!server) return;
  try {
    const kernels = (await (await api('GET', '/api/kernels')).json()) as { id: string }[];
    await Promise.all(kernels.map((k) => api('DELETE', `/api/kernels/${k.id}`)));
  } catch {
    // the server may be down already; the signals below still apply
  }
  const exited = new Promise<void>((resolve) => (server!.exitCode !== null || server!.signalCode !== null ? resolve() : server!.once('exit', () => resolve())));
  killGroup('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 15_000)))]);
  clearTimeout(timer);
  if (late) {
    killGroup('SIGKILL');
    await exited;
  }
  // A kernel is in its own session (jupyter_client starts it so), out of the group's reach.
  for (let i = 0; i < 20 && strayProcesses().length; i++) await new Promise((r) => setTimeout(r, 250));
  for (const pid of strayProcesses()) process.kill(pid, 'SIGKILL');
  process.off('exit', killOnExit);
}

/** What the notebook shows: prompts of the code cells and the kernel state, read from the page. */
async function notebookState(p: Page): Promise<{ prompts: string[]; indicator: string | null; statusbar: string[] }> {
  return p.evaluate(() => ({
    prompts: Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt') as ArrayLike<any>).map((e: any) => String(e.textContent).trim()),
    indicator: document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator')?.getAttribute('data-status') ?? null,
    statusbar: Array.from(document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem') as ArrayLike<any>).map((e: any) => String(e.textContent).trim()),
  }));
}

describe('a notebook in JupyterLab', { skip }, () => {
  before(
    async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-browser-lab-'));
      notebookHash = sha256(path.join(notebooksDir, NOTEBOOK));
      notebooksBefore = listing(notebooksDir);
      token = crypto.randomBytes(24).toString('hex');
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      const dir = (name: string) => fs.mkdirSync(path.join(tmp, name), { recursive: true });
      for (const d of ['config', 'data', 'runtime', 'workspaces']) dir(d);
      // User settings: no autosave (the committed notebook must not be written), no news or update checks (no network).
      const settings = path.join(tmp, 'settings');
      fs.mkdirSync(path.join(settings, '@jupyterlab', 'docmanager-extension'), { recursive: true });
      fs.mkdirSync(path.join(settings, '@jupyterlab', 'apputils-extension'), { recursive: true });
      fs.writeFileSync(path.join(settings, '@jupyterlab', 'docmanager-extension', 'plugin.jupyterlab-settings'), JSON.stringify({ autosave: false }));
      fs.writeFileSync(path.join(settings, '@jupyterlab', 'apputils-extension', 'notification.jupyterlab-settings'), JSON.stringify({ fetchNews: 'false', checkForUpdates: false }));

      const args = [
        'lab',
        `--notebook-dir=${notebooksDir}`,
        '--no-browser',
        `--port=${port}`,
        '--ServerApp.port_retries=0',
        '--ServerApp.ip=127.0.0.1',
        `--IdentityProvider.token=${token}`,
        '--LabApp.news_url=None',
        '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
        '--LabApp.extension_manager=readonly',
      ];
      if (process.getuid?.() === 0) args.push('--allow-root'); // CI containers run as root
      server = spawn(path.join(root, '.venv', 'bin', 'jupyter'), args, {
        cwd: root,
        detached: true, // its own process group, so the server and what it forks stop together
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          BNLAB_PROFILE: 'smoke',
          BNLAB_RUNS_DIR: path.join(tmp, 'runs'),
          JUPYTER_CONFIG_DIR: path.join(tmp, 'config'),
          JUPYTER_DATA_DIR: path.join(tmp, 'data'),
          JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime'),
          JUPYTERLAB_SETTINGS_DIR: settings,
          JUPYTERLAB_WORKSPACES_DIR: path.join(tmp, 'workspaces'),
        },
      });
      process.once('exit', killOnExit);
      for (const s of [server.stdout!, server.stderr!]) s.on('data', (b: Buffer) => (serverLog = (serverLog + b.toString()).slice(-20_000)));

      const t0 = Date.now();
      for (;;) {
        assert.equal(server.exitCode, null, `JupyterLab exited (code ${server.exitCode}):\n${serverLog.slice(-3000)}`);
        try {
          if ((await api('GET', '/api/status')).ok) break;
        } catch {
          // not listening yet
        }
        assert.ok(Date.now() - t0 < 60_000, `JupyterLab did not answer on ${base} within 60 s:\n${serverLog.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      // The guard against saving, checked where JupyterLab reads it.
      const docmanager = (await (await api('GET', '/lab/api/settings/@jupyterlab/docmanager-extension:plugin')).json()) as { settings: { autosave?: boolean } };
      assert.equal(docmanager.settings.autosave, false, 'autosave is not off: the committed notebook could be saved with outputs');

      browser = await launchChromium();
      const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      // Only the local server: anything else is recorded and refused.
      await context.route(
        (url) => !['127.0.0.1', ''].includes(url.hostname) && url.protocol !== 'data:' && url.protocol !== 'blob:',
        (route) => {
          offsite.push(route.request().url());
          return route.abort();
        },
      );
      page = await context.newPage();
      collectErrors(page, 'JupyterLab', errors, LAB_NOISE);
    },
    { timeout: 120_000 },
  );

  after(async () => {
    try {
      await browser?.close(); // closing the tab without saving: nothing is written
      await stopServer();
    } finally {
      // What JupyterLab added under notebooks/ (the checkpoint of the opened notebook).
      if (notebooksBefore) {
        const added = [...listing(notebooksDir)].filter((p) => !notebooksBefore.has(p));
        for (const top of new Set(added.map((p) => p.split(path.sep)[0]))) {
          if (LAB_LITTER.includes(top) && !notebooksBefore.has(top)) fs.rmSync(path.join(notebooksDir, top), { recursive: true, force: true });
        }
        for (const p of added.filter((x) => LAB_LITTER.includes(x.split(path.sep)[0]) && notebooksBefore.has(x.split(path.sep)[0]))) fs.rmSync(path.join(notebooksDir, p), { recursive: true, force: true });
      }
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it(`opens ${NOTEBOOK} on the ${KERNEL} kernel, runs all cells from the Run menu, and shows its charts as Vega-Lite with no error`, { timeout: 240_000 }, async () => {
    const t0 = Date.now();
    await page.goto(`${base}/lab/tree/${NOTEBOOK}?token=${token}`);
    await page.locator('.jp-NotebookPanel .jp-Cell').first().waitFor({ timeout: 60_000 });
    // The status bar shows the kernel and its state in one item: "TypeScript (bnlab) | Idle" once the kernel is up.
    // (The toolbar indicator alone says idle before any kernel is attached.)
    await page.locator('#jp-main-statusbar .jp-StatusBar-TextItem', { hasText: `${KERNEL} | Idle` }).waitFor({ timeout: 90_000 });
    assert.equal((await page.locator('.jp-NotebookPanel-toolbar .jp-KernelName').textContent())?.trim(), KERNEL);
    const codeCells = await page.locator('.jp-NotebookPanel .jp-CodeCell').count();
    assert.ok(codeCells >= 5, `${codeCells} code cells`);
    const kernelReady = Date.now() - t0;

    await page.locator('#jp-MainMenu .lm-MenuBar-itemLabel', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-content .lm-Menu-itemLabel', { hasText: /^Run All Cells$/ }).click();
    const t1 = Date.now();

    // Finished: no cell waiting or running ([*]), the kernel idle, twice in a row (the kernel is idle between cells too).
    let state = await notebookState(page);
    for (let calm = 0; calm < 2; ) {
      await page.waitForTimeout(500);
      state = await notebookState(page);
      const done = !state.prompts.some((p) => p.includes('*')) && state.indicator === 'idle' && state.statusbar.includes(`${KERNEL} | Idle`);
      calm = done ? calm + 1 : 0;
      assert.ok(Date.now() - t1 < 180_000, `Run All did not finish in 180 s: prompts ${state.prompts.join(' ')}, kernel ${state.indicator}`);
    }
    const ran = Date.now() - t1;

    // Every code cell ran: a failing cell stops Run All, and the cells after it keep an empty prompt.
    const notRun = state.prompts.map((p, i) => ({ p, i })).filter(({ p }) => !/^\[\d+\]:$/.test(p));
    // No cell shows an error. tslab writes its errors (type errors, exceptions) as stderr text,
    // the pink box; the lib's own stderr lines are "[label] message" (the backend it loaded, progress).
    const stderr = await page.locator('.jp-NotebookPanel .jp-CodeCell').evaluateAll((cells: any[]) =>
      cells.map((c, i) => ({
        cell: `code cell ${i + 1} ${String(c.querySelector('.jp-InputPrompt')?.textContent ?? '').trim()}`,
        texts: Array.from(c.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]') as ArrayLike<any>).map((o: any) => String(o.textContent)),
      })),
    );
    const isLogLine = (line: string) => /^\[[^\]]+\] /.test(line);
    const shownErrors = stderr.flatMap(({ cell, texts }) => texts.filter((t) => !t.split('\n').filter((l) => l.trim()).every(isLogLine)).map((t) => `${cell}:\n${t}`));
    assert.deepEqual(shownErrors, [], `cells show errors:\n${shownErrors.join('\n---\n')}`);
    assert.deepEqual(notRun, [], `code cells that did not run (prompts ${state.prompts.join(' ')})`);

    // The charts: JupyterLab's Vega-Lite renderer (a .vega-embed inside a .jp-RenderedVegaLite output) drew each one,
    // rather than falling back to the SVG that comes in the same output.
    const charts = page.locator('.jp-OutputArea-output.jp-RenderedVegaLite');
    const n = await charts.count();
    assert.ok(n >= 3, `${n} Vega-Lite outputs rendered (RQ3 shows 5 charts)`);
    const drawn = await charts.evaluateAll((outs: any[]) =>
      outs.map((o) => {
        const marks = o.querySelector('.vega-embed canvas.marks, .vega-embed svg.marks');
        if (!marks) return { ok: false, why: 'no .vega-embed with a canvas or svg' };
        const r = marks.getBoundingClientRect();
        let inked = -1;
        if (marks.tagName === 'CANVAS') {
          const px = marks.getContext('2d').getImageData(0, 0, marks.width, marks.height).data;
          inked = 0;
          for (let i = 3; i < px.length; i += 16) if (px[i] > 0 && (px[i - 3] < 200 || px[i - 2] < 200 || px[i - 1] < 200)) inked++;
        } else inked = marks.querySelectorAll('path, line, text').length;
        return { ok: r.width > 200 && r.height > 100 && inked > 200, why: `${marks.tagName} ${Math.round(r.width)}×${Math.round(r.height)}, ${inked} inked samples` };
      }),
    );
    assert.ok(drawn.every((d) => d.ok), `charts not drawn:\n${drawn.map((d) => d.why).join('\n')}`);
    assert.equal(await page.locator('.jp-OutputArea-output.jp-RenderedSVG').count(), 0, 'a chart fell back to the static SVG');
    // The findings show as their markdown.
    assert.ok((await page.locator('.jp-OutputArea-output.jp-RenderedMarkdown', { hasText: 'RQ3' }).count()) >= 1, 'no finding shown');

    await charts.first().scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    await page.screenshot({ path: screenshotPath('jupyterlab.png') });
    process.stderr.write(`[jupyterlab] kernel idle after ${(kernelReady / 1000).toFixed(1)} s; Run All took ${(ran / 1000).toFixed(1)} s; ${codeCells} code cells, ${n} Vega-Lite charts\n`);

    assert.deepEqual(errors, [], `JupyterLab logged errors:\n${errors.join('\n')}`);
    assert.deepEqual(offsite, [], `JupyterLab requested something beyond 127.0.0.1:\n${offsite.join('\n')}`);
  });

  it('leaves the committed notebook as it was, and no process behind', async () => {
    await browser?.close();
    browser = undefined;
    await stopServer();
    assert.equal(sha256(path.join(notebooksDir, NOTEBOOK)), notebookHash, `${NOTEBOOK} was modified`);
    assert.ok(server!.exitCode !== null || server!.signalCode !== null, 'JupyterLab is still running');
    assert.deepEqual(strayProcesses(), [], 'processes of the test still running');
    const added = [...listing(notebooksDir)].filter((p) => !notebooksBefore.has(p) && !LAB_LITTER.includes(p.split(path.sep)[0]));
    assert.deepEqual(added, [], 'files added to notebooks/');
  });
});
