// bench/child-output.ts: a benchmark child's result line, and the other
// lines (e.g. ONEDNN_VERBOSE=1's log) passed on rather than dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resultLine } from '../../bench/child-output';

test('resultLine returns the last JSON object line and passes every other non-empty line on', () => {
  const passed: string[] = [];
  const stdout = [
    'onednn_verbose,v1,info,oneDNN v3.7.3',
    '{"early": 1}',
    '',
    'onednn_verbose,v1,primitive,exec,cpu,convolution',
    '{"msPerStep": 12.5}',
    '[1, 2]',
    '',
  ].join('\n');
  assert.deepEqual(
    resultLine(stdout, (l) => passed.push(l)),
    { msPerStep: 12.5 },
  );
  assert.deepEqual(passed, [
    'onednn_verbose,v1,info,oneDNN v3.7.3',
    '{"early": 1}',
    'onednn_verbose,v1,primitive,exec,cpu,convolution',
    '[1, 2]',
  ]);
});

test('resultLine is null without a JSON object line, and still passes the lines on', () => {
  const passed: string[] = [];
  assert.equal(
    resultLine('Traceback\n{not json\n', (l) => passed.push(l)),
    null,
  );
  assert.deepEqual(passed, ['Traceback', '{not json']);
});
