import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { currentNotebook, findingMarkdown, verdictOf } from '../../lib/src/findings';

describe('findings', () => {
  it('verdictOf maps pass / fail / undecidable', () => {
    assert.equal(verdictOf(true), 'reproduced');
    assert.equal(verdictOf(false), 'not reproduced');
    assert.equal(verdictOf(null), 'inconclusive');
  });

  it('renders a one-row table whose cells survive pipes and line breaks', () => {
    const md = findingMarkdown({ rq: 'RQ9', notebook: 'x', claim: 'A claim.', metric: 'ratio |a|/|b|', value: 0.000012, threshold: 'ratio ≥ 10\nand more', verdict: 'not reproduced', converged: false, stepBudget: { min: 450, max: 1800 } });
    const row = md.split('\n').find((l) => l.startsWith('| ratio'))!;
    assert.equal(row, '| ratio \\|a\\|/\\|b\\| | 1.20e-5 | ratio ≥ 10 and more | — | no | 450–1,800 |');
    assert.match(md, /^\*\*RQ9 verdict: ❌ not reproduced\.\*\* A claim\./);
  });

  it("knows which notebook it runs in: the executor's name first, then JupyterLab's session path", () => {
    const saved = { a: process.env.BNLAB_NOTEBOOK, b: process.env.JPY_SESSION_NAME };
    try {
      delete process.env.BNLAB_NOTEBOOK;
      process.env.JPY_SESSION_NAME = '/home/me/bnlab/notebooks/my-fork.ipynb';
      assert.equal(currentNotebook(), 'my-fork');
      process.env.BNLAB_NOTEBOOK = 'rq4-final-layer-bn';
      assert.equal(currentNotebook(), 'rq4-final-layer-bn');
    } finally {
      for (const [k, v] of [['BNLAB_NOTEBOOK', saved.a], ['JPY_SESSION_NAME', saved.b]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
