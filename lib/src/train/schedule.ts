/**
 * Learning-rate schedules, as functions of the fraction of training done, so
 * a schedule means the same thing for a 2-epoch smoke run and a 160-epoch
 * paper run. The paper drops the rate when learning slows; its figures show a
 * drop at 50% of training.
 */
export type LrSchedule =
  | { kind: 'constant' }
  /** Multiply by `factor` at each fraction of training in `at` (e.g. [0.5, 0.75]). */
  | { kind: 'step'; at: number[]; factor: number };

export function checkSchedule(s: LrSchedule): void {
  if (s.kind === 'constant') return;
  if (s.kind === 'step') {
    if (!(s.factor > 0 && s.factor <= 1)) throw new Error(`step schedule: factor must be in (0, 1], got ${s.factor}`);
    for (const a of s.at)
      if (!(a > 0 && a < 1)) throw new Error(`step schedule: drop points are fractions of training in (0, 1), got ${a}`);
    return;
  }
  throw new Error(`unknown learning-rate schedule ${JSON.stringify(s)}; use {kind: 'constant'} or {kind: 'step', at, factor}`);
}

/** The learning rate after `progress` ∈ [0, 1] of training. */
export function learningRateAt(base: number, schedule: LrSchedule, progress: number): number {
  if (schedule.kind === 'constant') return base;
  let lr = base;
  for (const a of schedule.at) if (progress >= a) lr *= schedule.factor;
  return lr;
}
