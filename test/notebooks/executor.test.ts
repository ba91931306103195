import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '../..');

/** A notebook for the project's kernel with one unexecuted code cell per source. */
function unexecutedNotebook(sources: string[]) {
  const code = (source: string) => ({
    cell_type: 'code',
    execution_count: null,
    id: Math.random().toString(36).slice(2, 10),
    metadata: {},
    outputs: [],
    source,
  });
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'bnlab-tslab', display_name: 'TypeScript (bnlab)', language: 'typescript' } },
    cells: sources.map(code),
  };
}

describe('scripts/execute_notebooks.py', () => {
  it('fails on a cell error, naming the notebook, the cell and the error, and still writes the executed copy', () => {
    const name = `zz-broken-${process.pid}`;
    const file = path.join(root, 'notebooks', `${name}.ipynb`);
    const nb = unexecutedNotebook(["import * as bn from 'bnlab';", "throw new Error('deliberately broken');", "console.log('never runs');"]);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-exec-'));
    try {
      fs.writeFileSync(file, JSON.stringify(nb));
      const r = spawnSync(
        path.join(root, '.venv', 'bin', 'python'),
        [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', 'smoke', '--out', out, file],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`error in ${name}\\.ipynb, cell 1: Error: deliberately broken`));
      const executed = JSON.parse(fs.readFileSync(path.join(out, `${name}.ipynb`), 'utf8'));
      assert.match(executed.metadata.bnlab.error, /cell 1: Error: deliberately broken/);
      assert.deepEqual(executed.cells[2].outputs, []);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it("starts a new kernel when one never answers at start-up (tslab's ZeroMQ race), and reports a kernel that never starts", () => {
    // A kernelspec named as the project's, found first through JUPYTER_PATH:
    // its first kernel sleeps without answering, the next ones are the real kernel.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-flaky-kernel-'));
    const name = `zz-flaky-${process.pid}`;
    const file = path.join(root, 'notebooks', `${name}.ipynb`);
    const real = JSON.parse(fs.readFileSync(path.join(root, '.venv', 'share', 'jupyter', 'kernels', 'bnlab-tslab', 'kernel.json'), 'utf8'));
    const spec = path.join(dir, 'kernels', 'bnlab-tslab');
    fs.mkdirSync(spec, { recursive: true });
    const starts = path.join(dir, 'starts');
    const wrapper = path.join(dir, 'kernel.sh');
    const run = (silentStarts: number) => {
      fs.writeFileSync(
        wrapper,
        `#!/bin/bash\necho start >> ${starts}\nif [ $(wc -l < ${starts}) -le ${silentStarts} ]; then exec sleep 20; fi\nexec ${real.argv.slice(0, -1).join(' ')} "$1"\n`,
      );
      fs.writeFileSync(path.join(spec, 'kernel.json'), JSON.stringify({ ...real, argv: ['bash', wrapper, '{connection_file}'] }));
      fs.rmSync(starts, { force: true });
      const out = path.join(dir, 'out');
      return spawnSync(
        path.join(root, '.venv', 'bin', 'python'),
        [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', 'smoke', '--startup-timeout', '5', '--out', out, file],
        { encoding: 'utf8', env: { ...process.env, JUPYTER_PATH: dir } },
      );
    };
    const nb = unexecutedNotebook(['console.log(6 * 7);']);
    try {
      fs.writeFileSync(file, JSON.stringify(nb));
      const once = run(1);
      assert.equal(once.status, 0, once.stderr);
      assert.match(once.stderr, /the kernel did not start .*trying a new one/);
      assert.equal(fs.readFileSync(starts, 'utf8').trim().split('\n').length, 2);
      const never = run(99);
      assert.equal(never.status, 1);
      assert.equal(fs.readFileSync(starts, 'utf8').trim().split('\n').length, 3, 'three tries, then it gives up');
      assert.match(never.stderr, new RegExp(`error in ${name}\\.ipynb, cell \\?: RuntimeError: Kernel didn't respond`));
    } finally {
      fs.rmSync(file, { force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an unknown notebook by name', () => {
    const r = spawnSync(
      path.join(root, '.venv', 'bin', 'python'),
      [path.join(root, 'scripts', 'execute_notebooks.py'), 'no-such-notebook'],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no notebook no-such-notebook/);
  });
});
