/**
 * A/B between processes, for settings a process reads once as it starts
 * (glibc's tunables, TensorFlow's environment variables): per round, one
 * process with the setting and one without, per model (and framework), in
 * an order that flips every round, so that neither side always runs first
 * and a drift of the machine within a pair lands on both sides. The ratio is
 * the median over rounds of without / with: above 1 means the setting helps.
 * `npm run bench:hugepages` (huge-pages-ab.ts) and `npm run bench:env`
 * (env-ab.ts) are built on it.
 */
import { median } from './median';
import { eachOption } from './options';

export type AbNorm = 'batch' | 'none';

/** The options every process A/B takes. */
export interface AbArgs {
  norms: AbNorm[];
  rounds: number;
  steps: number;
  warmup: number;
}

export const AB_OPTIONS = '--norms, --rounds, --steps, --warmup';

/**
 * Reads the options every process A/B takes; `other` reads the rest (it
 * gets the option and a reader of its value, and says whether it knew it).
 */
export function parseAbArgs(argv: readonly string[], other: (k: string, value: () => string) => boolean, usage: string): AbArgs {
  const a: AbArgs = { norms: ['batch', 'none'], rounds: 6, steps: 20, warmup: 4 };
  eachOption(argv, (k, v) => {
    if (k === '--norms' || k === '--norm') a.norms = v().split(',') as AbNorm[];
    else if (k === '--rounds') a.rounds = Number(v());
    else if (k === '--steps') a.steps = Number(v());
    else if (k === '--warmup') a.warmup = Number(v());
    else if (!other(k, v)) throw new Error(`unknown option ${k} (${usage})`);
  });
  for (const n of a.norms) if (n !== 'batch' && n !== 'none') throw new Error(`--norms takes batch and none, got ${n}`);
  if (!(Number.isInteger(a.rounds) && a.rounds >= 1)) throw new Error(`--rounds must be a whole number ≥ 1, got ${a.rounds}`);
  if (!(Number.isInteger(a.steps) && a.steps >= 5)) throw new Error(`--steps must be a whole number ≥ 5, got ${a.steps}`);
  if (!(Number.isInteger(a.warmup) && a.warmup >= 1)) throw new Error(`--warmup must be a whole number ≥ 1, got ${a.warmup}`);
  return a;
}

/** One side of the comparison: a process of `framework` on `norm`, with the setting (on) or without. */
export interface AbArm {
  framework: string;
  run(norm: AbNorm, on: boolean): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** Per framework and model: the ratio over rounds, and each side's median ms per step. */
export interface AbSummary {
  framework: string;
  norm: AbNorm;
  ratio: number;
  msPerStepWith: number;
  msPerStepWithout: number;
  rounds: number;
  perRound: number[];
}

/**
 * Runs the rounds; `onResult` gets every process's result line (with its
 * round and side) as it comes. Round r runs without-then-with when r is odd,
 * with-then-without when it is even.
 */
export async function alternateProcesses(
  arms: readonly AbArm[],
  norms: readonly AbNorm[],
  rounds: number,
  onResult: (result: Record<string, unknown>, round: number, on: boolean) => void,
  onRound: (round: number) => void = () => {},
): Promise<AbSummary[]> {
  const ms = new Map<string, { framework: string; norm: AbNorm; on: number[]; off: number[] }>();
  for (let round = 1; round <= rounds; round++) {
    onRound(round);
    for (const norm of norms) {
      for (const arm of arms) {
        const key = `${arm.framework} ${norm}`;
        if (!ms.has(key)) ms.set(key, { framework: arm.framework, norm, on: [], off: [] });
        for (const on of round % 2 === 1 ? [false, true] : [true, false]) {
          const r = await arm.run(norm, on);
          const msPerStep = r.msPerStep;
          if (typeof msPerStep !== 'number' || !(msPerStep > 0)) throw new Error(`a ${arm.framework} ${norm} process gave no msPerStep`);
          onResult(r, round, on);
          ms.get(key)![on ? 'on' : 'off'].push(msPerStep);
        }
      }
    }
  }
  return [...ms.values()].map(({ framework, norm, on, off }) => {
    const perRound = on.map((m, i) => +(off[i] / m).toFixed(3));
    return {
      framework,
      norm,
      ratio: +median(perRound).toFixed(3),
      msPerStepWith: +median(on).toFixed(1),
      msPerStepWithout: +median(off).toFixed(1),
      rounds,
      perRound,
    };
  });
}
