// bench/fusion-ab.ts's order of steps: ABBA, so that an effect repeating
// every other step lands on both sides of the A/B.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stepWithMeasure } from '../../bench/fusion-ab';

test('the timed steps run in pairs of one with the measure and one without, in the order ABBA ABBA …', () => {
  const sides = Array.from({ length: 12 }, (_, j) => (stepWithMeasure(j) ? 'A' : 'B')).join('');
  assert.equal(sides, 'ABBAABBAABBA');
  // Each side is first in half the pairs, and on even steps half the time.
  const even = Array.from({ length: 40 }, (_, j) => j).filter((j) => j % 2 === 0);
  assert.equal(even.filter(stepWithMeasure).length, 10);
});
