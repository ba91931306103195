/**
 * Charts and progress as a notebook gets them: through the real tslab
 * kernel (the project's kernelspec, Jupyter's own client in .venv).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';

const root = path.resolve(__dirname, '../..');
const python = path.join(root, '.venv', 'bin', 'python');

interface Output { type?: string; data?: Record<string, unknown>; stream?: string; text?: string; error?: string }
interface Result { status?: string; outputs?: Output[] }

function session(cells: string[]): Result[] {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-display-')), 'steps.json');
  fs.writeFileSync(file, JSON.stringify(cells.map((code) => ({ code }))));
  const r = spawnSync(python, [path.join(__dirname, '../helpers/kernel_session.py'), file, path.join(root, 'notebooks')], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const describeOutputs = (r: Result) => JSON.stringify((r.outputs ?? []).map((o) => ({ ...o, data: o.data && Object.keys(o.data) })));

describe('charts and progress in a tslab kernel', () => {
  before(() => {
    // The kernel imports lib/dist: compile what is in lib/src now (incremental, quick when unchanged).
    spawnSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', path.join(root, 'lib')], { stdio: 'inherit' });
  });

  it('show() yields one output with Vega-Lite and SVG; liveProgress updates one output in place', () => {
    const [imported, shown, progress, unawaited] = session([
      "import * as bn from 'bnlab';",
      [
        "const rows = [1, 2, 3, 4].flatMap((step) => ['batch', 'none'].map((norm) => ({ step, norm, loss: 1 / step + (norm === 'none' ? 0.5 : 0) })));",
        "await bn.show(bn.lineChart(rows, { x: 'step', y: 'loss', color: 'norm', title: 'Loss in the kernel', references: [{ label: 'paper: 0.4', y: 0.4 }] }));",
      ].join('\n'),
      [
        "const p = bn.liveProgress('fake run');",
        'for (let s = 1; s <= 300; s++) {',
        "  p.onStep({ step: s, epoch: 1, learningRate: 0.1, loss: 1 / s, accuracy: 0.5 }, 300);",
        '  await new Promise((r) => setTimeout(r, 4));',
        '}',
        'p.onEpoch({ epoch: 1, step: 300, learningRate: 0.1, trainLoss: 0.5, trainAccuracy: 0.8, testLoss: 0.6, testAccuracy: 0.75, seconds: 1.5 }, 1);',
      ].join('\n'),
      "bn.show(bn.lineChart([{ a: 1, b: 1 }, { a: 2, b: 2 }], { x: 'a', y: 'b' }))",
    ]);
    assert.equal(imported.status, 'ok', describeOutputs(imported));

    assert.equal(shown.status, 'ok', describeOutputs(shown));
    const displays = shown.outputs!.filter((o) => o.type === 'display_data');
    assert.equal(displays.length, 1, describeOutputs(shown));
    assert.equal(shown.outputs!.length, 1, `nothing else in the cell: ${describeOutputs(shown)}`);
    const data = displays[0].data!;
    const vl = data['application/vnd.vegalite.v5+json'] as { $schema?: string; data?: { values?: unknown[] } };
    assert.equal(typeof vl, 'object', 'the Vega-Lite spec arrives as JSON, not a string');
    assert.match(String(vl.$schema), /vega-lite\/v5/);
    assert.equal(vl.data!.values!.length, 8 + 1, 'the rows and the reference');
    const svg = String(data['image/svg+xml']);
    assert.match(svg, /^<svg[^]*<\/svg>$/);
    assert.match(svg, />Loss in the kernel</);
    assert.match(svg, />paper: 0\.4</);
    assert.equal(data['text/plain'], '<Vega-Lite chart: Loss in the kernel>');

    assert.equal(progress.status, 'ok', describeOutputs(progress));
    const kinds = progress.outputs!.map((o) => o.type ?? `stream:${o.stream}`);
    assert.equal(kinds.filter((k) => k === 'display_data').length, 1, describeOutputs(progress));
    assert.ok(kinds.every((k) => k === 'display_data' || k === 'update_display_data'), `no stream lines: ${kinds.join(' ')}`);
    const updates = kinds.filter((k) => k === 'update_display_data').length;
    // 300 steps over ≥ 1.2 s at one render per 0.5 s, plus the last step and the epoch.
    assert.ok(updates >= 3 && updates <= 12, `${updates} updates`);
    const last = progress.outputs![progress.outputs!.length - 1].data!;
    assert.match(String(last['text/plain']), /fake run[^]*step 300\/300[^]*epoch 1\/1: train loss 0\.5000/);
    assert.match(String(last['text/html']), /^<div/);
    // The record the report reads (lib/src/display/mime), as JSON; the fake run never reports its end.
    const rec = last['application/vnd.bnlab.progress+json'] as { label?: string; state?: string; step?: number; totalSteps?: number; epoch?: number };
    assert.equal(typeof rec, 'object', 'the progress record arrives as JSON');
    assert.deepEqual([rec.label, rec.state, rec.step, rec.totalSteps, rec.epoch], ['fake run', 'running', 300, 300, 1]);

    assert.equal(unawaited.status, 'ok', describeOutputs(unawaited));
    assert.match(unawaited.outputs!.map((o) => o.text ?? '').join(''), /use `await bn\.show\(spec\)`/);
  });
});
