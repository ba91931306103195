/**
 * `npm run fork`, as a researcher uses it: fork RQ4, change one learning
 * rate, execute the fork through the real kernel. It trains only the runs
 * whose config changed, reports its findings under its own name, and gets
 * its own page in the report.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { exportReport } from '../../report/export';

const root = path.resolve(__dirname, '../..');
const python = path.join(root, '.venv', 'bin', 'python');

function countRecords(dir: string): number {
  const train = path.join(dir, 'train');
  return fs.existsSync(train) ? fs.readdirSync(train).filter((f) => f.endsWith('.json') && !f.endsWith('.failed.json')).length : 0;
}

describe('npm run fork', () => {
  it('forks a notebook that trains only what changed and appears in the report as its own page', async () => {
    const name = `zz-fork-test-${process.pid}`;
    const forked = path.join(root, 'notebooks', `${name}.ipynb`);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-fork-'));
    const runs = path.join(work, 'runs');
    const out = path.join(work, 'executed');
    const env = { ...process.env, BNLAB_RUNS_DIR: runs };
    const execute = (nb: string) => {
      const r = spawnSync(python, [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', 'smoke', '--out', out, nb], { encoding: 'utf8', env });
      assert.equal(r.status, 0, r.stderr.slice(-3000));
    };
    try {
      const fork = spawnSync(python, [path.join(root, 'scripts', 'fork_notebook.py'), 'rq4-final-layer-bn', name], { encoding: 'utf8' });
      assert.equal(fork.status, 0, fork.stderr);
      const again = spawnSync(python, [path.join(root, 'scripts', 'fork_notebook.py'), 'rq4-final-layer-bn', name], { encoding: 'utf8' });
      assert.notEqual(again.status, 0, 'forking onto an existing notebook must fail');
      assert.match(again.stderr, /exists already/);

      // The hypothesis: one more learning rate, 0.002, beside the grid's.
      const nb = JSON.parse(fs.readFileSync(forked, 'utf8'));
      assert.equal(nb.metadata.bnlab_fork.from, 'rq4-final-layer-bn');
      const line = "const learningRates = bn.gridValues(rq1Grid, 'learningRate', { norm: 'batch' }) as number[];";
      const params = nb.cells.find((c: { source: string[] }) => c.source.join('').includes(line));
      assert.ok(params, 'the parameters cell of RQ4 changed; update this test');
      params.source = params.source.map((l: string) => l.replace(line, "const learningRates = [...(bn.gridValues(rq1Grid, 'learningRate', { norm: 'batch' }) as number[]), 0.002];"));
      fs.writeFileSync(forked, JSON.stringify(nb, null, 1));

      execute(path.join(root, 'notebooks', 'rq4-final-layer-bn.ipynb'));
      const before = countRecords(runs);
      execute(forked);
      // Three norms at the one new rate; every other run comes from the store.
      assert.equal(countRecords(runs) - before, 3);

      const report = path.join(work, 'site');
      const r = await exportReport({ inDir: out, outDir: report, log: () => {} });
      assert.ok(fs.existsSync(path.join(report, `${name}.html`)), 'the fork has no page');
      const findings = JSON.parse(fs.readFileSync(path.join(report, 'findings.json'), 'utf8')) as { notebook: string }[];
      assert.ok(findings.some((f) => f.notebook === name), `no finding names the fork: ${findings.map((f) => f.notebook)}`);
      assert.ok(findings.some((f) => f.notebook === 'rq4-final-layer-bn'));
      assert.match(fs.readFileSync(path.join(report, 'index.html'), 'utf8'), new RegExp(`href="${name}\\.html`));
      assert.deepEqual([...r.pages].sort(), ['index.html', `${name}.html`, 'rq4-final-layer-bn.html'].sort());
    } finally {
      fs.rmSync(forked, { force: true });
    }
  });
});
