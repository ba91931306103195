import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { preferOneDnn } from '../../lib/src/backend';
import { filterTfLog, tfLogChoice } from '../../lib/src/backend/tf-log';

const root = path.resolve(__dirname, '../..');

// What TensorFlow 2.21 writes while its library loads (the AVX line's continuation included), and two later lines.
const LOAD_LOG = [
  'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR',
  'I0000 00:00:1796393784.338345   15469 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.',
  'I0000 00:00:1796393784.432690   15469 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.',
  'To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.',
  'W0000 00:00:1796393784.500000   15469 env.cc:12] a warning',
  '2025-01-30 22:44:42.456316: E tensorflow/core/framework/op_kernel.cc:1830] an error',
  '  its second line',
  '',
].join('\n');

describe('filterTfLog', () => {
  it('keeps the lines at the level and above, continuation lines with theirs', () => {
    assert.equal(filterTfLog(LOAD_LOG, 2), '2025-01-30 22:44:42.456316: E tensorflow/core/framework/op_kernel.cc:1830] an error\n  its second line\n');
    assert.equal(filterTfLog(LOAD_LOG, 1), 'W0000 00:00:1796393784.500000   15469 env.cc:12] a warning\n' + filterTfLog(LOAD_LOG, 2));
    assert.equal(filterTfLog(LOAD_LOG, 0), LOAD_LOG);
    assert.equal(filterTfLog(LOAD_LOG, 3), '');
    assert.equal(filterTfLog('F0000 00:00:1.5 7 x.cc:1] fatal\n', 3), 'F0000 00:00:1.5 7 x.cc:1] fatal\n');
  });

  it('keeps what is not TF log before its first line', () => {
    assert.equal(filterTfLog('something else\nI0000 00:00:1.5 7 x.cc:1] info\n', 2), 'something else\n');
  });
});

describe('tfLogChoice', () => {
  it('is quiet by default, at the level the user set, or at 2', () => {
    assert.deepEqual(tfLogChoice({}), { own: false, minLevel: 2 });
    assert.deepEqual(tfLogChoice({ BNLAB_TF_LOG: '0' }), { own: false, minLevel: 2 });
    assert.deepEqual(tfLogChoice({ TF_CPP_MIN_LOG_LEVEL: '1' }), { own: false, minLevel: 1 });
    assert.deepEqual(tfLogChoice({ TF_CPP_MIN_LOG_LEVEL: 'x' }), { own: false, minLevel: 0 });
  });

  it('gives TF its own logging, or a named level, with BNLAB_TF_LOG', () => {
    assert.deepEqual(tfLogChoice({ BNLAB_TF_LOG: '1', TF_CPP_MIN_LOG_LEVEL: '3' }), { own: true });
    assert.deepEqual(tfLogChoice({ BNLAB_TF_LOG: 'Warning', TF_CPP_MIN_LOG_LEVEL: '3' }), { own: false, minLevel: 1 });
    assert.throws(() => tfLogChoice({ BNLAB_TF_LOG: 'loud' }), /BNLAB_TF_LOG=loud is not a choice bnlab knows; use 1 \(TF's own logging\), 0 \(quiet\), or one of info, warning, error, fatal/);
  });
});

/** initBackend in a fresh process, with TF_CPP_MIN_LOG_LEVEL and BNLAB_TF_LOG only as given. */
function loadIn(env: Record<string, string>): { name?: string; error?: string; stderr: string } {
  const code = `require('./lib/src/backend').initBackend({ quiet: true }).then((i) => console.log(JSON.stringify({ name: i.name })), (e) => console.log(JSON.stringify({ error: e.message })));`;
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'TF_CPP_MIN_LOG_LEVEL' && k !== 'BNLAB_TF_LOG'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: root, env: { ...inherited, BNLAB_BACKEND: 'auto', ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()!), stderr: r.stderr };
}

// TF 2.21 turns oneDNN on, and says so as it loads, when bnlab asks for it
// (TF_ENABLE_ONEDNN_OPTS=1 unless the user set it: backend/preferOneDnn);
// a user's TF_ENABLE_ONEDNN_OPTS=0 keeps it off.
const oneDnnOn = !['0', 'false'].includes((process.env.TF_ENABLE_ONEDNN_OPTS ?? '').trim().toLowerCase());
const addonBuilt = fs.existsSync(path.join(root, 'lib', 'native', 'build', 'stderr_redirect.node'));

describe("the native backend's start-up log", () => {
  it('says nothing of oneDNN or AVX by default, and TF does with BNLAB_TF_LOG=1', (t) => {
    const quiet = loadIn({});
    if (quiet.name !== 'tensorflow' && !process.env.BNLAB_REQUIRE_NATIVE) return t.skip(`native backend not available here (${quiet.error ?? quiet.name})`);
    assert.equal(quiet.name, 'tensorflow');
    if (!addonBuilt && !process.env.BNLAB_REQUIRE_NATIVE) return t.skip('lib/native/build/stderr_redirect.node is not built (npm run setup)');
    assert.doesNotMatch(quiet.stderr, /oneDNN|cpu_feature_guard|absl::InitializeLog/, quiet.stderr);
    if (!oneDnnOn) return t.skip('TF_ENABLE_ONEDNN_OPTS=0: oneDNN is off');
    const own = loadIn({ BNLAB_TF_LOG: '1' });
    assert.equal(own.name, 'tensorflow');
    assert.match(own.stderr, /port\.cc:\d+\] oneDNN custom operations are on/);
    // A named level keeps TF's lines at that severity and above: the oneDNN line is INFO.
    assert.match(loadIn({ BNLAB_TF_LOG: 'info' }).stderr, /oneDNN custom operations are on/);
    assert.doesNotMatch(loadIn({ BNLAB_TF_LOG: 'warning' }).stderr, /oneDNN/);
  });

  it('fails on a BNLAB_TF_LOG it does not know, instead of falling back to wasm', () => {
    assert.match(String(loadIn({ BNLAB_TF_LOG: 'loud' }).error), /BNLAB_TF_LOG=loud is not a choice bnlab knows/);
  });
});

describe('oneDNN', () => {
  it("is asked for unless the user set TF_ENABLE_ONEDNN_OPTS (TF runs Eigen's kernels on CPUs without AVX-512 VNNI otherwise)", () => {
    const env = (v?: string): NodeJS.ProcessEnv => (v === undefined ? {} : { TF_ENABLE_ONEDNN_OPTS: v });
    for (const [given, then] of [[undefined, '1'], ['', '1'], ['0', '0'], ['1', '1'], ['false', 'false']] as const) {
      const e = env(given);
      preferOneDnn(e);
      assert.equal(e.TF_ENABLE_ONEDNN_OPTS, then, `given ${given}`);
    }
  });
});
