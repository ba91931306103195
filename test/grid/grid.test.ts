import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { lrSweepBase, sweepSpec, trainRunSpec } from '../../lib/src/experiments';
import { expandGrid, gridValues, parseGrid, parseShard, readGrid, readGridFile, shardRuns } from '../../lib/src/grid';
import { RunStore } from '../../lib/src/store';
import { tempDir } from '../data/helpers';

before(async () => {
  await initBackend({ quiet: true });
});

const GRIDS = path.resolve(__dirname, '..', '..', 'notebooks', 'grids');

const small = {
  name: 'small',
  base: 'lr-sweep',
  axes: [
    { norm: ['batch'], learningRate: [0.1, 0.01], seed: { smoke: [1], quick: [1, 2], paper: [1, 2, 3] } },
    { norm: ['none'], learningRate: [0.01], seed: [7] },
  ],
};

describe('grid expansion', () => {
  it('a per-profile axis without long gives long quick\'s values', () => {
    const def = parseGrid({ ...small, axes: { norm: ['batch'], learningRate: [0.1], seed: { smoke: [1], quick: [2, 3], paper: [4] } } });
    assert.deepEqual(expandGrid(def, { profile: 'long' }).map((r) => r.point.seed), [2, 3]);
  });

  it('expands products in order, last axis fastest, with per-profile values', () => {
    const def = parseGrid(small);
    const quick = expandGrid(def, { profile: 'quick' });
    assert.deepEqual(
      quick.map((r) => r.point),
      [
        { norm: 'batch', learningRate: 0.1, seed: 1 },
        { norm: 'batch', learningRate: 0.1, seed: 2 },
        { norm: 'batch', learningRate: 0.01, seed: 1 },
        { norm: 'batch', learningRate: 0.01, seed: 2 },
        { norm: 'none', learningRate: 0.01, seed: 7 },
      ],
    );
    assert.deepEqual(quick.map((r) => r.index), [0, 1, 2, 3, 4]);
    assert.equal(expandGrid(def, { profile: 'smoke' }).length, 3);
    assert.equal(expandGrid(def, { profile: 'paper' }).length, 7);
    // The same expansion twice: same specs, same order.
    assert.deepEqual(expandGrid(def, { profile: 'quick' }).map((r) => r.runSpec), quick.map((r) => r.runSpec));
  });

  it('builds each run exactly as the notebooks do, so the store key is shared with RQ1/RQ4', () => {
    const store = new RunStore('/nonexistent');
    const [run] = expandGrid(parseGrid(small), { profile: 'smoke' });
    const notebookSpec = sweepSpec(lrSweepBase('smoke'), { norm: 'batch', learningRate: 0.1, seed: 1 });
    assert.equal(store.key(run.runSpec), store.key(trainRunSpec(notebookSpec, 'smoke')));
    assert.equal(run.spec.label, notebookSpec.label);
  });

  it('sets other axes by shorthand or dotted path, and labels the runs with them', () => {
    const def = parseGrid({ name: 'deep', base: 'lr-sweep', axes: { depth: [8, 14], 'train.epochs': [2], norm: ['batch'], learningRate: [0.1], seed: [1] } });
    const runs = expandGrid(def, { profile: 'smoke' });
    assert.deepEqual(runs.map((r) => [r.spec.model.family === 'resnet' && r.spec.model.depth, r.spec.train.epochs]), [[8, 2], [14, 2]]);
    assert.match(runs[1].spec.label!, /depth 14/);
    // The base itself is untouched by the overrides.
    assert.equal(lrSweepBase('smoke').model.depth, 8);
  });

  it('counts a point listed twice once', () => {
    const def = parseGrid({ name: 'dup', base: 'lr-sweep', axes: [{ norm: ['batch'], learningRate: [0.1], seed: [1] }, { norm: ['batch', 'none'], learningRate: [0.1], seed: [1] }] });
    assert.equal(expandGrid(def, { profile: 'smoke' }).length, 2);
  });

  it('rejects a bad grid with a message naming the file and the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ ...small, name: 'Has Spaces' }, /name must be lower-case/],
      [{ ...small, base: 'imagenet' }, /base must be one of lr-sweep/],
      [{ ...small, extra: 1 }, /unknown field\(s\) extra/],
      [{ ...small, axes: [{ norm: ['batch'], learningRate: [0.1] }] }, /axes\[0\] has no axis seed/],
      [{ ...small, axes: { norm: ['instance'], learningRate: [0.1], seed: [1] } }, /norm: "instance" is not one of batch, layer, group, none, final-only, fixup/],
      [{ ...small, axes: { norm: ['batch'], learningRate: [], seed: [1] } }, /axis learningRate must be a non-empty list/],
      [{ ...small, axes: { norm: ['batch'], learningRate: [0.1, 0.1], seed: [1] } }, /repeats a value/],
      [{ ...small, axes: { norm: ['batch'], learningRate: [0.1], seed: { smoke: [1], quick: [1] } } }, /per-profile values need smoke, quick, paper \(and optionally long\)/],
      [{ ...small, axes: { norm: ['batch'], learningRate: [0.1], seed: { smoke: [1], quick: [1], paper: [1], huge: [1] } } }, /not huge/],
    ];
    for (const [value, message] of bad) assert.throws(() => parseGrid(value, 'grids/x.json'), (e: Error) => e.message.startsWith('grid grids/x.json: ') && message.test(e.message), JSON.stringify(value));
    assert.throws(() => expandGrid(parseGrid({ ...small, axes: { 'model.dpeth': [8], norm: ['batch'], learningRate: [0.1], seed: [1] } }), { profile: 'smoke' }), /the base setting has no model\.dpeth/);
    assert.throws(() => expandGrid(parseGrid({ ...small, axes: { norm: ['batch'], learningRate: [-1], seed: [1] } }), { profile: 'smoke' }), /learningRate must be a positive number/);
  });

  it('reads grid files, with clear errors for a missing or broken one', () => {
    const { dir, cleanup } = tempDir('bnlab-grid-');
    const broken = path.join(dir, 'broken.json');
    fs.writeFileSync(broken, '{"name": "x",');
    assert.throws(() => readGridFile(broken), new RegExp(`grid ${broken}: is not valid JSON`));
    assert.throws(() => readGridFile(path.join(dir, 'absent.json')), /absent\.json: cannot read it \(ENOENT\)/);
    cleanup();
  });

  it('the shipped grids parse; RQ1\'s has the paper profile\'s 6 rates x 2 norms x 5 seeds plus no BN\'s extra rate, and a budget per rate', () => {
    for (const f of fs.readdirSync(GRIDS).filter((x) => x.endsWith('.json'))) {
      for (const profile of ['smoke', 'quick', 'long', 'paper'] as const) assert.ok(readGrid(path.join(GRIDS, f), profile).runs.length > 0, f);
    }
    const rq1 = readGrid(path.join(GRIDS, 'rq1-lr-sweep.json'), 'paper');
    assert.equal(rq1.runs.length, (6 + 7) * 5);
    assert.deepEqual(gridValues(rq1, 'learningRate', { norm: 'batch' }), [0.1, 0.03, 0.01, 0.003, 0.001, 0.0001]);
    assert.equal(readGrid(path.join(GRIDS, 'depth-lr.json'), 'smoke').runs.length, 8);
    // Every profile's grid has every Fig. 1 seed at every point: after a sweep, RQ1 trains nothing,
    // whichever rate turns out to be no BN's best.
    const points = { smoke: 6, quick: 6, long: 10, paper: 13 };
    for (const profile of ['smoke', 'quick', 'long', 'paper'] as const) {
      const g = readGrid('rq1-lr-sweep', profile);
      assert.deepEqual(gridValues(g, 'seed'), lrSweepBase(profile).seeds, profile);
      assert.equal(g.runs.length, points[profile] * lrSweepBase(profile).seeds.length, profile);
    }
    // Each run trains for its rate's budget: longer at smaller rates.
    const quick = readGrid('rq1-lr-sweep', 'quick');
    const epochsAt = (lr: number) => quick.runs.find((r) => r.point.learningRate === lr)!.spec.train.epochs;
    assert.deepEqual([0.1, 0.01, 0.003].map(epochsAt), [60, 190, 200]);
  });

  it('RQ6\'s grid: five normalisers, BN one rate higher, group norm\'s groups on its runs only, and BN\'s and no BN\'s 0.1 runs are RQ1\'s', () => {
    const g = readGrid('rq6-normalisers', 'quick');
    assert.equal(g.runs.length, 5 + 4 * 4);
    assert.deepEqual(gridValues(g, 'learningRate', { norm: 'batch' }), [10, 3, 1, 0.3, 0.1]);
    assert.deepEqual(gridValues(g, 'groups'), [4]);
    for (const r of g.runs) {
      assert.equal(r.point.groups !== undefined, r.point.norm === 'group', `${r.spec.label}: groups only on group norm`);
      if (r.point.norm === 'group') assert.equal((r.spec.model as { groups?: number }).groups, 4);
      if (r.point.norm === 'fixup') assert.deepEqual([r.spec.model.norm, r.spec.model.init?.scheme], ['none', 'fixup']);
    }
    const rq1 = readGrid('rq1-lr-sweep', 'quick');
    for (const norm of ['batch', 'none']) {
      const key = (grid: typeof g) => grid.runs.find((r) => r.point.norm === norm && r.point.learningRate === 0.1 && r.point.seed === 1)!.runSpec.config;
      assert.deepEqual(key(g), key(rq1), `${norm} at 0.1: the same run as RQ1's`);
    }
  });

  it('refuses groups on a norm other than group norm, and groups that are not a positive integer', () => {
    const base = { name: 'g', base: 'lr-sweep' as const };
    assert.throws(() => expandGrid({ ...base, axes: { norm: ['batch'], groups: [4], learningRate: [0.1], seed: [1] } }, { profile: 'smoke' }), /groups is group norm's option/);
    assert.throws(() => expandGrid({ ...base, axes: { norm: ['group'], groups: [0], learningRate: [0.1], seed: [1] } }, { profile: 'smoke' }), /groups must be a positive integer/);
  });
});

describe('shards', () => {
  it('split the runs so that every run is in exactly one shard', () => {
    const runs = Array.from({ length: 26 }, (_, index) => ({ index }));
    for (const count of [1, 2, 3, 7, 26, 30]) {
      const seen = Array.from({ length: count }, (_, i) => shardRuns(runs, { index: i, count })).flat().map((r) => r.index).sort((a, b) => a - b);
      assert.deepEqual(seen, runs.map((r) => r.index), `count ${count}`);
    }
  });

  it('parse i/n and auto/n, taking the index from Slurm or Kubernetes, never the count', () => {
    assert.deepEqual(parseShard('1/4', {}), { index: 1, count: 4 });
    assert.deepEqual(parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '1' }), { index: 3, count: 4 });
    assert.deepEqual(parseShard('auto/4', { JOB_COMPLETION_INDEX: '2' }), { index: 2, count: 4 });
    assert.throws(() => parseShard('auto/4', {}), /none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX is set/);
    assert.throws(() => parseShard('4/4', {}), /need 0 ≤ i < n/);
    assert.throws(() => parseShard('1of4', {}), /--shard must be i\/n/);
  });
});
