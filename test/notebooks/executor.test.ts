import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '../..');

describe('scripts/execute_notebooks.py', () => {
  it('fails on a cell error, naming the notebook, the cell and the error, and still writes the executed copy', () => {
    const name = `zz-broken-${process.pid}`;
    const file = path.join(root, 'notebooks', `${name}.ipynb`);
    const code = (source: string) => ({ cell_type: 'code', execution_count: null, id: Math.random().toString(36).slice(2, 10), metadata: {}, outputs: [], source });
    const nb = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'bnlab-tslab', display_name: 'TypeScript (bnlab)', language: 'typescript' } },
      cells: [code("import * as bn from 'bnlab';"), code("throw new Error('deliberately broken');"), code("console.log('never runs');")],
    };
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-exec-'));
    try {
      fs.writeFileSync(file, JSON.stringify(nb));
      const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', 'smoke', '--out', out, file], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`error in ${name}\\.ipynb, cell 1: Error: deliberately broken`));
      const executed = JSON.parse(fs.readFileSync(path.join(out, `${name}.ipynb`), 'utf8'));
      assert.match(executed.metadata.bnlab.error, /cell 1: Error: deliberately broken/);
      assert.deepEqual(executed.cells[2].outputs, []);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('rejects an unknown notebook by name', () => {
    const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'scripts', 'execute_notebooks.py'), 'no-such-notebook'], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no notebook no-such-notebook/);
  });
});
