// bench/options.ts: the benchmarks' command-line reading.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eachOption, onOff } from '../../bench/options';

test('eachOption hands each option its value reader, which takes the next argument or throws', () => {
  const seen: [string, string | null][] = [];
  eachOption(['--steps', '5', '--flag', '--norm', 'none'], (k, v) => seen.push([k, k === '--flag' ? null : v()]));
  assert.deepEqual(seen, [
    ['--steps', '5'],
    ['--flag', null],
    ['--norm', 'none'],
  ]);
  assert.throws(() => eachOption(['--steps'], (_, v) => void v()), /--steps needs a value/);
});

test('onOff reads on and off, and names the option otherwise', () => {
  assert.equal(onOff('--queue', 'on'), true);
  assert.equal(onOff('--queue', 'off'), false);
  assert.throws(() => onOff('--step-queue', 'yes'), /--step-queue takes on or off, got yes/);
});
