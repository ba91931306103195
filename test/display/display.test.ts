/**
 * show() and liveProgress() against a stand-in for tslab's jupyter module
 * (what the kernel process has in its module cache), and outside any
 * kernel. The real kernel is in kernel-display.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { lineChart } from '../../lib/src/charts';
import { chartBundle, inKernel, liveProgress, show, statusLines, SVG_MIME, VEGALITE_MIME } from '../../lib/src/display';
import { PROGRESS_MIME, type ProgressRecord } from '../../lib/src/display/mime';
import type { EpochRecord, StepRecord, TrainResult } from '../../lib/src/train/loop';

interface Sent {
  data: Record<string, unknown>;
  transient: { display_id?: string };
  update: boolean;
}

const fakeFile = path.join(path.sep, 'fake', 'node_modules', 'tslab', 'dist', 'jupyter.js');

/** Puts a tslab jupyter module into the module cache whose writer records what it is sent. */
function fakeKernel(): Sent[] {
  const sent: Sent[] = [];
  const mod = new Module(fakeFile);
  mod.filename = fakeFile;
  mod.loaded = true;
  mod.exports = { lastWriteDisplayData: (content: Omit<Sent, 'update'>, update: boolean) => sent.push({ ...content, update }) };
  require.cache[fakeFile] = mod;
  return sent;
}

afterEach(() => {
  delete require.cache[fakeFile];
});

/** Captures what goes to stderr while `f` runs. */
async function stderrOf(f: () => unknown): Promise<string> {
  const write = process.stderr.write;
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stderr.write;
  try {
    await f();
  } finally {
    process.stderr.write = write;
  }
  return text;
}

const spec = lineChart([1, 2, 3].map((step) => ({ step, loss: 1 / step })), { x: 'step', y: 'loss', title: 'Loss' });
const step = (s: number, loss = 1 / s): StepRecord => ({ step: s, epoch: 1, learningRate: 0.1, loss, accuracy: 0.5 });
const epoch: EpochRecord = { epoch: 1, step: 100, learningRate: 0.1, trainLoss: 0.5, trainAccuracy: 0.8, testLoss: 0.6, testAccuracy: 0.75, seconds: 3 };

describe('show', () => {
  it('sends ONE display_data whose bundle holds the Vega-Lite spec, the SVG and a text stand-in', async () => {
    const sent = fakeKernel();
    assert.ok(inKernel());
    await show(spec);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].update, false);
    assert.deepEqual(Object.keys(sent[0].data).sort(), [VEGALITE_MIME, SVG_MIME, 'text/plain'].sort());
    assert.equal(sent[0].data[VEGALITE_MIME], spec, 'the spec goes as an object');
    assert.match(String(sent[0].data[SVG_MIME]), /^<svg[^]*>Loss<[^]*<\/svg>$/);
    assert.equal(sent[0].data['text/plain'], '<Vega-Lite chart: Loss>');
  });

  it('outside a kernel shows nothing, says so once, and does not throw', async () => {
    assert.ok(!inKernel());
    const first = await stderrOf(() => show(spec));
    const second = await stderrOf(() => show(spec));
    assert.match(first, /not in a Jupyter kernel/);
    assert.equal(second, '');
  });

  it('a forgotten await prints as advice, not as "Promise { <pending> }"', async () => {
    const p = show(spec);
    assert.match(inspect(p), /await bn\.show/);
    await stderrOf(() => p);
  });

  it('chartBundle renders the SVG with the chart font', async () => {
    const b = await chartBundle(spec);
    assert.match(String(b[SVG_MIME]), /font-family="DejaVu Sans/);
  });
});

describe('a tslab without the bundle writer', () => {
  it('falls back to its public display: one output per MIME type, no text stand-in', async () => {
    // A tslab package on disk whose jupyter module lacks lastWriteDisplayData.
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-tslab-')), 'node_modules', 'tslab');
    fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'tslab', main: 'dist/public.js' }));
    fs.writeFileSync(path.join(root, 'dist', 'jupyter.js'), 'exports.writeDisplayDataSomehowElse = () => {};');
    fs.writeFileSync(
      path.join(root, 'dist', 'public.js'),
      `const sent = (globalThis.__fakeTslabSent = []);
       const make = (id) => ({ raw: (mime, value) => sent.push({ id, mime, value }) });
       let n = 0;
       exports.display = make(null);
       exports.newDisplay = () => make(++n);`,
    );
    const jupyterFile = path.join(root, 'dist', 'jupyter.js');
    require(jupyterFile);
    try {
      await show(spec);
      const sent = (globalThis as unknown as { __fakeTslabSent: { id: number | null; mime: string; value: unknown }[] }).__fakeTslabSent;
      assert.deepEqual(sent.map((m) => m.mime), [VEGALITE_MIME, SVG_MIME]);
      assert.equal(sent[0].value, spec);
      const p = liveProgress('fallback', { everySeconds: 0 });
      p.onStep(step(1), 2);
      // The record goes as an output of its own too (the report merges it back, report/exporter/notebook).
      assert.deepEqual(sent.slice(2).map((m) => m.mime), [PROGRESS_MIME, 'text/html', PROGRESS_MIME, 'text/html']);
      const progress = sent.slice(2).filter((m) => m.mime === 'text/html');
      assert.equal(progress[0].id, progress[1].id, 'updates go to the same display');
      assert.notEqual(progress[0].id, null);
    } finally {
      delete require.cache[jupyterFile];
      delete require.cache[path.join(root, 'dist', 'public.js')];
    }
  });
});

