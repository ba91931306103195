/**
 * RQ1's Fig. 1: accuracy against % of training, as rows, for the paper's
 * four configurations, with the paper's numbers as chart references.
 */
import type { TrainSummary } from '../experiments/runs';
import { PAPER } from '../findings/paper';
import type { CurveLabels } from '../instrument/curves';
import { NORM_LABEL } from '../models/norm';
import { pct } from '../util/format';
import type { Rq1Norm } from './rq1';

/** What an accuracy-curve row carries besides its point: the configuration's name, the seed, and any other labels (e.g. lr). */
type ConfigLabels = CurveLabels & { config: string; seed: number };

export type AccuracyCurveRow = {
  config: string;
  seed: number;
  split: 'train' | 'test';
  /** % of the planned training steps. */
  progress: number;
  accuracy: number;
};

/**
 * Train and test accuracy against % of training, as rows. Train: the
 * mini-batch accuracy (training mode) averaged over a trailing window of
 * recorded steps (default a fifteenth of the run), on a grid of at most
 * `maxPoints` points over the *planned* steps, plus the run's last step;
 * test: the test accuracy at each epoch's end. `planned` is the run's
 * planned number of steps (a diverged run's curve, or a run stopped once it
 * converged, then ends where it stopped, not at 100%). The grid is the
 * planned run's, not this run's, so that seeds which stopped at different
 * steps still have their points at the same x and a chart's mean over
 * seeds averages like with like. Every row carries `labels`.
 */
export function accuracyCurveRows<L extends ConfigLabels>(
  result: Pick<TrainSummary, 'steps' | 'epochs' | 'totalSteps'>,
  labels: L,
  opts: { planned?: number; window?: number; maxPoints?: number } = {},
): (AccuracyCurveRow & L)[] {
  const planned = opts.planned ?? result.totalSteps;
  if (!(planned > 0)) return [];
  const steps = result.steps.filter((s) => Number.isFinite(s.accuracy));
  const window = Math.max(1, opts.window ?? Math.round(steps.length / 15));
  const stride = Math.max(1, Math.ceil(planned / (opts.maxPoints ?? 60)));
  const rows: (AccuracyCurveRow & L)[] = [];
  let sum = 0;
  for (let i = 0; i < steps.length; i++) {
    sum += steps[i].accuracy;
    if (i >= window) sum -= steps[i - window].accuracy;
    const last = i === steps.length - 1;
    const onGrid = Math.floor(steps[i].step / stride) > Math.floor((i > 0 ? steps[i - 1].step : 0) / stride);
    if (onGrid || last) {
      rows.push({ ...labels, split: 'train', progress: (100 * steps[i].step) / planned, accuracy: sum / Math.min(i + 1, window) });
    }
  }
  for (const e of result.epochs) rows.push({ ...labels, split: 'test', progress: (100 * e.step) / planned, accuracy: e.testAccuracy });
  return rows;
}

/** One of Fig. 1's four configurations, with the paper's test accuracy for it. */
export type Fig1Config = {
  config: string;
  norm: Rq1Norm;
  lr: number;
  /** The paper's test accuracy (Fig. 1, read off) and a label saying at which rate the paper measured it. */
  paper: number;
  paperLabel: string;
};

/**
 * Fig. 1's configurations: BN at a high, a low and a very low rate, and no
 * BN at `noBnLr` (its best stable rate in our sweep; the paper shows no BN
 * at 1e-4, the rate its figure reports). Named (a)–(d), which is also the
 * order of a chart's panels.
 */
export function fig1Configs(bnLrs: { high: number; low: number; veryLow: number }, noBnLr: number): Fig1Config[] {
  const p = PAPER.rq1;
  const make = (panel: string, norm: Rq1Norm, lr: number, paper: number, paperLr: number): Fig1Config => ({
    config: `(${panel}) ${NORM_LABEL[norm]}, lr ${lr}`,
    norm,
    lr,
    paper,
    paperLabel: `paper${lr === paperLr ? '' : ` (lr ${paperLr})`}: ${pct(paper)}`,
  });
  return [
    make('a', 'batch', bnLrs.high, p.testAccuracyBnLr0_1.value, 0.1),
    make('b', 'batch', bnLrs.low, p.testAccuracyBnLr0_003.value, 0.003),
    make('c', 'batch', bnLrs.veryLow, p.testAccuracyBnLr0_0001.value, 0.0001),
    make('d', 'none', noBnLr, p.testAccuracyNoBnLr0_0001.value, 0.0001),
  ];
}

/** The paper's number of each Fig. 1 panel, as a labelled rule in that panel (facet field `config`). */
export function fig1References(configs: readonly Fig1Config[]): { label: string; y: number; panel: { config: string } }[] {
  return configs.map((c) => ({ label: c.paperLabel, y: c.paper, panel: { config: c.config } }));
}

/**
 * The paper's Fig. 1 accuracies as diamonds on the sweep chart (x = the
 * rate, y = the accuracy). BN (81%) and no BN (82%) at 1e-4 would print
 * their labels on top of each other, so one label names both.
 */
export function sweepReferences(): { label: string; x: number; y: number }[] {
  const p = PAPER.rq1;
  return [
    { label: `paper, BN: ${pct(p.testAccuracyBnLr0_1.value)}`, x: 0.1, y: p.testAccuracyBnLr0_1.value },
    { label: `paper, BN: ${pct(p.testAccuracyBnLr0_003.value)}`, x: 0.003, y: p.testAccuracyBnLr0_003.value },
    {
      label: `paper: BN ${pct(p.testAccuracyBnLr0_0001.value)}, no BN ${pct(p.testAccuracyNoBnLr0_0001.value)}`,
      x: 0.0001,
      y: p.testAccuracyBnLr0_0001.value,
    },
    { label: '', x: 0.0001, y: p.testAccuracyNoBnLr0_0001.value },
  ];
}
