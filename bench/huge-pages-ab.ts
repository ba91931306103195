/**
 * `npm run bench:hugepages`: what glibc's transparent huge pages
 * (`glibc.malloc.hugetlb=1`, lib/src/backend/huge-pages.ts) buy a ResNet-20
 * training step (batch 128, as `npm run bench`), in bnlab and in PyTorch best.
 *
 *   npm run bench:hugepages [-- --norms batch,none] [--rounds 6] [--steps 20] [--warmup 4] [--no-torch]
 *
 * glibc reads the tunable as a process starts, so the A/B is between
 * processes, not steps: each round runs one process with huge pages and one
 * without, per framework and model, and the order within a pair flips every
 * round, so that neither side always runs first. The ratio is the median
 * over rounds of without / with: above 1 means huge pages help. One JSON
 * line per process, then one per framework and model with the ratios.
 */
import path from 'node:path';
import { runBnlabChild } from './child-output';
import { median } from './median';
import { ensureTorch, runTorchBench, TORCH_CONFIGS, TorchNorm } from './torch';

const ROOT = path.resolve(__dirname, '..');

interface Args {
  norms: TorchNorm[];
  rounds: number;
  steps: number;
  warmup: number;
  torch: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { norms: ['batch', 'none'], rounds: 6, steps: 20, warmup: 4, torch: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--norms' || k === '--norm') a.norms = v().split(',') as TorchNorm[];
    else if (k === '--rounds') a.rounds = Number(v());
    else if (k === '--steps') a.steps = Number(v());
    else if (k === '--warmup') a.warmup = Number(v());
    else if (k === '--no-torch') a.torch = false;
    else throw new Error(`unknown option ${k} (--norms, --rounds, --steps, --warmup, --no-torch)`);
  }
  for (const n of a.norms) if (n !== 'batch' && n !== 'none') throw new Error(`--norms takes batch and none, got ${n}`);
  if (!(Number.isInteger(a.rounds) && a.rounds >= 1)) throw new Error(`--rounds must be a whole number ≥ 1, got ${a.rounds}`);
  if (!(Number.isInteger(a.steps) && a.steps >= 5)) throw new Error(`--steps must be a whole number ≥ 5, got ${a.steps}`);
  if (!(Number.isInteger(a.warmup) && a.warmup >= 1)) throw new Error(`--warmup must be a whole number ≥ 1, got ${a.warmup}`);
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.torch) await ensureTorch(ROOT);
  const best = TORCH_CONFIGS.find((c) => c.name === 'best')!;
  const frameworks: { name: 'bnlab' | 'torch'; run: (norm: TorchNorm, on: boolean) => Promise<Record<string, unknown>> }[] = [
    { name: 'bnlab', run: async (norm, on) => runBnlabChild(norm, ['--steps', String(a.steps), '--warmup', String(a.warmup)], on) },
    ...(a.torch
      ? [
          {
            name: 'torch' as const,
            run: (norm: TorchNorm, on: boolean) =>
              runTorchBench({ norm, config: { ...best, hugePages: on }, steps: a.steps, warmup: a.warmup, batch: 128, threads: 2 }),
          },
        ]
      : []),
  ];
  console.error(
    `[bench:hugepages] ${a.rounds} rounds; per round, per model and framework, one process with huge pages and one without (${a.warmup} warm-up + ${a.steps} timed steps each)`,
  );
  const ms = new Map<string, { on: number[]; off: number[] }>();
  for (let round = 1; round <= a.rounds; round++) {
    console.error(`[bench:hugepages] round ${round} of ${a.rounds}`);
    for (const norm of a.norms) {
      for (const f of frameworks) {
        const key = `${f.name} ${norm}`;
        if (!ms.has(key)) ms.set(key, { on: [], off: [] });
        // Flip the order every round: a drift within the pair then lands on both sides.
        for (const on of round % 2 === 1 ? [false, true] : [true, false]) {
          const r = await f.run(norm, on);
          console.log(JSON.stringify({ ...r, round, hugePagesAsked: on }));
          ms.get(key)![on ? 'on' : 'off'].push(r.msPerStep as number);
        }
      }
    }
  }
  for (const [key, { on, off }] of ms) {
    const [framework, norm] = key.split(' ');
    const perRound = on.map((m, i) => +(off[i] / m).toFixed(3));
    console.log(
      JSON.stringify({
        compare: 'without / with huge pages',
        framework,
        norm,
        ratio: +median(perRound).toFixed(3),
        msPerStepWith: +median(on).toFixed(1),
        msPerStepWithout: +median(off).toFixed(1),
        rounds: a.rounds,
        perRound,
      }),
    );
  }
}

main().catch((err) => {
  console.error(`[bench:hugepages] ${err.message}`);
  process.exit(1);
});
