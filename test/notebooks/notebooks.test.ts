/**
 * Every research-question notebook, executed headless through the real tslab
 * kernel under the `smoke` profile, as the report will execute them under
 * `quick`: each must run without a cell error, show its charts (Vega-Lite and
 * SVG in one output) and emit its findings.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '../..');
const notebooksDir = path.join(root, 'notebooks');
const python = path.join(root, '.venv', 'bin', 'python');
const notebooks = fs.readdirSync(notebooksDir).filter((f) => f.endsWith('.ipynb')).sort();

interface Output { output_type: string; data?: Record<string, unknown> }
interface Cell { cell_type: string; outputs?: Output[]; execution_count?: number | null; source: string | string[] }
interface Notebook { cells: Cell[]; metadata: { bnlab?: { error: string | null; profile: string; seconds: number } } }

const read = (file: string): Notebook => JSON.parse(fs.readFileSync(file, 'utf8'));

describe('the research-question notebooks', () => {
  it('are committed without outputs, so diffs stay readable', () => {
    assert.ok(notebooks.length >= 6, `expected the six RQ notebooks, found ${notebooks.join(', ')}`);
    for (const f of notebooks) {
      for (const c of read(path.join(notebooksDir, f)).cells) {
        if (c.cell_type !== 'code') continue;
        assert.deepEqual(c.outputs, [], `${f} carries outputs`);
        assert.equal(c.execution_count, null, `${f} carries execution counts`);
      }
    }
  });

  it('run under the smoke profile through the real kernel, each with charts and findings; a re-run trains nothing', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-nb-'));
    const env = { ...process.env, BNLAB_RUNS_DIR: path.join(out, 'runs') };
    const execute = () => {
      const r = spawnSync(python, [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', 'smoke', '--out', out], { encoding: 'utf8', env, timeout: 1_200_000 });
      assert.equal(r.status, 0, `executor failed:\n${r.stderr.slice(-4000)}`);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as { notebooks: { notebook: string; seconds: number }[] };
    };
    const first = execute();
    for (const f of notebooks) {
      const nb = read(path.join(out, f));
      const name = f.replace(/\.ipynb$/, '');
      assert.equal(nb.metadata.bnlab?.error, null, `${f}: ${nb.metadata.bnlab?.error}`);
      assert.equal(nb.metadata.bnlab?.profile, 'smoke');
      const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
      assert.equal(outputs.filter((o) => o.output_type === 'error').length, 0, `${f} has an error output`);
      const charts = outputs.filter((o) => o.data?.['application/vnd.vegalite.v5+json']);
      assert.ok(charts.length >= 2, `${f}: ${charts.length} charts`);
      for (const c of charts) assert.match(String(c.data!['image/svg+xml']), /^<svg/, `${f}: a chart without its SVG`);
      const findings = outputs.map((o) => o.data?.['application/vnd.bnlab.finding+json'] as Record<string, unknown> | undefined).filter(Boolean);
      assert.ok(findings.length >= 1, `${f}: no finding`);
      for (const x of findings) {
        assert.equal(x!.notebook, name, `${f}: finding names notebook ${x!.notebook}`);
        assert.match(String(x!.rq), /^RQ[1-6]$/);
        assert.ok(['reproduced', 'not reproduced', 'inconclusive'].includes(String(x!.verdict)));
        assert.equal(typeof x!.value, 'number');
      }
    }
    // Every run and measurement is in the store now: executing again reuses them.
    const storeBefore = fs.readdirSync(path.join(out, 'runs'), { recursive: true }).length;
    execute();
    assert.equal(fs.readdirSync(path.join(out, 'runs'), { recursive: true }).length, storeBefore, 'the re-run added records: something was recomputed');
    assert.ok(first.notebooks.length === notebooks.length);
  });
});
