// The PyTorch side of `npm run bench -- --against torch`. Skipped unless torch
// is already installed in .venv: `npm test` never installs it (the bench does,
// on first use of --against torch).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { HUGE_PAGES_TUNABLE } from '../../lib/src/backend/huge-pages';
import { MALLOC_TUNABLES, TORCH_CONFIGS, TORCH_VERSION, runTorchBench, torchBenchEnv, torchMacsPerImage, venvPython } from '../../bench/torch';

const root = path.resolve(__dirname, '..', '..');
const python = venvPython(root);

function torchSkipReason(): string | false {
  if (!fs.existsSync(python)) return '.venv is missing (run `npm run setup`)';
  const r = spawnSync(python, ['-W', 'ignore', '-c', 'import torch, sys; sys.stdout.write(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return 'torch is not installed in .venv (`npm run bench -- --against torch` installs it)';
  if (r.stdout.trim() !== TORCH_VERSION) return `.venv has torch ${r.stdout.trim()}, not the pinned ${TORCH_VERSION}`;
  return false;
}
const skip = torchSkipReason();

// Conv + linear multiply-adds of ResNet-20 on 32×32×3, counted by hand:
// stem 32·32·16·27, stage 1: 6 convs 32·32·16·144, stages 2 and 3: a strided
// conv and 5 convs of 2 359 296 each, then 64·10 for the linear layer.
const EXPECTED_MACS = 32 * 32 * 16 * 27 + 6 * 32 * 32 * 16 * 144 + 2 * (1_179_648 + 5 * 2_359_296) + 64 * 10;

test('the default config does not inherit GLIBC_TUNABLES; best sets the malloc tunables, and huge pages only when asked', () => {
  const base = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=1', PATH: '/usr/bin' };
  const [def, best] = [TORCH_CONFIGS.find((c) => c.name === 'default')!, TORCH_CONFIGS.find((c) => c.name === 'best')!];
  assert.equal(torchBenchEnv(def, 2, base).GLIBC_TUNABLES, undefined);
  assert.equal(torchBenchEnv(best, 2, base).GLIBC_TUNABLES, MALLOC_TUNABLES);
  assert.equal(torchBenchEnv({ ...best, hugePages: true }, 2, base).GLIBC_TUNABLES, `${MALLOC_TUNABLES}:${HUGE_PAGES_TUNABLE}`);
  assert.equal(def.channelsLast, false);
  assert.equal(best.channelsLast, true);
});

test('--count-macs: ResNet-20 forward is 40.55 M conv + linear multiply-adds per image', { skip }, async () => {
  assert.equal(EXPECTED_MACS, 40_551_040);
  for (const norm of ['batch', 'none'] as const) {
    const macs = await torchMacsPerImage(python, norm, root);
    assert.equal(macs, EXPECTED_MACS, `norm=${norm}`);
  }
});

test('a 2-step run returns a well-formed result line', { skip, timeout: 120_000 }, async () => {
  const r = await runTorchBench({ norm: 'batch', config: TORCH_CONFIGS[1], steps: 2, warmup: 1, batch: 8, threads: 1, allSteps: true, python, root });
  assert.equal(r.framework, 'torch');
  assert.equal(r.model, 'resnet20');
  assert.equal(r.norm, 'batch');
  assert.deepEqual(r.input, [32, 32, 3]);
  assert.equal(r.batch, 8);
  assert.equal(r.steps, 2);
  assert.equal(r.warmup, 1);
  assert.equal(r.config, 'best');
  assert.equal(r.memoryFormat, 'channels_last');
  assert.equal(r.mallocTunables, true);
  assert.equal(r.hugePages, false);
  assert.ok(r.hugePageKb === null || typeof r.hugePageKb === 'number', `hugePageKb = ${r.hugePageKb}`);
  assert.equal(r.threads, 1);
  assert.equal(r.macsPerImageForward, EXPECTED_MACS);
  for (const k of ['imagesPerSec', 'msPerStep', 'gflopsPerSec', 'lossFirst', 'lossLast']) {
    assert.ok(typeof r[k] === 'number' && Number.isFinite(r[k]) && (r[k] as number) > 0, `${k} = ${r[k]}`);
  }
  assert.ok(Math.abs((r.imagesPerSec as number) - 8000 / (r.msPerStep as number)) < 1e-6);
  assert.ok(Array.isArray(r.msPerStepAll) && r.msPerStepAll.length === 2);
});

test('with huge pages asked for, the run keeps the malloc tunables and says it had both', { skip, timeout: 120_000 }, async () => {
  const best = TORCH_CONFIGS.find((c) => c.name === 'best')!;
  const r = await runTorchBench({ norm: 'none', config: { ...best, hugePages: true }, steps: 2, warmup: 1, batch: 8, threads: 1, python, root });
  assert.equal(r.mallocTunables, true);
  assert.equal(r.hugePages, true);
});
