/**
 * Training progress in the report: each run's progress output (what
 * lib/src/display/progress emits, made here by its own statusBundle) is
 * folded with the rest of its cell's into one <details>, whose summary is
 * counted from the outputs' ProgressRecords: runs, diverged, unfinished,
 * total time.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DomUtils, parseDocument } from 'htmlparser2';
import { statusBundle } from '../../lib/src/display/progress';
import { PROGRESS_MIME } from '../../lib/src/display/mime';
import type { EpochRecord, StepRecord } from '../../lib/src/train/loop';
import { exportReport } from '../../report/export';
import { progressSummary } from '../../report/exporter/render';

type Doc = ReturnType<typeof parseDocument>;
type El = Parameters<typeof DomUtils.getAttributeValue>[0];
const all = (doc: Doc | El, pred: (e: El) => boolean): El[] => DomUtils.findAll(pred, doc.children);
const byTag = (doc: Doc | El, tag: string) => all(doc, (e) => e.name === tag);
const byClass = (doc: Doc | El, cls: string) => all(doc, (e) => (e.attribs.class ?? '').split(/\s+/).includes(cls));
const text = (e: Doc | El | El[]) => DomUtils.textContent(e as El).replace(/\s+/g, ' ').trim();

const step = (s: number, loss = 1 / s): StepRecord => ({ step: s, epoch: 1, learningRate: 0.1, loss, accuracy: 0.5 });
const epoch = (e: number, testAccuracy: number): EpochRecord => ({ epoch: e, step: 100 * e, learningRate: 0.1, trainLoss: 0.5, trainAccuracy: 0.8, testLoss: 0.6, testAccuracy, seconds: 3 });
const display = (data: Record<string, unknown>) => ({ output_type: 'display_data', data, metadata: {} });
const stream = (t: string) => ({ output_type: 'stream', name: 'stdout', text: t });
const code = (n: number, source: string, outputs: unknown[]) => ({ cell_type: 'code', execution_count: n, metadata: {}, source, outputs });

// The last state of each run, as nbclient leaves it after the in-place updates.
const completedA = statusBundle({ label: 'ResNet-8, BN, lr 0.1', step: step(200), totalSteps: 200, epoch: epoch(2, 0.8125), totalEpochs: 2, elapsed: 60, state: 'completed' });
const completedB = statusBundle({ label: 'ResNet-8, BN, lr 0.01', step: step(200), totalSteps: 200, epoch: epoch(2, 0.75), totalEpochs: 2, elapsed: 30, state: 'completed' });
const diverged = statusBundle({ label: 'ResNet-8, none, lr 0.1', step: step(37, NaN), totalSteps: 200, totalEpochs: 2, elapsed: 5.5, state: 'diverged', note: 'diverged at step 37: mini-batch loss is NaN' });
const running = statusBundle({ label: 'ResNet-8, none, lr <b>0.01</b>', step: step(50), totalSteps: 200, totalEpochs: 2, elapsed: 4.5 });
const single = statusBundle({ label: 'one run', step: step(100), totalSteps: 100, epoch: epoch(1, 0.5), totalEpochs: 1, elapsed: 12.3, state: 'completed' });
// The fallback kernel path: the record and the HTML as separate outputs (text/plain is not sent).
const split = statusBundle({ label: 'split run', step: step(10), totalSteps: 10, elapsed: 2, state: 'completed' });

let dir: string;
let doc: Doc;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-report-progress-'));
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      code(1, 'for (const run of grid.runs) await bn.trainRun(run.spec, runOpts);', [
        display(completedA),
        display(completedB),
        stream('cached: 0\n'),
        display(diverged),
        display(running),
        stream('4 runs, 0 of them served from the store\n'),
      ]),
      code(2, 'await bn.trainRun(spec, runOpts);', [stream('before\n'), display(single), stream('after\n')]),
      code(3, 'await bn.trainRun(spec, runOpts); // fallback kernel', [display({ [PROGRESS_MIME]: split[PROGRESS_MIME] }), display({ 'text/html': split['text/html'] })]),
      code(4, 'bad()', [display({ [PROGRESS_MIME]: { label: '<script>alert(1)</script>', state: 'pwned', seconds: 1 }, 'text/html': '<b>not folded</b><script>alert(2)</script>', 'text/plain': 'x' })]),
    ],
  };
  fs.mkdirSync(path.join(dir, 'in'));
  fs.writeFileSync(path.join(dir, 'in', 'progress.ipynb'), JSON.stringify(nb));
  await exportReport({ inDir: path.join(dir, 'in'), outDir: path.join(dir, 'out'), log: () => {} });
  doc = parseDocument(fs.readFileSync(path.join(dir, 'out', 'progress.html'), 'utf8'), { decodeEntities: true });
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

const cell = (n: number) => all(doc, (e) => e.attribs.id === `cell-${n}`)[0];
/** The outputs of a cell, by element name and class, in order. */
const outputs = (c: El) => (byClass(c, 'outputs')[0].children as El[]).filter((e) => e.type === 'tag').map((e) => `${e.name}.${e.attribs.class}`);

