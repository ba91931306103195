// bench/onednn-log.ts: oneDNN's verbose log read into per-layer timings,
// and TensorFlow's and PyTorch's compared layer by layer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparePrimitives, layerKey, msPerStep, parseOneDnnLog, summarise } from '../../bench/onednn-log';

const MDS = 'src:f32::blocked:acdb::f0 wei:f32:a:blocked:Acdb16a::f0 bia:undef::undef::: dst:f32::blocked:acdb::f0';
const conv = (prop: string, problem: string, ms: number, impl = 'brg_conv_fwd:avx2') =>
  `onednn_verbose,v1,primitive,exec,cpu,convolution,${impl},${prop},${MDS},attr-scratchpad:user,alg:convolution_direct,${problem},${ms}`;
const P1 = 'mb128_ic16oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1';
const STRIDED_TF = 'mb128_ic16oc32_ih32oh16kh3sh2dh0ph0_iw32ow16kw3sw2dw0pw0';
const STRIDED_TORCH = 'mb128_ic16oc32_ih32oh16kh3sh2dh0ph1_iw32ow16kw3sw2dw0pw1';

test('parseOneDnnLog reads the version and the run lines, and nothing else', () => {
  const text = [
    'onednn_verbose,v1,info,oneDNN v3.7.3 (commit N/A)',
    'onednn_verbose,v1,info,cpu,runtime:threadpool,nthr:2',
    'onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation,prop_kind,memory_descriptors,attributes,auxiliary,problem_desc,exec_time',
    `onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,brg_conv_fwd:avx2,forward_training,${MDS},,alg:convolution_direct,${P1},0.5`,
    conv('forward_training', P1, 6.25),
    // With ONEDNN_VERBOSE_TIMESTAMP=1 a timestamp comes before `primitive`.
    `onednn_verbose,v1,1733600000000.5,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:cdba::f0 dst:f32::blocked:Acdb16a::f0,,,16x16x3x3,0.104`,
    '{"msPerStep": 400}',
    'onednn_verbose,v1,primitive,exec,cpu,convolution,truncated',
  ].join('\n');
  const log = parseOneDnnLog(text);
  assert.equal(log.version, 'v3.7.3');
  assert.deepEqual(log.runs, [
    { kind: 'convolution', impl: 'brg_conv_fwd:avx2', prop: 'forward_training', problem: P1, ms: 6.25 },
    { kind: 'reorder', impl: 'jit:uni', prop: 'undef', problem: '16x16x3x3', ms: 0.104 },
  ]);
  assert.deepEqual(parseOneDnnLog('no log here\n'), { version: null, runs: [] });
});

test('layerKey leaves the padding out, so that SAME (0, 1) and PyTorch (1, 1) stride-2 layers meet', () => {
  const key = (problem: string) => layerKey({ kind: 'convolution', prop: 'backward_data', problem });
  assert.equal(key(STRIDED_TF), key(STRIDED_TORCH));
  assert.notEqual(key(STRIDED_TF), key(P1));
  assert.notEqual(layerKey({ kind: 'convolution', prop: 'forward_training', problem: P1 }), key(P1));
});

test("summarise drops each layer's warm-up runs and gives calls per step, the median and the most common implementation", () => {
  // 1 warm-up step + 3 timed steps, two calls of P1 forward a step: the
  // first two runs (the warm-up's, slow as primitives are created) are left out.
  const times = [50, 40, 6, 7, 5, 9, 6, 100];
  const runs = parseOneDnnLog(
    times.map((ms, i) => conv('forward_training', P1, ms, i === 7 ? 'jit:avx2' : 'brg_conv_fwd:avx2')).join('\n'),
  ).runs;
  const [s] = summarise(runs, 1, 3);
  assert.equal(s.callsPerStep, 2);
  assert.equal(s.medianMs, 6.5); // median of 6, 7, 5, 9, 6, 100
  assert.equal(s.impl, 'brg_conv_fwd:avx2');
  assert.equal(msPerStep([s]), 13);
  assert.throws(() => summarise(runs, 1, 0), /steps > 0/);
});

test('comparePrimitives pairs the layers both ran, with PyTorch over bnlab as the ratio; msPerStep sums calls × median', () => {
  const log = (lines: string[]) => parseOneDnnLog(lines.join('\n')).runs;
  const ours = summarise(
    log([conv('forward_training', P1, 8), conv('backward_data', STRIDED_TF, 4), conv('backward_weights', P1, 10, 'jit:avx2')]),
    0,
    1,
  );
  const theirs = summarise(log([conv('forward_training', P1, 6), conv('backward_data', STRIDED_TORCH, 5)]), 0, 1);
  const rows = comparePrimitives(ours, theirs);
  assert.deepEqual(
    rows.map((r) => [r.prop, r.bnlabMs, r.torchMs, r.ratio]),
    [
      ['forward_training', 8, 6, 0.75],
      ['backward_data', 4, 5, 1.25],
    ],
  );
  assert.equal(msPerStep(ours), 22);
  assert.equal(
    msPerStep(ours, (s) => s.prop === 'backward_weights'),
    10,
  );
});
