/**
 * Progress for long training runs, as TrainCallbacks: one line at most every
 * `everySeconds`, with the step, loss, learning rate and time remaining, and
 * one line per epoch. Notebooks use an in-place display instead; a terminal
 * gets these lines on stderr, so stdout stays clean for results.
 */
import { EpochRecord, StepRecord, TrainCallbacks, TrainResult } from './loop';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** "diverged at step 312: mini-batch loss is NaN", for progress lines and displays. */
export function divergenceNote(d: NonNullable<TrainResult['divergence']>): string {
  return `diverged at step ${d.step}: ${d.reason}`;
}

export function consoleProgress(label: string, opts: { everySeconds?: number; write?: (line: string) => void } = {}): TrainCallbacks {
  const every = (opts.everySeconds ?? 5) * 1000;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const start = Date.now();
  let last = 0;
  return {
    onStep(s: StepRecord, total: number) {
      const now = Date.now();
      if (now - last < every && s.step !== total) return;
      last = now;
      const elapsed = (now - start) / 1000;
      const eta = (elapsed / s.step) * (total - s.step);
      write(
        `[${label}] step ${s.step}/${total}  loss ${s.loss.toPrecision(4)}  lr ${+s.learningRate.toPrecision(3)}  ${formatDuration(elapsed)} elapsed, ${formatDuration(eta)} left`,
      );
    },
    onEpoch(e: EpochRecord, total: number) {
      write(
        `[${label}] epoch ${e.epoch}/${total}  train loss ${e.trainLoss.toFixed(4)} acc ${(100 * e.trainAccuracy).toFixed(1)}%  test loss ${e.testLoss.toFixed(4)} acc ${(100 * e.testAccuracy).toFixed(1)}%  (${e.seconds.toFixed(1)} s)`,
      );
    },
    onEnd(r: TrainResult) {
      // A completed run's last step and epoch lines say it all; a diverged one stops mid-epoch, unannounced otherwise.
      if (r.divergence) write(`[${label}] ${divergenceNote(r.divergence)} (${formatDuration(r.seconds)})`);
    },
  };
}
