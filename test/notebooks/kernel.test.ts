/**
 * The lib as a notebook sees it: through the real tslab kernel, started from
 * the project's kernelspec by Jupyter's own client in the project's .venv.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '../..');
const python = path.join(root, '.venv', 'bin', 'python');

type Step = { code: string } | { touch: string };
interface Result { status?: string; outputs?: { stream?: string; text?: string; error?: string }[] }

function session(steps: Step[]): Result[] {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-kernel-')), 'steps.json');
  fs.writeFileSync(file, JSON.stringify(steps));
  const r = spawnSync(python, [path.join(__dirname, '../helpers/kernel_session.py'), file, path.join(root, 'notebooks')], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const text = (r: Result) => (r.outputs ?? []).map((o) => o.text ?? o.error ?? '').join('');

describe('the bnlab package in a tslab kernel', () => {
  it('imports under its name, loads the native backend, trains a few steps; an edited lib reaches the kernel when the import cell re-runs', () => {
    const importCell = "import * as bn from 'bnlab';\nconsole.log('loaded', bn.loadedAt);";
    const results = session([
      { code: importCell },
      {
        code: [
          'const info = await bn.initBackend();',
          "const model = bn.resnet({ depth: 8, width: 4, norm: 'batch', inputShape: [28, 28, 1], numClasses: 10, seed: 1 });",
          "const train = bn.subset(bn.loadFashionMnist({ split: 'train' }), 256, new bn.Rng(1));",
          "const test = bn.subset(bn.loadFashionMnist({ split: 'test' }), 128, new bn.Rng(1));",
          'const r = await bn.train(model, { train, test }, { epochs: 1, batchSize: 64, learningRate: 0.05, seed: 1 });',
          "console.log('backend', info.name, 'status', r.status, 'steps', r.totalSteps);",
        ].join('\n'),
      },
      { code: importCell }, // unchanged lib: the same modules
      { touch: path.join(root, 'lib', 'dist', 'index.js') }, // as `npm run build` after an edit
      { code: importCell }, // changed lib: reloaded
    ]);
    for (const r of results) if (r.status) assert.equal(r.status, 'ok', text(r));
    const loaded = [results[0], results[2], results[4]].map((r) => /loaded (\S+)/.exec(text(r))?.[1]);
    assert.ok(loaded[0], text(results[0]));
    assert.equal(loaded[1], loaded[0], 'a re-run import of an unchanged lib reloaded it');
    assert.notEqual(loaded[2], loaded[0], 'the rebuilt lib did not reach the kernel');
    const expectNative = process.env.BNLAB_REQUIRE_NATIVE ? 'tensorflow' : '\\w+';
    assert.match(text(results[1]), new RegExp(`backend ${expectNative} status completed steps 4`));
  });
});