describe('progress in the report', () => {
  it('folds a cell\'s progress outputs into one <details>, where the first was, with a summary counted from them', () => {
    const c = cell(1);
    assert.deepEqual(outputs(c), ['details.output progress', 'pre.output stream stdout']);
    const details = byClass(c, 'progress');
    assert.equal(details.length, 1);
    assert.equal(details[0].attribs.open, undefined, 'folded');
    assert.equal(text(byTag(details[0], 'summary')), '4 runs, 1 diverged, 1 unfinished, 1 min 40 s');
    const rows = byTag(byTag(details[0], 'tbody')[0], 'tr');
    assert.deepEqual(rows.map((r) => r.attribs.class), ['completed', 'completed', 'diverged', 'running']);
    assert.deepEqual(byTag(rows[0], 'td').map(text), ['ResNet-8, BN, lr 0.1', '200/200', '2/2', '81.3%', '1 min 00 s', 'completed']);
    assert.deepEqual(byTag(rows[2], 'td').map(text), ['ResNet-8, none, lr 0.1', '37/200', '—', '—', '5.5 s', 'diverged at step 37: mini-batch loss is NaN']);
    // The label is text: no <b> from it.
    assert.equal(byTag(rows[3], 'td').map(text)[0], 'ResNet-8, none, lr <b>0.01</b>');
    assert.equal(byTag(c, 'b').length, 0);
    // No progress bar (the outputs' HTML) is left on the page; the streams stay, merged as before.
    assert.equal(byClass(c, 'html').length, 0);
    assert.doesNotMatch(text(c), /█|░/);
    assert.equal(text(byClass(c, 'stdout')), 'cached: 0 4 runs, 0 of them served from the store');
  });

  it('folds a single run too, in its place between other outputs, and puts a split record back with its HTML', () => {
    assert.deepEqual(outputs(cell(2)), ['pre.output stream stdout', 'details.output progress', 'pre.output stream stdout']);
    assert.deepEqual(byClass(cell(2), 'stdout').map(text), ['before', 'after']);
    assert.equal(text(byTag(byClass(cell(2), 'progress')[0], 'summary')), '1 run, 0 diverged, 12.3 s');
    assert.deepEqual(outputs(cell(3)), ['details.output progress']);
    assert.equal(text(byTag(byClass(cell(3), 'progress')[0], 'summary')), '1 run, 0 diverged, 2.0 s');
  });

  it('shows an output with a malformed record as its sanitised HTML, not folded', () => {
    const c = cell(4);
    assert.deepEqual(outputs(c), ['div.output html']);
    assert.equal(text(byTag(c, 'b')), 'not folded');
    assert.equal(byTag(c, 'script').length, 0);
  });

  it('counts what the records say', () => {
    const r = (state: 'running' | 'completed' | 'diverged' | 'stopped', seconds: number) => ({ label: 'x', state, step: 1, totalSteps: 1, epoch: null, totalEpochs: null, seconds, loss: null, testAccuracy: null, note: null });
    assert.equal(progressSummary([r('completed', 200), r('diverged', 50), r('diverged', 24)]), '3 runs, 2 diverged, 4 min 34 s');
    assert.equal(progressSummary([r('stopped', 1), r('running', 2)]), '2 runs, 0 diverged, 2 unfinished, 3.0 s');
  });
});
