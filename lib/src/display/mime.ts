/**
 * The MIME types bnlab's displays put into notebook outputs, and the shape
 * of the machine-readable ones, with no dependency: the notebooks write
 * them (./show, ./progress, ../findings) and the report's exporter
 * (report/exporter) reads them back from the executed notebooks. Importing
 * ./show instead would load Vega and the SVG renderer into the exporter
 * just for two strings.
 */
export { FINDING_MIME } from '../findings/schema';

export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';
export const SVG_MIME = 'image/svg+xml';

/**
 * A training run's progress (./progress), next to its HTML and text. No
 * frontend renders it: it is there so the report can say, from the
 * executed notebook alone, how many runs a cell trained, which diverged
 * and how long they took.
 */
export const PROGRESS_MIME = 'application/vnd.bnlab.progress+json';

/**
 * Where a run is: 'running' until the training loop reports its end
 * (TrainCallbacks.onEnd), then 'completed' or 'diverged'. A run whose cell
 * failed, or progress finished by hand before its last step, stays
 * 'running' or becomes 'stopped'.
 */
export type ProgressState = 'running' | 'completed' | 'diverged' | 'stopped';
export const PROGRESS_STATES: readonly ProgressState[] = ['running', 'completed', 'diverged', 'stopped'];

/** What PROGRESS_MIME holds. Non-finite numbers are null (JSON has no NaN). */
export interface ProgressRecord {
  label: string;
  state: ProgressState;
  /** Steps done, and of how many (null before the first step). */
  step: number;
  totalSteps: number | null;
  /** The last finished epoch, and of how many (null before the first). */
  epoch: number | null;
  totalEpochs: number | null;
  /** Seconds since the progress display was created. */
  seconds: number;
  /** The last mini-batch loss. */
  loss: number | null;
  /** The last finished epoch's test accuracy. */
  testAccuracy: number | null;
  /** A closing note, e.g. where and why the run diverged. */
  note: string | null;
}
