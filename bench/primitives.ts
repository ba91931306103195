/**
 * `npm run bench:primitives`: TensorFlow's oneDNN (bnlab's) against
 * PyTorch's, primitive by primitive, on the same ResNet-20 step (batch 128,
 * 2 threads). One bnlab process and one PyTorch-best process run with
 * ONEDNN_VERBOSE=1, and their logs are read into each layer's median time
 * per call (bench/onednn-log.ts). Prints JSON lines: the two libraries'
 * versions, then one line per layer both ran (bnlab's slowest first), then
 * the totals per step.
 *
 *   npm run bench:primitives [-- --norm batch|none] [--steps 10] [--warmup 3]
 *
 * bnlab runs synchronously here: queued, the weight gradients run on a
 * second queue beside the other ops (README, "Two queues"), and a primitive's
 * time would then include the other's share of the cores. PyTorch runs one
 * primitive at a time too. The step times these processes report are not
 * the benchmark's (`npm run bench -- --against torch` is): the log is
 * written while they run.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { withHugePages } from '../lib/src/backend/huge-pages';
import { comparePrimitives, msPerStep, parseOneDnnLog, summarise } from './onednn-log';
import { ensureTorch, TORCH_BENCH_SCRIPT, TORCH_CONFIGS, torchBenchArgs, torchBenchEnv, TorchNorm } from './torch';
import { eachOption } from './options';

const ROOT = path.resolve(__dirname, '..');

function parseArgs(argv: string[]): { norm: TorchNorm; steps: number; warmup: number } {
  const a = { norm: 'batch' as TorchNorm, steps: 10, warmup: 3 };
  eachOption(argv, (k, v) => {
    if (k === '--norm') a.norm = v() as TorchNorm;
    else if (k === '--steps') a.steps = Number(v());
    else if (k === '--warmup') a.warmup = Number(v());
    else throw new Error(`unknown option ${k} (--norm, --steps, --warmup)`);
  });
  if (!['batch', 'none'].includes(a.norm)) throw new Error(`--norm must be batch or none, got ${a.norm}`);
  if (!(Number.isInteger(a.steps) && a.steps > 0)) throw new Error(`--steps must be a positive integer, got ${a.steps}`);
  if (!(Number.isInteger(a.warmup) && a.warmup >= 1))
    throw new Error(`--warmup must be an integer ≥ 1 (the first step creates the primitives), got ${a.warmup}`);
  return a;
}

/** Runs one process with oneDNN's log on; returns what it printed (oneDNN logs to stdout). */
function logOf(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...env, ONEDNN_VERBOSE: '1' }, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status ?? r.signal}\n${r.stderr.toString().slice(-3000)}`);
  return r.stdout.toString() + '\n' + r.stderr.toString();
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const python = await ensureTorch(ROOT);
  const best = TORCH_CONFIGS.find((c) => c.name === 'best')!;
  const steps = ['--steps', String(a.steps), '--warmup', String(a.warmup)];
  console.error(
    `[bench] oneDNN's log of ${a.warmup} + ${a.steps} ResNet-20 steps (norm ${a.norm}): bnlab (synchronous), then PyTorch best`,
  );
  const bnlabLog = parseOneDnnLog(
    logOf(
      'the bnlab process',
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'train-throughput.ts'), '--one', a.norm, '--queue', 'off', ...steps],
      withHugePages({
        TF_CPP_MIN_LOG_LEVEL: '2',
        ...process.env,
      }),
    ),
  );
  const torchLog = parseOneDnnLog(
    logOf(
      'the PyTorch process',
      python,
      [TORCH_BENCH_SCRIPT, ...torchBenchArgs({ norm: a.norm, config: best, steps: a.steps, warmup: a.warmup, batch: 128, threads: 2 })],
      torchBenchEnv(best, 2),
    ),
  );
  for (const [name, log] of [
    ['bnlab (TensorFlow)', bnlabLog],
    ['PyTorch best', torchLog],
  ] as const) {
    if (log.runs.length === 0) {
      throw new Error(
        `${name} logged no oneDNN primitive: it ran without oneDNN (bnlab on the wasm fallback, or TF_ENABLE_ONEDNN_OPTS=0), or its oneDNN has no verbose mode`,
      );
    }
  }
  const ours = summarise(bnlabLog.runs, a.warmup, a.steps);
  const theirs = summarise(torchLog.runs, a.warmup, a.steps);
  console.log(
    JSON.stringify({ onednn: { bnlab: bnlabLog.version, torch: torchLog.version }, norm: a.norm, steps: a.steps, warmup: a.warmup }),
  );
  const rows = comparePrimitives(ours, theirs);
  for (const row of rows) console.log(JSON.stringify(row));
  const conv = (s: { kind: string }) => s.kind === 'convolution';
  const theirKeys = new Set(theirs.map((t) => t.key));
  console.log(
    JSON.stringify({
      total: 'ms per step in oneDNN (calls × median)',
      bnlabConvolutions: +msPerStep(ours, conv).toFixed(1),
      torchConvolutions: +msPerStep(theirs, conv).toFixed(1),
      bnlabAll: +msPerStep(ours).toFixed(1),
      torchAll: +msPerStep(theirs).toFixed(1),
      // Layers bnlab runs in oneDNN and PyTorch not (or with another
      // shape), with their ms per step: e.g. batch norm is oneDNN's in
      // TensorFlow's backward only. (At least once a step: not the
      // fast paths' one-off probes.)
      bnlabOnly: ours
        .filter((s) => s.callsPerStep >= 1 && !theirKeys.has(s.key))
        .map((s) => ({
          layer: `${s.kind} ${s.prop} ${s.problem}`,
          callsPerStep: +s.callsPerStep.toFixed(2),
          msPerStep: +(s.callsPerStep * s.medianMs).toFixed(2),
        })),
    }),
  );
}

main().catch((err) => {
  console.error(`[bench] ${err.message}`);
  process.exit(1);
});
