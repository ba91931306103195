/**
 * PyTorch (CPU) side of `npm run bench -- --against torch`.
 *
 * The same ResNet-20, batch, optimiser and synthetic-data protocol as bnlab's
 * bench, trained by bench/torch/resnet_bench.py in the project's .venv. torch
 * is installed there only when this option is used (bench/torch/requirements.txt,
 * with the project's requirements.txt as constraints).
 *
 * Every model runs in a fresh Python process: a model trained after another
 * one in the same process inherits a grown heap and looks faster.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { withHugePages } from '../lib/src/backend/huge-pages';
import { resultLine } from './child-output';

export interface TorchConfig {
  /** 'default': what a user gets out of the box; 'best': the fastest setting found on this machine. */
  name: 'default' | 'best';
  /** NHWC (torch.channels_last) for the model and the input, instead of NCHW. */
  channelsLast: boolean;
  /** Run with GLIBC_TUNABLES = MALLOC_TUNABLES (otherwise GLIBC_TUNABLES is removed from the environment). */
  mallocTunables: boolean;
  /**
   * Also glibc's transparent huge pages (`glibc.malloc.hugetlb=1`), which
   * bnlab's processes get (lib/src/backend/huge-pages.ts). Not in best:
   * `npm run bench:hugepages` found PyTorch's step no faster with them
   * (README, "Huge pages"), and best is PyTorch's fastest setting found.
   */
  hugePages: boolean;
}

/**
 * glibc malloc settings for a large, stable heap: buffers up to 32 MiB come
 * from the heap rather than fresh mmaps, and the heap is never trimmed, so a
 * training step reuses memory instead of page-faulting it in again. Without
 * them PyTorch's BN training step here is mostly page faults.
 */
export const MALLOC_TUNABLES =
  'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296:glibc.malloc.top_pad=268435456';

export const TORCH_CONFIGS: TorchConfig[] = [
  { name: 'default', channelsLast: false, mallocTunables: false, hugePages: false },
  { name: 'best', channelsLast: true, mallocTunables: true, hugePages: false },
];

/** The torch build bench/torch/requirements.txt pins. */
export const TORCH_VERSION = '2.13.0+cpu';

const ROOT = path.resolve(__dirname, '..');
export const TORCH_BENCH_SCRIPT = path.join(ROOT, 'bench', 'torch', 'resnet_bench.py');

export function venvPython(root: string = ROOT): string {
  return path.join(root, '.venv', 'bin', 'python');
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; echoStderr?: boolean } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (opts.echoStderr) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function tail(s: string, n = 3000): string {
  return s.length > n ? '…' + s.slice(-n) : s;
}

/** The torch version importable by `python`, or null when there is none. */
export async function torchVersion(python: string): Promise<string | null> {
  if (!fs.existsSync(python)) return null;
  const r = await run(python, ['-W', 'ignore', '-c', 'import torch, sys; sys.stdout.write(torch.__version__)']);
  return r.code === 0 ? r.stdout.trim() : null;
}

const ensured = new Map<string, Promise<string>>();

/**
 * Makes sure the pinned torch is importable in `<root>/.venv` and returns that
 * Python's path. Installs bench/torch/requirements.txt (with requirements.txt
 * as constraints) when torch is missing or another version; otherwise does
 * nothing. Memoised per root.
 */
export function ensureTorch(root: string = ROOT): Promise<string> {
  const key = path.resolve(root);
  let p = ensured.get(key);
  if (!p) {
    p = ensureTorchUncached(key);
    ensured.set(key, p);
    p.catch(() => ensured.delete(key));
  }
  return p;
}

async function ensureTorchUncached(root: string): Promise<string> {
  const python = venvPython(root);
  if (!fs.existsSync(python)) {
    throw new Error(`${python} is missing: the project's Python environment has not been created; run \`npm run setup\` first`);
  }
  const have = await torchVersion(python);
  if (have === TORCH_VERSION) return python;
  const reqs = path.join(root, 'bench', 'torch', 'requirements.txt');
  const constraints = path.join(root, 'requirements.txt');
  console.error(
    `[bench] ${have ? `torch ${have} in .venv is not the pinned ${TORCH_VERSION}` : 'torch is not installed in .venv'}; ` +
      `installing bench/torch/requirements.txt (only needed for --against torch)`,
  );
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '-r', reqs];
  if (fs.existsSync(constraints)) args.push('-c', constraints);
  const r = await run(python, args, { cwd: root, echoStderr: true });
  if (r.code !== 0) {
    throw new Error(
      `installing torch into .venv failed (pip exited with ${r.code ?? r.signal}). ` +
        `If pip cannot find ${TORCH_VERSION}, point it at PyTorch's CPU wheels: ` +
        `PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu npm run bench -- --against torch\n${tail(r.stdout + r.stderr)}`,
    );
  }
  const now = await torchVersion(python);
  if (now !== TORCH_VERSION) throw new Error(`after installing bench/torch/requirements.txt, .venv has torch ${now ?? '(none)'} instead of ${TORCH_VERSION}`);
  return python;
}

