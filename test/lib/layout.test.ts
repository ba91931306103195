/**
 * The shape of lib/src that a reader relies on: no module grows past 500
 * lines (one subject per file; issue 12 split spectra, rq3 and rq5 when
 * they did).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const src = path.resolve(__dirname, '../../lib/src');
const files = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : e.name.endsWith('.ts') ? [p] : [];
  });

describe('lib/src layout', () => {
  it('has no file over 500 lines', () => {
    const all = files(src);
    assert.ok(all.length > 50, `expected lib's modules under ${src}, found ${all.length}`);
    const long = all
      .map((f) => ({ f: path.relative(src, f), lines: fs.readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((x) => x.lines > 500);
    assert.deepEqual(long, [], `files over 500 lines: ${long.map((x) => `${x.f} (${x.lines})`).join(', ')}`);
  });
});
