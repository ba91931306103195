import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FIRST_REPORT_SECONDS, gridsOf, reportLanes, scheduleOrder } from '../../scripts/report-schedule';
import { tempDir } from '../data/helpers';

const notebooks = fs
  .readdirSync(path.resolve(__dirname, '..', '..', 'notebooks'))
  .filter((f) => f.endsWith('.ipynb'))
  .map((f) => f.replace(/\.ipynb$/, ''));

describe('how the report schedules its notebooks', () => {
  it('runs one notebook per core where the profile fixes one thread, else one at a time', () => {
    assert.equal(reportLanes('quick', 2), 2);
    assert.equal(reportLanes('smoke', 8), 8);
    assert.equal(reportLanes('quick', 1), 1);
    assert.equal(reportLanes('paper', 8), 1);
    assert.equal(reportLanes('long', 8), 1);
    assert.equal(reportLanes('paper', 8, 3), 3, '--lanes wins');
  });

  it('finds the grids a notebook trains from its readGrid calls', () => {
    assert.deepEqual(gridsOf('rq6-normalisers'), ['rq6-normalisers']);
    assert.deepEqual(gridsOf('rq1-learning-rate'), ['rq1-lr-sweep']);
    assert.deepEqual(gridsOf('rq3-random-matrices'), []);
  });

  it("starts the longest first: by this machine's last report, else by the first-report times, an unknown notebook before them", () => {
    assert.deepEqual(Object.keys(FIRST_REPORT_SECONDS).sort(), [...notebooks].sort(), 'a time for every notebook of the lab');
    const first = scheduleOrder(notebooks, new Map(), 'quick');
    assert.deepEqual(
      first,
      [...notebooks].sort((a, b) => FIRST_REPORT_SECONDS[b] - FIRST_REPORT_SECONDS[a]),
    );
    const last = new Map(notebooks.map((n, i) => [n, i] as const));
    assert.deepEqual(scheduleOrder(notebooks, last, 'quick'), [...notebooks].reverse());

    // A fork, which no report has run yet: first, the one with a grid before the one without.
    const { dir, cleanup } = tempDir('schedule');
    const nb = (source: string) => JSON.stringify({ cells: [{ cell_type: 'code', source: [source] }] });
    fs.writeFileSync(path.join(dir, 'fork-a.ipynb'), nb("const grid = bn.readGrid('rq6-normalisers');"));
    fs.writeFileSync(path.join(dir, 'fork-b.ipynb'), nb('const x = 1;'));
    for (const n of notebooks)
      fs.copyFileSync(path.resolve(__dirname, '..', '..', 'notebooks', `${n}.ipynb`), path.join(dir, `${n}.ipynb`));
    const withForks = scheduleOrder([...notebooks, 'fork-b', 'fork-a'], new Map(), 'quick', dir);
    assert.deepEqual(withForks.slice(0, 2), ['fork-a', 'fork-b']);
    cleanup();
  });
});