/** bnlab's Norm: BN after every conv, none (convs get a bias), or one BN before the classifier. */
export type TorchNorm = 'batch' | 'none' | 'final-only';

export interface TorchBenchOptions {
  norm: TorchNorm;
  config: TorchConfig;
  /** Timed steps, after the warm-up. */
  steps: number;
  /** Untimed steps first. */
  warmup: number;
  batch: number;
  threads: number;
  seed?: number;
  /** Include msPerStepAll (every timed step's ms) in the result. */
  allSteps?: boolean;
  /** Python to use; by default ensureTorch(root) (which installs torch if needed). */
  python?: string;
  root?: string;
}

/** The environment a torch bench process gets: GLIBC_TUNABLES only when the config asks for it. */
export function torchBenchEnv(config: TorchConfig, threads: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  let env: NodeJS.ProcessEnv = { ...base };
  delete env.GLIBC_TUNABLES;
  if (config.mallocTunables) env.GLIBC_TUNABLES = MALLOC_TUNABLES;
  if (config.hugePages) env = withHugePages(env);
  // torch.set_num_threads() decides, but OpenMP/MKL should not start more threads before it runs.
  env.OMP_NUM_THREADS = String(threads);
  env.MKL_NUM_THREADS = String(threads);
  return env;
}

export function torchBenchArgs(o: Omit<TorchBenchOptions, 'python' | 'root'>): string[] {
  const args = [
    '--norm', o.norm,
    '--steps', String(o.steps),
    '--warmup', String(o.warmup),
    '--batch', String(o.batch),
    '--threads', String(o.threads),
    '--config', o.config.name,
  ];
  if (o.seed !== undefined) args.push('--seed', String(o.seed));
  if (o.config.channelsLast) args.push('--channels-last');
  if (o.allSteps) args.push('--all-steps');
  return args;
}

/**
 * Trains one model in one fresh Python process and returns its JSON line:
 * { framework: 'torch', backend: 'cpu', model: 'resnet20', norm, input, batch,
 *   imagesPerSec, msPerStep (median of the timed steps), gflopsPerSec, steps,
 *   warmup, config, memoryFormat: 'nchw' | 'channels_last', mallocTunables,
 *   hugePages, hugePageKb,
 *   threads, macsPerImageForward, gflopPerStep, msPerStepMin, msPerStepMax,
 *   lossFirst, lossLast, pageFaultsPerStep, peakRssMB, torchVersion, python,
 *   msPerStepAll? }.
 */
export async function runTorchBench(opts: TorchBenchOptions): Promise<Record<string, unknown>> {
  const root = opts.root ?? ROOT;
  const python = opts.python ?? (await ensureTorch(root));
  const script = path.join(root, 'bench', 'torch', 'resnet_bench.py');
  const r = await run(python, [script, ...torchBenchArgs(opts)], { cwd: root, env: torchBenchEnv(opts.config, opts.threads) });
  const what = `torch bench (norm=${opts.norm}, config=${opts.config.name})`;
  if (r.code !== 0) throw new Error(`${what} exited with ${r.code ?? r.signal}\n${tail(r.stderr)}`);
  const result = resultLine(r.stdout);
  if (!result || typeof result.msPerStep !== 'number') throw new Error(`${what} printed no result line\n${tail(r.stdout + r.stderr)}`);
  return result;
}

/** Multiply-adds of one image's forward pass, as the Python script counts them (convs + linear). */
export async function torchMacsPerImage(python: string, norm: TorchNorm = 'batch', root: string = ROOT): Promise<number> {
  const r = await run(python, [path.join(root, 'bench', 'torch', 'resnet_bench.py'), '--count-macs', '--norm', norm], { cwd: root });
  const v = r.code === 0 ? resultLine(r.stdout) : null;
  if (!v || typeof v.macsPerImageForward !== 'number') throw new Error(`--count-macs failed\n${tail(r.stdout + r.stderr)}`);
  return v.macsPerImageForward;
}
