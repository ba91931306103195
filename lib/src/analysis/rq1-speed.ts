/**
 * RQ1's "BN converges faster": steps to a fixed test accuracy, BN at its
 * largest stable rate against no BN at its best.
 */
import type { TrainSummary } from '../experiments/runs';
import { pct } from '../util/format';
import { stepsToReach } from './convergence';
import type { SweepRow } from './sweep';

export interface SpeedRule {
  /** The target: this fraction of the lower of the two models' final mean test accuracies, so both reach it. */
  targetFraction: number;
  /** BN's mean steps to the target ÷ no BN's must be at most this, with every BN seed faster than every no-BN seed. */
  maxRatio: number;
}

export const DEFAULT_SPEED_RULE: SpeedRule = { targetFraction: 0.9, maxRatio: 0.75 };

/** One run's test accuracy at each epoch end, with its steps to the target (for the chart and the table). */
export type SpeedRun = {
  model: 'BN' | 'no BN';
  learningRate: number;
  seed: number;
  result: { epochs: readonly Pick<TrainSummary['epochs'][number], 'step' | 'testAccuracy'>[] };
  convergence: SweepRow['convergence'];
};

export interface SpeedVerdict {
  pass: boolean | null;
  target: number | null;
  /** Per run: steps to the target (null: never reached). */
  runs: { model: 'BN' | 'no BN'; learningRate: number; seed: number; stepsToTarget: number | null }[];
  /** Mean steps to the target, BN ÷ no BN (0 when undefined: the verdict is then inconclusive). */
  value: number;
  converged: boolean | null;
  threshold: string;
  note: string;
}

/** Rows for the chart: test accuracy against steps, per run. */
export function speedCurveRows(
  runs: readonly SpeedRun[],
): { config: string; model: string; seed: number; step: number; testAccuracy: number }[] {
  return runs.flatMap((r) =>
    r.result.epochs.map((e) => ({
      config: `${r.model}, lr ${r.learningRate}`,
      model: r.model,
      seed: r.seed,
      step: e.step,
      testAccuracy: e.testAccuracy,
    })),
  );
}

/**
 * "BN converges faster": BN at its largest stable rate against no BN at its
 * best rate, over seeds, in steps to a test accuracy both reach (the rule's
 * fraction of the lower final mean accuracy). Reproduced when BN's mean is
 * at most `maxRatio` × no BN's and every BN seed is faster than every no-BN
 * seed; not reproduced when BN's mean is no smaller than no BN's;
 * inconclusive otherwise, or when a run has not converged (its final
 * accuracy, and so the target, is not settled) or never reaches the target.
 */
export function speedVerdict(
  bnRuns: readonly SpeedRun[],
  noBnRuns: readonly SpeedRun[],
  rule: SpeedRule = DEFAULT_SPEED_RULE,
): SpeedVerdict {
  const threshold =
    `target = ${rule.targetFraction} × the lower final mean test accuracy of the two; reproduced if BN's mean steps to it ≤ ${rule.maxRatio} × no BN's and every BN seed is faster than every no-BN seed; ` +
    `not reproduced if BN's mean is no smaller; inconclusive otherwise, or if a run has not converged`;
  const finalAcc = (rs: readonly SpeedRun[]) => {
    const a = rs.map((r) => r.result.epochs[r.result.epochs.length - 1]?.testAccuracy).filter((x): x is number => Number.isFinite(x));
    return a.length === rs.length && a.length ? a.reduce((s, x) => s + x, 0) / a.length : null;
  };
  const accBn = finalAcc(bnRuns);
  const accNoBn = finalAcc(noBnRuns);
  const all = [...bnRuns, ...noBnRuns];
  const converged = all.length ? all.every((r) => r.convergence === 'converged') : null;
  if (accBn === null || accNoBn === null) {
    return {
      pass: null,
      target: null,
      runs: [],
      value: 0,
      converged,
      threshold,
      note: 'Inconclusive: a model has no completed run to compare.',
    };
  }
  const target = rule.targetFraction * Math.min(accBn, accNoBn);
  const runs = all.map((r) => ({
    model: r.model,
    learningRate: r.learningRate,
    seed: r.seed,
    stepsToTarget: stepsToReach(r.result.epochs, target),
  }));
  const steps = (m: 'BN' | 'no BN') => runs.filter((r) => r.model === m).map((r) => r.stepsToTarget);
  const sb = steps('BN');
  const sn = steps('no BN');
  const reached = [...sb, ...sn].every((x) => x !== null);
  const mean = (v: (number | null)[]) => (v as number[]).reduce((s, x) => s + x, 0) / v.length;
  const ratio = reached ? mean(sb) / mean(sn) : null;
  const separated = reached && Math.max(...(sb as number[])) < Math.min(...(sn as number[]));
  const decided = converged === true && ratio !== null;
  const pass = !decided ? null : ratio! <= rule.maxRatio && separated ? true : ratio! >= 1 ? false : null;
  const fmtSteps = (v: (number | null)[]) => v.map((x) => (x === null ? 'never' : String(Math.round(x)))).join(', ');
  const unconv = all
    .filter((r) => r.convergence !== 'converged')
    .map((r) => `${r.model} lr ${r.learningRate} seed ${r.seed} (${r.convergence ?? 'not judged'})`);
  const note =
    `Target ${pct(target)} (${rule.targetFraction} × min(BN ${pct(accBn)}, no BN ${pct(accNoBn)})). Steps to it: BN at lr ${bnRuns[0].learningRate} ${fmtSteps(sb)}; no BN at lr ${noBnRuns[0].learningRate} ${fmtSteps(sn)}` +
    (ratio !== null ? `; mean ratio ${ratio.toFixed(2)}${separated ? ', every BN seed faster' : ', the seeds overlap'}.` : '.') +
    (unconv.length ? ` Inconclusive: not converged: ${unconv.join('; ')}.` : '') +
    (!reached ? ' Inconclusive: a run never reached the target.' : '');
  return { pass, target, runs, value: ratio ?? 0, converged, threshold, note };
}
