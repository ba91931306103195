// bench/process-ab.ts (the alternating process A/B under bench:hugepages and
// bench:env), bench/env-ab.ts's options, and the environment a bnlab
// benchmark child gets (bench/child-output.ts). Fake arms stand in for
// processes: what is tested is the order, the pairing and the ratios.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bnlabChildEnv } from '../../bench/child-output';
import { parseEnvAbArgs, parseSetting } from '../../bench/env-ab';
import { alternateProcesses, parseAbArgs } from '../../bench/process-ab';

test("alternateProcesses flips the order within a pair every round and pairs each with-process with its round's without", async () => {
  const order: string[] = [];
  // Without the setting a step takes 110 ms in round 1, 120 in round 2, …; with it, 100 ms.
  const arms = [
    {
      framework: 'bnlab',
      run: (norm: 'batch' | 'none', on: boolean) => {
        order.push(`${norm} ${on ? 'with' : 'without'}`);
        const round = Math.ceil(order.filter((o) => o.startsWith(norm)).length / 2);
        return { msPerStep: on ? 100 : 100 + 10 * round };
      },
    },
  ];
  const seen: [number, boolean][] = [];
  const [s] = await alternateProcesses(arms, ['none'], 3, (_, round, on) => seen.push([round, on]));
  assert.deepEqual(order, ['none without', 'none with', 'none with', 'none without', 'none without', 'none with']);
  assert.deepEqual(seen, [
    [1, false],
    [1, true],
    [2, true],
    [2, false],
    [3, false],
    [3, true],
  ]);
  assert.deepEqual(s, {
    framework: 'bnlab',
    norm: 'none',
    ratio: 1.2,
    msPerStepWith: 100,
    msPerStepWithout: 120,
    rounds: 3,
    perRound: [1.1, 1.2, 1.3],
  });
});

test('alternateProcesses summarises each framework and model apart, and refuses a process without a step time', async () => {
  const arms = ['bnlab', 'torch'].map((framework) => ({
    framework,
    run: (norm: 'batch' | 'none', on: boolean) => ({
      msPerStep: (framework === 'torch' ? 2 : 1) * (norm === 'batch' ? 300 : 200) * (on ? 1 : 1.5),
    }),
  }));
  const summaries = await alternateProcesses(arms, ['batch', 'none'], 2, () => {});
  assert.deepEqual(
    summaries.map((s) => [s.framework, s.norm, s.ratio, s.msPerStepWith]),
    [
      ['bnlab', 'batch', 1.5, 300],
      ['torch', 'batch', 1.5, 600],
      ['bnlab', 'none', 1.5, 200],
      ['torch', 'none', 1.5, 400],
    ],
  );
  await assert.rejects(
    alternateProcesses([{ framework: 'bnlab', run: () => ({ error: 'x' }) }], ['none'], 1, () => {}),
    /gave no msPerStep/,
  );
});

test('parseAbArgs reads the common options and hands the others on', () => {
  const other: string[] = [];
  const a = parseAbArgs(['--norms', 'none', '--rounds', '4', '--x', '7'], (k, v) => k === '--x' && other.push(v()) > 0, 'usage');
  assert.deepEqual(a, { norms: ['none'], rounds: 4, steps: 20, warmup: 4 });
  assert.deepEqual(other, ['7']);
  assert.throws(() => parseAbArgs(['--y'], () => false, 'the usage'), /unknown option --y \(the usage\)/);
  assert.throws(() => parseAbArgs(['--norms', 'layer'], () => false, ''), /batch and none/);
  assert.throws(() => parseAbArgs(['--steps', '3'], () => false, ''), /--steps/);
});

test("bench:env's settings: NAME=value, each name once, at least one", () => {
  assert.deepEqual(parseSetting('TF_NUM_INTRAOP_THREADS=3'), ['TF_NUM_INTRAOP_THREADS', '3']);
  assert.deepEqual(parseSetting('GLIBC_TUNABLES=glibc.malloc.top_pad=1:glibc.malloc.hugetlb=0'), [
    'GLIBC_TUNABLES',
    'glibc.malloc.top_pad=1:glibc.malloc.hugetlb=0',
  ]);
  assert.deepEqual(parseSetting('EMPTY='), ['EMPTY', '']);
  for (const bad of ['NOVALUE', '=1', '1X=2', 'A-B=1']) assert.throws(() => parseSetting(bad), /NAME=value/, bad);
  const a = parseEnvAbArgs(['--set', 'A=1', '--norms', 'batch', '--set', 'B=x=y']);
  assert.deepEqual(a.settings, { A: '1', B: 'x=y' });
  assert.deepEqual(a.norms, ['batch']);
  assert.throws(() => parseEnvAbArgs(['--set', 'A=1', '--set', 'A=2']), /given twice/);
  assert.throws(() => parseEnvAbArgs(['--rounds', '2']), /give the settings/);
});

test("a bnlab child's environment: the settings on top, huge pages added to a GLIBC_TUNABLES among them, or taken out", () => {
  const base = { PATH: '/bin', TF_NUM_INTRAOP_THREADS: '2', GLIBC_TUNABLES: 'glibc.malloc.top_pad=1' };
  const plain = bnlabChildEnv(true, {}, base);
  assert.equal(plain.TF_NUM_INTRAOP_THREADS, '2');
  assert.equal(plain.GLIBC_TUNABLES, 'glibc.malloc.top_pad=1:glibc.malloc.hugetlb=1');
  assert.equal(plain.TF_CPP_MIN_LOG_LEVEL, '2');
  const set = bnlabChildEnv(true, { TF_NUM_INTRAOP_THREADS: '3', GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=33554432' }, base);
  assert.equal(set.TF_NUM_INTRAOP_THREADS, '3');
  assert.equal(set.GLIBC_TUNABLES, 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.hugetlb=1');
  assert.equal(bnlabChildEnv(true, { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, base).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=0');
  assert.equal(bnlabChildEnv(false, {}, base).GLIBC_TUNABLES, 'glibc.malloc.top_pad=1');
  assert.equal(base.TF_NUM_INTRAOP_THREADS, '2', 'the base is not changed');
});
