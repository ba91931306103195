/**
 * Training progress in a notebook as ONE output that updates in place (a
 * display with an id, then update_display_data), instead of a stream line
 * per step: thousands of steps would otherwise bury the cell and bloat the
 * saved notebook. The status is re-rendered at most every `everySeconds`
 * (default 0.5 s), at once for an epoch, the last step or a non-finite
 * loss, and the last throttled state is flushed shortly after.
 * Outside a kernel the same callbacks print lines to stderr (consoleProgress).
 *
 * Besides HTML and text, each state carries a ProgressRecord (./mime) as
 * JSON: the executed notebook keeps the last one, and the report folds a
 * cell's runs into one line from them ("26 runs, 2 diverged, 4 min 34 s").
 */
import { randomBytes } from 'node:crypto';
import type { EpochRecord, StepRecord, TrainCallbacks } from '../train/loop';
import { consoleProgress, divergenceNote, formatDuration } from '../train/progress';
import { pct } from '../util/format';
import { kernelChannel } from './kernel';
import { PROGRESS_MIME, type ProgressRecord, type ProgressState } from './mime';

export interface LiveProgress extends Required<TrainCallbacks> {
  /** Renders the final state now, with an optional closing note (e.g. 'diverged at step 312'). */
  finish(note?: string): void;
}

interface Status {
  label: string;
  step?: StepRecord;
  totalSteps?: number;
  epoch?: EpochRecord;
  totalEpochs?: number;
  elapsed: number;
  note?: string;
  /** Set when the run ended (onEnd) or the progress was finished by hand; running until then. */
  state?: ProgressState;
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The status as lines of text: the current step, then the last epoch's metrics. */
export function statusLines(s: Status): string[] {
  const lines: string[] = [];
  if (s.step && s.totalSteps) {
    const { step, loss, learningRate, epoch } = s.step;
    const eta = (s.elapsed / step) * (s.totalSteps - step);
    const epochPart = s.totalEpochs ? `  epoch ${epoch}/${s.totalEpochs}` : `  epoch ${epoch}`;
    const lossText = Number.isFinite(loss) ? loss.toPrecision(4) : String(loss);
    const timing =
      step < s.totalSteps ? `${formatDuration(s.elapsed)} elapsed, ${formatDuration(eta)} left` : `${formatDuration(s.elapsed)}`;
    lines.push(`step ${step}/${s.totalSteps}${epochPart}  loss ${lossText}  lr ${+learningRate.toPrecision(3)}  ${timing}`);
  } else {
    lines.push('starting…');
  }
  if (s.epoch) {
    const e = s.epoch;
    lines.push(
      `epoch ${e.epoch}${s.totalEpochs ? `/${s.totalEpochs}` : ''}: train loss ${e.trainLoss.toFixed(4)} acc ${pct(e.trainAccuracy)}  test loss ${e.testLoss.toFixed(4)} acc ${pct(e.testAccuracy)}`,
    );
  }
  if (s.note) lines.push(s.note);
  return lines;
}

const finiteOrNull = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);

/** The machine-readable state (what PROGRESS_MIME holds). */
export function progressRecord(s: Status): ProgressRecord {
  return {
    label: s.label,
    state: s.state ?? 'running',
    step: s.step?.step ?? 0,
    totalSteps: s.totalSteps ?? null,
    epoch: s.epoch?.epoch ?? null,
    totalEpochs: s.totalEpochs ?? null,
    seconds: s.elapsed,
    loss: finiteOrNull(s.step?.loss),
    testAccuracy: finiteOrNull(s.epoch?.testAccuracy),
    note: s.note ?? null,
  };
}

function progressBar(fraction: number, cells = 24): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * cells);
  return '█'.repeat(full) + '░'.repeat(cells - full);
}

/** The display bundle: HTML for JupyterLab, plain text for everything else, and the record for the report. */
export function statusBundle(s: Status): Record<string, unknown> {
  const lines = statusLines(s);
  const fraction = s.step && s.totalSteps ? s.step.step / s.totalSteps : 0;
  const diverged = s.state === 'diverged' || (s.step !== undefined && !Number.isFinite(s.step.loss));
  const head = `${s.label} ${progressBar(fraction)} ${Math.floor(100 * fraction)}%`;
  const html =
    `<div style="font-family: monospace; font-size: 12px; line-height: 1.45">` +
    `<b>${escapeHtml(s.label)}</b> <span style="color: ${diverged ? '#c00' : '#1f77b4'}">${progressBar(fraction)}</span> ${Math.floor(100 * fraction)}%<br>` +
    lines
      .map((l, i) =>
        i === lines.length - 1 && s.note ? `<span style="color: ${diverged ? '#c00' : '#333'}">${escapeHtml(l)}</span>` : escapeHtml(l),
      )
      .join('<br>') +
    `</div>`;
  // JupyterLab, nbconvert and GitHub have no renderer for PROGRESS_MIME and pick the HTML.
  return { [PROGRESS_MIME]: progressRecord(s), 'text/html': html, 'text/plain': [head, ...lines].join('\n') };
}

/**
 * TrainCallbacks that show a live status line in the notebook, e.g.
 * `await bn.train(model, data, config, bn.liveProgress('ResNet-20, BN'))`.
 */
export function liveProgress(label = 'training', opts: { everySeconds?: number } = {}): LiveProgress {
  const channel = kernelChannel();
  if (!channel) {
    const lines = consoleProgress(label);
    return {
      onStep: (s, total) => lines.onStep?.(s, total),
      onEpoch: (e, total) => lines.onEpoch?.(e, total),
      onEnd: (r) => lines.onEnd?.(r),
      finish: (note) => {
        if (note) process.stderr.write(`[${label}] ${note}\n`);
      },
    };
  }
  const every = (opts.everySeconds ?? 0.5) * 1000;
  const displayId = `bnlab-progress-${randomBytes(6).toString('hex')}`;
  const start = Date.now();
  const status: Status = { label, elapsed: 0 };
  let lastRender = 0;
  let timer: NodeJS.Timeout | null = null;
  let shown = false;

  const render = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    lastRender = Date.now();
    status.elapsed = (lastRender - start) / 1000;
    // A busy socket skips this update; the timer brings the latest state soon.
    if (channel.send(statusBundle(status), { displayId, update: shown })) shown = true;
    else if (!timer) {
      timer = setTimeout(render, 20);
      timer.unref();
    }
  };
  // The output appears in the cell that created the progress, at once.
  render();

  return {
    onStep(s, total) {
      status.step = s;
      status.totalSteps = total;
      if (Date.now() - lastRender >= every || s.step === total || !Number.isFinite(s.loss)) {
        render();
      } else if (!timer) {
        // The latest state reaches the output even if no later step comes
        // (a run that stops early); unref: it never keeps Node alive.
        timer = setTimeout(render, every - (Date.now() - lastRender));
        timer.unref();
      }
    },
    onEpoch(e, total) {
      status.epoch = e;
      status.totalEpochs = total;
      render();
    },
    onEnd(r) {
      status.state = r.status;
      if (r.divergence && status.note === undefined) status.note = divergenceNote(r.divergence);
      render();
    },
    finish(note) {
      if (note !== undefined) status.note = note;
      // By hand, with no onEnd: ended all the same; diverged if the last loss was not finite.
      if (!status.state) {
        const last = status.step;
        status.state =
          last && !Number.isFinite(last.loss)
            ? 'diverged'
            : last && status.totalSteps !== undefined && last.step >= status.totalSteps
              ? 'completed'
              : 'stopped';
      }
      render();
    },
  };
}
