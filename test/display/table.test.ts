import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markdownTable } from '../../lib/src/display';
import { formatValue } from '../../lib/src/findings/schema';
import { fmt } from '../../lib/src/util/format';

describe('markdownTable', () => {
  it('makes one column per key in order of appearance, right-aligns numeric columns and escapes pipes', () => {
    const md = markdownTable([{ model: 'BN', lr: 0.1, acc: 0.912345678 }, { model: 'a|b', lr: 0.003, note: 'two\nlines' }], { caption: 'Caption' });
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

  it('takes the columns, in order, with titles, and a number format', () => {
    const md = markdownTable([{ a: 'x', b: 0.000012345, c: 'left out' }, { a: '|y|', b: 123.456 }], { columns: [['b', '|B|'], ['a', 'A']], format: fmt });
    assert.equal(md, ['| \\|B\\| | A |', '| ---: | --- |', '| 1.23e-5 | x |', '| 123 | \\|y\\| |'].join('\n'));
  });
});

describe('fmt', () => {
  it('writes significant digits without trailing zeros, an exponent with 3 when tiny or huge, non-finite as JavaScript does', () => {
    assert.equal(fmt(0.1), '0.1');
    assert.equal(fmt(188.234), '188');
    assert.equal(fmt(188.234, 4), '188.2');
    assert.equal(fmt(0.000321), '3.21e-4');
    assert.equal(fmt(0.000321, 4), '3.21e-4');
    assert.equal(fmt(123456), '1.23e+5');
    assert.equal(fmt(0), '0');
    assert.equal(fmt(NaN), 'NaN');
    assert.equal(fmt(-Infinity), '-Infinity');
  });

  it('is what findings print (4 digits), and a missing value is —', () => {
    assert.equal(formatValue(3.3333333), '3.333');
    assert.equal(formatValue(0.00032), '3.20e-4');
    assert.equal(formatValue(null), '—');
  });
});