describe('liveProgress', () => {
  it('one display, updated in place at most every everySeconds; epochs, the last step and a non-finite loss at once', async () => {
    const sent = fakeKernel();
    const p = liveProgress('run A', { everySeconds: 0.05 });
    assert.equal(sent.length, 1, 'the output appears when the progress is created');
    const t0 = Date.now();
    for (let s = 1; s <= 200; s++) {
      p.onStep(step(s), 200);
      if (s % 20 === 0) await new Promise((r) => setTimeout(r, 12));
    }
    const seconds = (Date.now() - t0) / 1000;
    p.onEpoch(epoch, 1);
    p.onStep(step(201, NaN), 300);
    p.finish('diverged at step 201');

    const ids = new Set(sent.map((m) => m.transient.display_id));
    assert.equal(ids.size, 1, 'all messages address one display');
    assert.ok([...ids][0]);
    assert.deepEqual(sent.map((m) => m.update), [false, ...sent.slice(1).map(() => true)]);
    const stepUpdates = sent.length - 1 - 3; // minus the epoch, NaN step and finish renders
    assert.ok(stepUpdates >= 2 && stepUpdates <= Math.ceil(seconds / 0.05) + 2, `${stepUpdates} updates in ${seconds.toFixed(2)} s`);
    const last = sent[sent.length - 1].data;
    assert.match(String(last['text/plain']), /step 201\/300 .*loss NaN/);
    assert.match(String(last['text/plain']), /epoch 1\/1: train loss 0\.5000 acc 80\.0%\s+test loss 0\.6000 acc 75\.0%/);
    assert.match(String(last['text/html']), /diverged at step 201/);
    assert.ok(sent.some((m) => /step 200\/200/.test(String(m.data['text/plain']))), 'the last step of a run is always shown');
  });

  it('flushes the latest throttled step shortly after', async () => {
    const sent = fakeKernel();
    const p = liveProgress('run B', { everySeconds: 0.05 });
    p.onStep(step(1), 10);
    p.onStep(step(2), 10); // within the interval: not yet shown
    assert.ok(!sent.some((m) => /step 2\/10/.test(String(m.data['text/plain']))));
    await new Promise((r) => setTimeout(r, 120));
    assert.match(String(sent[sent.length - 1].data['text/plain']), /step 2\/10/);
  });

  it('outside a kernel: lines on stderr (consoleProgress), nothing thrown', async () => {
    const text = await stderrOf(() => {
      const p = liveProgress('plain');
      p.onStep(step(10), 10);
      p.onEpoch(epoch, 1);
      p.finish('done');
    });
    assert.match(text, /\[plain\] step 10\/10/);
    assert.match(text, /\[plain\] epoch 1\/1/);
  });

  it('carries a ProgressRecord: running until onEnd, then completed or diverged with the reason', () => {
    const sent = fakeKernel();
    const record = () => sent[sent.length - 1].data[PROGRESS_MIME] as ProgressRecord;
    const end = (r: Partial<TrainResult>) => ({ status: 'completed', divergence: null, seconds: 1, ...r }) as TrainResult;
    const a = liveProgress('run C', { everySeconds: 0 });
    assert.deepEqual({ ...record(), seconds: 0 }, { label: 'run C', state: 'running', step: 0, totalSteps: null, epoch: null, totalEpochs: null, seconds: 0, loss: null, testAccuracy: null, note: null });
    a.onStep(step(100), 100);
    a.onEpoch(epoch, 1);
    assert.equal(record().state, 'running');
    a.onEnd(end({}));
    assert.deepEqual({ ...record(), seconds: 0 }, { label: 'run C', state: 'completed', step: 100, totalSteps: 100, epoch: 1, totalEpochs: 1, seconds: 0, loss: 0.01, testAccuracy: 0.75, note: null });
    assert.ok(record().seconds >= 0 && record().seconds < 5);
    // A finite loss above divergenceLoss: only onEnd can tell.
    const b = liveProgress('run D', { everySeconds: 0 });
    b.onStep(step(7, 5e3), 100);
    assert.equal(record().state, 'running');
    b.onEnd(end({ status: 'diverged', divergence: { step: 7, loss: 5e3, reason: 'mini-batch loss 5.00e+3 > 1000' } }));
    assert.equal(record().state, 'diverged');
    assert.equal(record().note, 'diverged at step 7: mini-batch loss 5.00e+3 > 1000');
    assert.match(String(sent[sent.length - 1].data['text/html']), /color: #c00[^]*diverged at step 7/);
    // JSON has no NaN: a non-finite loss is null; finished by hand, a NaN run counts as diverged.
    const c = liveProgress('run E', { everySeconds: 0 });
    c.onStep(step(3, NaN), 100);
    c.finish();
    assert.equal(record().loss, null);
    assert.equal(record().state, 'diverged');
    const d = liveProgress('run F', { everySeconds: 0 });
    d.onStep(step(3), 100);
    d.finish('interrupted');
    assert.deepEqual([record().state, record().note], ['stopped', 'interrupted']);
    assert.doesNotThrow(() => JSON.stringify(sent.map((m) => m.data)));
  });

  it('statusLines: step, epoch, time left', () => {
    const lines = statusLines({ label: 'x', step: step(50), totalSteps: 100, totalEpochs: 2, elapsed: 10 });
    assert.match(lines[0], /^step 50\/100 {2}epoch 1\/2 {2}loss 0\.02000 {2}lr 0\.1 {2}10s elapsed, 10s left$/);
  });
});
