/**
 * Training curves as tidy rows: the training loop already records every
 * (sampled) step and every epoch; charts want one row per (x, metric, value)
 * with the run's labels (norm, learning rate, seed …) on every row, so that
 * many runs concatenate into one table and facet or colour by label.
 */
import type { TrainResult } from '../train/loop';

export type CurveLabels = Record<string, string | number | boolean>;

export type CurveRow<L extends CurveLabels = CurveLabels> = {
  /** 'steps': per mini-batch; 'epochs': per epoch, with test metrics. */
  curve: 'steps' | 'epochs';
  step: number;
  epoch: number;
  /** 'loss', 'accuracy', 'learningRate' per step; 'trainLoss', 'trainAccuracy', 'testLoss', 'testAccuracy', 'learningRate' per epoch. */
  metric: string;
  value: number;
} & L;

const STEP_METRICS = ['loss', 'accuracy', 'learningRate'] as const;
const EPOCH_METRICS = ['trainLoss', 'trainAccuracy', 'testLoss', 'testAccuracy', 'learningRate'] as const;
const RESERVED = ['curve', 'step', 'epoch', 'metric', 'value'];

export function curveRows<L extends CurveLabels>(
  result: Pick<TrainResult, 'steps' | 'epochs'>,
  labels: L = {} as L,
  opts: { which?: 'steps' | 'epochs' | 'both' } = {},
): CurveRow<L>[] {
  const clash = Object.keys(labels).filter((k) => RESERVED.includes(k));
  if (clash.length) throw new Error(`curveRows: label ${clash.join(', ')} would overwrite a column of the rows; rename it`);
  const which = opts.which ?? 'both';
  const rows: CurveRow<L>[] = [];
  if (which !== 'epochs') {
    for (const s of result.steps) {
      for (const metric of STEP_METRICS) rows.push({ ...labels, curve: 'steps', step: s.step, epoch: s.epoch, metric, value: s[metric] });
    }
  }
  if (which !== 'steps') {
    for (const e of result.epochs) {
      for (const metric of EPOCH_METRICS) rows.push({ ...labels, curve: 'epochs', step: e.step, epoch: e.epoch, metric, value: e[metric] });
    }
  }
  return rows;
}
