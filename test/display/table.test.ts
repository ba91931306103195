import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markdownTable } from '../../lib/src/display';

describe('markdownTable', () => {
  it('makes one column per key in order of appearance, right-aligns numeric columns and escapes pipes', () => {
    const md = markdownTable([{ model: 'BN', lr: 0.1, acc: 0.912345678 }, { model: 'a|b', lr: 0.003, note: 'two\nlines' }], 'Caption');
    assert.equal(
      md,
      [
        '**Caption**',
        '',
        '| model | lr | acc | note |',
        '| --- | ---: | ---: | --- |',
        '| BN | 0.1 | 0.9123 |  |',
        '| a\\|b | 0.003 |  | two lines |',
      ].join('\n'),
    );
    assert.equal(markdownTable([]), '(no rows)');
  });
});
