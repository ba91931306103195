import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { HUGE_PAGES_TUNABLE, transparentHugePageMode, withHugePages, withoutHugePages } from '../../lib/src/backend/huge-pages';

const root = path.resolve(__dirname, '..', '..');

/** glibc's version (malloc's hugetlb tunable needs 2.35), or null on another libc. */
function glibcVersion(): number | null {
  const v = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  return v ? Number(v) : null;
}

describe('transparent huge pages', () => {
  it('adds glibc.malloc.hugetlb=1 to GLIBC_TUNABLES, keeping the other tunables and a hugetlb choice already made', () => {
    assert.equal(withHugePages({}).GLIBC_TUNABLES, HUGE_PAGES_TUNABLE);
    assert.equal(withHugePages({ GLIBC_TUNABLES: '' }).GLIBC_TUNABLES, HUGE_PAGES_TUNABLE);
    assert.equal(
      withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' }).GLIBC_TUNABLES,
      `glibc.malloc.arena_max=1:${HUGE_PAGES_TUNABLE}`,
    );
    assert.equal(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=0');
    const env = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=1', PATH: '/usr/bin' };
    const out = withHugePages(env);
    assert.equal(env.GLIBC_TUNABLES, 'glibc.malloc.arena_max=1', 'the caller’s environment is not changed');
    assert.equal(out.PATH, '/usr/bin');
  });

  it('takes only the hugetlb tunable out, and the variable when nothing is left', () => {
    assert.equal(
      withoutHugePages({ GLIBC_TUNABLES: `glibc.malloc.arena_max=1:${HUGE_PAGES_TUNABLE}` }).GLIBC_TUNABLES,
      'glibc.malloc.arena_max=1',
    );
    assert.equal('GLIBC_TUNABLES' in withoutHugePages({ GLIBC_TUNABLES: HUGE_PAGES_TUNABLE }), false);
    assert.equal(
      withoutHugePages(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' })).GLIBC_TUNABLES,
      'glibc.malloc.arena_max=1',
    );
  });

  it("the notebook kernel starts with them, as the project's other TensorFlow processes do", () => {
    const spec = path.join(root, '.venv', 'share', 'jupyter', 'kernels', 'bnlab-tslab', 'kernel.json');
    const env = (JSON.parse(fs.readFileSync(spec, 'utf8')) as { env: Record<string, string> }).env;
    assert.equal(env.GLIBC_TUNABLES, withHugePages({}).GLIBC_TUNABLES);
  });

  // The behaviour itself: TensorFlow's buffers land in huge pages with the
  // tunable and not without it, in a fresh process (glibc reads tunables
  // at start-up only).
  const mode = transparentHugePageMode();
  const glibc = glibcVersion();
  const skip =
    mode !== 'madvise'
      ? `the kernel's transparent huge pages are ${mode ?? 'unknown'}, not madvise (where malloc's request decides)`
      : glibc === null || glibc < 2.35
        ? `glibc ${glibc ?? '(none)'} has no glibc.malloc.hugetlb tunable (2.35 and later)`
        : false;
  it("TensorFlow's buffers sit in huge pages with the tunable, and not without it", { skip, timeout: 60_000 }, () => {
    // 64 MiB of tensors made by TF ops (the kind of buffer a training step reuses).
    const probe = `
      const tf = require('@tensorflow/tfjs-core');
      const { initBackend } = require('./lib/src/backend');
      const { hugePageKb } = require('./lib/src/backend/huge-pages');
      initBackend({ quiet: true }).then((b) => {
        const x = tf.add(tf.ones([4096, 4096]), 1);
        x.dataSync();
        console.log(JSON.stringify({ backend: b.name, kb: hugePageKb() }));
      });`;
    const run = (env: NodeJS.ProcessEnv) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], {
        cwd: root,
        encoding: 'utf8',
        env: { ...env, TF_CPP_MIN_LOG_LEVEL: '2' },
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as { backend: string; kb: number };
    };
    const on = run(withHugePages(process.env));
    const off = run(withoutHugePages(process.env));
    assert.equal(on.backend, 'tensorflow');
    assert.ok(on.kb >= 32 * 1024, `with the tunable: ${on.kb} KiB in huge pages`);
    assert.ok(off.kb < 8 * 1024, `without it: ${off.kb} KiB in huge pages`);
  });
});
