/**
 * `npm run bench:hugepages`: what glibc's transparent huge pages
 * (`glibc.malloc.hugetlb=1`, lib/src/backend/huge-pages.ts) buy a ResNet-20
 * training step (batch 128, as `npm run bench`), in bnlab and in PyTorch best.
 *
 *   npm run bench:hugepages [-- --norms batch,none] [--rounds 6] [--steps 20] [--warmup 4] [--no-torch]
 *
 * glibc reads the tunable as a process starts, so the A/B is between
 * processes, not steps (bench/process-ab.ts): each round runs one process
 * with huge pages and one without, per framework and model, in an order
 * that flips every round. The ratio is the median over rounds of without /
 * with: above 1 means huge pages help. One JSON line per process, then one
 * per framework and model with the ratios.
 */
import path from 'node:path';
import { runBnlabChild } from './child-output';
import { AB_OPTIONS, AbArm, alternateProcesses, parseAbArgs } from './process-ab';
import { ensureTorch, runTorchBench, TORCH_CONFIGS } from './torch';

const ROOT = path.resolve(__dirname, '..');

async function main() {
  let torch = true;
  const noTorch = (k: string) => {
    if (k !== '--no-torch') return false;
    torch = false;
    return true;
  };
  const a = parseAbArgs(process.argv.slice(2), noTorch, `${AB_OPTIONS}, --no-torch`);
  if (torch) await ensureTorch(ROOT);
  const best = TORCH_CONFIGS.find((c) => c.name === 'best')!;
  const steps = ['--steps', String(a.steps), '--warmup', String(a.warmup)];
  const arms: AbArm[] = [
    { framework: 'bnlab', run: (norm, on) => runBnlabChild(norm, steps, on) },
    ...(torch
      ? [
          {
            framework: 'torch',
            run: (norm: 'batch' | 'none', on: boolean) =>
              runTorchBench({ norm, config: { ...best, hugePages: on }, steps: a.steps, warmup: a.warmup, batch: 128, threads: 2 }),
          },
        ]
      : []),
  ];
  console.error(
    `[bench:hugepages] ${a.rounds} rounds; per round, per model and framework, one process with huge pages and one without (${a.warmup} warm-up + ${a.steps} timed steps each)`,
  );
  const summaries = await alternateProcesses(
    arms,
    a.norms,
    a.rounds,
    (r, round, on) => console.log(JSON.stringify({ ...r, round, hugePagesAsked: on })),
    (round) => console.error(`[bench:hugepages] round ${round} of ${a.rounds}`),
  );
  for (const s of summaries) console.log(JSON.stringify({ compare: 'without / with huge pages', ...s }));
}

main().catch((err) => {
  console.error(`[bench:hugepages] ${err.message}`);
  process.exit(1);
});
