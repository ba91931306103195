/**
 * RQ2's analysis: gradients and activations at initialisation, with and
 * without BN, over network depth (the paper's Fig. 2, 5, 6, 7 and Table 1).
 *
 * The one measurement, `probe`, is ./rq2-probe's (bn.rq2 re-exports it).
 * Everything here is a pure function from probe results to chart rows,
 * tables and the verdict.
 */
import type { DataSpec } from '../experiments/data';
import { quantile } from '../instrument/stats';
import { normLabel } from '../models/norm';
import { fmt } from '../util/format';
import type { ProbeResult, ProbeSpec } from './rq2-probe';

export * from './rq2-probe';

// ---------------------------------------------------------------- the parameters

/** Everything the notebook's parameters cell sets. */
export interface Params {
  /** The probe batch is the first `batch` test examples; the training steps draw from the training split. */
  data: DataSpec;
  batch: number;
  /** Network depths measured at initialisation (6n + 2). */
  depths: number[];
  width: number;
  init: { scheme: 'xavier' | 'he'; distribution: 'uniform' | 'normal' };
  /** Init seed of every network. */
  seed: number;
  coherenceAt: number[];
  /** The "after a few steps" probe: this depth, this many SGD steps. */
  stepsDepth: number;
  steps: { count: number; learningRate: number; batchSize: number; seed: number; momentum: number; weightDecay: number };
  rule: Rq2Thresholds;
}

/** The probe of a ResNet of this depth and norm under the parameters, after `steps` SGD steps if given. */
export function probeSpec(p: Params, depth: number, norm: 'batch' | 'none', steps?: Params['steps']): ProbeSpec {
  return {
    data: p.data,
    batch: p.batch,
    model: { family: 'resnet', depth, width: p.width, norm, init: p.init, seed: p.seed },
    ...(steps ? { steps } : {}),
    coherenceAt: p.coherenceAt,
  };
}

// ---------------------------------------------------------------- rows for charts and tables

// Rows name the norm as every chart does (normLabel, ../models/norm), coloured by the palette's bn.MODEL_COLORS.
const netLabel = (r: ProbeResult) => `ResNet-${r.depth}`;
const whenLabel = (r: ProbeResult) => (r.steps === 0 ? 'at init' : `after ${r.steps} steps`);

/** The probe of a given network depth and norm (the first one in the list), or undefined. */
export function find(results: readonly ProbeResult[], depth: number, norm: string): ProbeResult | undefined {
  return results.find((r) => r.depth === depth && r.norm === norm);
}

/** The deepest network depth among the results. */
export function deepest(results: readonly ProbeResult[]): number {
  return Math.max(...results.map((r) => r.depth));
}

/** Fig. 5 as long rows: one per (network, norm, block, statistic), with the 10–90% band over channels. */
export function momentRows(
  results: readonly ProbeResult[],
): { network: string; norm: string; when: string; layer: number; statistic: string; value: number; lo: number; hi: number }[] {
  return results.flatMap((r) => {
    const base = { network: netLabel(r), norm: normLabel(r.norm), when: whenLabel(r) };
    return r.moments.flatMap((m) => [
      { ...base, layer: m.depth, statistic: 'channel std', value: m.meanStd, lo: m.stdP10, hi: m.stdP90 },
      { ...base, layer: m.depth, statistic: '|channel mean|', value: m.meanAbsMean, lo: m.absMeanP10, hi: m.absMeanP90 },
    ]);
  });
}

/** The training steps' mini-batch losses, one row per (probe, step). */
export function trainLossRows(results: readonly ProbeResult[]): { network: string; norm: string; step: number; loss: number }[] {
  return results.flatMap((r) => r.trainLosses.map((loss, i) => ({ network: netLabel(r), norm: normLabel(r.norm), step: i + 1, loss })));
}

/** How much the channel std grows through the network: mean channel std at the last block output ÷ at the first. */
export function stdGrowth(r: ProbeResult): number {
  if (r.moments.length < 2) return NaN;
  return r.moments[r.moments.length - 1].meanStd / r.moments[0].meanStd;
}

/** Fig. 2: the middle layer's gradient sample as rows (value, |value|, value ÷ its std), labelled by norm. */
export function gradientRows(
  results: readonly ProbeResult[],
): { norm: string; network: string; value: number; abs: number; standardized: number }[] {
  return results.flatMap((r) =>
    r.middle.sample.map((v) => ({
      norm: normLabel(r.norm),
      network: netLabel(r),
      value: v,
      abs: Math.abs(v),
      standardized: v / r.middle.std,
    })),
  );
}

/**
 * A log-x extent for the |gradient| histogram, in whole decades: from the
 * smallest group's `lowQuantile` of |g| (a dead path's 1e-20 would
 * otherwise stretch the axis over decades of nothing) to the largest |g|,
 * and at least `include` (e.g. the paper's ±4).
 */
export function magnitudeExtent(
  results: readonly ProbeResult[],
  opts: { lowQuantile?: number; include?: number[] } = {},
): [number, number] {
  let lo = Infinity;
  let hi = 0;
  for (const r of results) {
    const abs = r.middle.sample.map(Math.abs).filter((v) => v > 0 && Number.isFinite(v));
    if (!abs.length) continue;
    lo = Math.min(lo, quantile(abs, opts.lowQuantile ?? 0.01));
    hi = Math.max(hi, ...abs);
  }
  for (const v of opts.include ?? []) if (v > 0) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  if (!(lo > 0 && hi >= lo)) return [1e-6, 1];
  return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
}

/** Middle-layer gradient std without BN ÷ with BN (Fig. 2's ≈ 100). */
export function gradientStdRatio(noBn: ProbeResult, bn: ProbeResult): number {
  return noBn.middle.std / bn.middle.std;
}

/** Conv-kernel gradient std per layer (all layers), for a line against depth. */
export function gradientDepthRows(results: readonly ProbeResult[]): { network: string; norm: string; layer: number; std: number }[] {
  return results.flatMap((r) => r.gradients.map((g) => ({ network: netLabel(r), norm: normLabel(r.norm), layer: g.depth, std: g.std })));
}

/** Fig. 6: ∂L/∂logits as heatmap rows, labelled by norm. */
export function logitRows(results: readonly ProbeResult[]): { norm: string; example: number; class: number; grad: number }[] {
  return results.flatMap((r) => r.logits.map((l) => ({ norm: normLabel(r.norm), example: l.example, class: l.class, grad: l.grad })));
}

/** Fig. 7: the channel-pair map as heatmap rows, labelled by norm. */
export function channelPairRows(
  results: readonly ProbeResult[],
): { norm: string; inChannel: number; outChannel: number; meanAbsGrad: number }[] {
  return results.flatMap((r) => r.channelPairs.map((c) => ({ norm: normLabel(r.norm), ...c })));
}

export interface Table1Row {
  network: string;
  depth: number;
  norm: string;
  layer: string;
  /** The conv layer's position among the weight layers. */
  layerDepth: number;
  /** Mean over kernel entries of |Σd| and of Σ|d|, and their ratio. */
  absOfSum: number;
  sumOfAbs: number;
  ratio: number;
  medianRatio: number;
}

/** Table 1: one row per (network, norm, layer). */
export function table1Rows(results: readonly ProbeResult[]): Table1Row[] {
  return results.flatMap((r) =>
    r.coherence.map((c) => ({
      network: netLabel(r),
      depth: r.depth,
      norm: normLabel(r.norm),
      layer: c.layer,
      layerDepth: c.depth,
      absOfSum: c.meanAbsSum,
      sumOfAbs: c.meanSumAbs,
      ratio: c.aggregateRatio,
      medianRatio: c.medianRatio,
    })),
  );
}

/** Table 1's ratio at the middle conv against network depth: one row per probe. */
export function coherenceDepthRows(results: readonly ProbeResult[]): { depth: number; norm: string; when: string; ratio: number }[] {
  return results.map((r) => ({ depth: r.depth, norm: normLabel(r.norm), when: whenLabel(r), ratio: middleCoherence(r) }));
}

/** Table 1's ratio |Σd|/Σ|d| at the middle conv of a probe. */
export function middleCoherence(r: ProbeResult): number {
  const c = r.coherence.find((c) => c.layer === r.middle.layer);
  return c ? c.aggregateRatio : NaN;
}

/** Table 1 as the notebook shows it: bn.showTable(table1Rows(…), TABLE1). Numbers as fmt writes them (3 significant digits). */
export const TABLE1 = {
  columns: [
    ['network', 'network'],
    ['norm', 'norm'],
    ['layer', 'conv layer'],
    ['layerDepth', 'depth'],
    ['absOfSum', 'mean |Σd|'],
    ['sumOfAbs', 'mean Σ|d|'],
    ['ratio', '|Σd| / Σ|d|'],
  ],
  format: fmt,
} as const;

export interface SummaryRow {
  network: string;
  /** 'at init' or 'after k steps'. */
  when: string;
  norm: string;
  steps: number;
  status: string;
  loss: number;
  /** Middle-layer kernel-gradient std and excess kurtosis. */
  gradStd: number;
  gradKurtosis: number;
  /** Last ÷ first block channel std. */
  stdGrowth: number;
  /** Table 1's ratio at the middle conv. */
  coherence: number;
  /** Share of examples whose largest logit gradient is on one class (Fig. 6), and that class. */
  dominantShare: number;
  predictionShare: number;
  /** Top singular share of the channel-pair map (Fig. 7). */
  pairTopShare: number;
}

/** The headline statistics of each probe, one row each. */
export function summaryRows(results: readonly ProbeResult[]): SummaryRow[] {
  return results.map((r) => ({
    network: netLabel(r),
    when: whenLabel(r),
    norm: normLabel(r.norm),
    steps: r.steps,
    status: r.status,
    loss: r.loss,
    gradStd: r.middle.std,
    gradKurtosis: r.middle.kurtosis,
    stdGrowth: stdGrowth(r),
    coherence: middleCoherence(r),
    dominantShare: r.dominance.dominantShare,
    predictionShare: r.dominance.predictionShare,
    pairTopShare: r.channelPairTopShare,
  }));
}

/** The summary table: bn.showTable(summaryRows(…), SUMMARY_TABLE). */
export const SUMMARY_TABLE = {
  columns: [
    ['network', 'network'],
    ['norm', 'norm'],
    ['when', 'measured'],
    ['loss', 'loss'],
    ['gradStd', 'grad std (middle conv)'],
    ['gradKurtosis', 'grad excess kurtosis'],
    ['stdGrowth', 'act. std last/first block'],
    ['coherence', '|Σd|/Σ|d| (middle)'],
    ['dominantShare', 'top logit-grad class share'],
    ['predictionShare', 'top predicted class share'],
    ['pairTopShare', 'Fig. 7 map σ1² share'],
  ],
  format: fmt,
} as const;

/** No-BN ÷ BN of the headline statistics, one row per network depth (and steps). */
export function ratioRows(results: readonly ProbeResult[]): {
  network: string;
  depth: number;
  steps: number;
  gradStdRatio: number;
  noBnGrowth: number;
  bnGrowth: number;
  noBnCoherence: number;
  bnCoherence: number;
}[] {
  const out = [];
  for (const nb of results.filter((r) => r.norm === 'none')) {
    const b = results.find((r) => r.norm === 'batch' && r.depth === nb.depth && r.steps === nb.steps);
    if (!b) continue;
    out.push({
      network: netLabel(nb),
      depth: nb.depth,
      steps: nb.steps,
      gradStdRatio: gradientStdRatio(nb, b),
      noBnGrowth: stdGrowth(nb),
      bnGrowth: stdGrowth(b),
      noBnCoherence: middleCoherence(nb),
      bnCoherence: middleCoherence(b),
    });
  }
  return out.sort((a, b) => a.steps - b.steps || a.depth - b.depth);
}

// ---------------------------------------------------------------- the verdict

export interface Rq2Thresholds {
  /** No-BN ÷ BN middle-layer gradient std must reach this (Fig. 2 shows ≈ 100). */
  minGradStdRatio: number;
  /** Without BN the channel std must grow by at least this factor from the first block to the last (Fig. 5: steady growth on a log axis). */
  minNoBnGrowth: number;
  /** With BN it must grow by less than this (Fig. 5: bounded, O(1)). */
  maxBnGrowth: number;
}

export interface Rq2Check {
  name: string;
  value: string;
  rule: string;
  pass: boolean | null;
}

export interface Rq2Verdict {
  /** null when a check could not be decided (a missing or diverged probe, a NaN). */
  passes: boolean | null;
  gradStdRatio: number;
  checks: Rq2Check[];
}

/**
 * The three checks at the deepest network at initialisation: gradient
 * spread (Fig. 2), activation growth (Fig. 5), summand coherence (Table 1).
 * Passes when all pass; null (inconclusive) when none fails and one cannot
 * be decided.
 */
export function rq2Verdict(noBn: ProbeResult | undefined, bn: ProbeResult | undefined, t: Rq2Thresholds): Rq2Verdict {
  const decided = (ok: boolean, ...values: number[]): boolean | null => (values.every(Number.isFinite) ? ok : null);
  if (!noBn || !bn || noBn.status !== 'ok' || bn.status !== 'ok') {
    return {
      passes: null,
      gradStdRatio: NaN,
      checks: [{ name: 'probes', value: 'missing or diverged', rule: 'both networks measured', pass: null }],
    };
  }
  const ratio = gradientStdRatio(noBn, bn);
  const gNo = stdGrowth(noBn);
  const gBn = stdGrowth(bn);
  const cNo = middleCoherence(noBn);
  const cBn = middleCoherence(bn);
  const checks: Rq2Check[] = [
    {
      name: 'gradient std ratio (Fig. 2)',
      value: fmt(ratio),
      rule: `≥ ${t.minGradStdRatio}`,
      pass: decided(ratio >= t.minGradStdRatio, ratio),
    },
    {
      name: 'activation growth without BN (Fig. 5)',
      value: fmt(gNo),
      rule: `≥ ${t.minNoBnGrowth}`,
      pass: decided(gNo >= t.minNoBnGrowth, gNo),
    },
    { name: 'activation growth with BN (Fig. 5)', value: fmt(gBn), rule: `< ${t.maxBnGrowth}`, pass: decided(gBn < t.maxBnGrowth, gBn) },
    {
      name: '|Σd|/Σ|d| without vs with BN (Table 1)',
      value: `${fmt(cNo)} vs ${fmt(cBn)}`,
      rule: 'higher without BN',
      pass: decided(cNo > cBn, cNo, cBn),
    },
  ];
  const passes = checks.some((c) => c.pass === false) ? false : checks.some((c) => c.pass === null) ? null : true;
  return { passes, gradStdRatio: ratio, checks };
}

/** The verdict's checks as table rows, each with its mark: bn.showTable(checkRows(v), CHECKS_TABLE). */
export function checkRows(v: Rq2Verdict): (Omit<Rq2Check, 'pass'> & { pass: string })[] {
  const mark = (p: boolean | null) => (p === null ? '❔' : p ? '✅' : '❌');
  return v.checks.map((c) => ({ ...c, pass: mark(c.pass) }));
}

export const CHECKS_TABLE = {
  columns: [
    ['name', 'check'],
    ['value', 'ours'],
    ['rule', 'rule'],
    ['pass', ''],
  ],
} as const;

/**
 * The finding's note: the numbers behind each check at the deepest network,
 * the logit-gradient dominance (reported, not judged), and what a few SGD
 * steps changed.
 */
export function findingNote(
  v: Rq2Verdict,
  atInit: { noBn?: ProbeResult; bn?: ProbeResult },
  after: { noBn?: ProbeResult; bn?: ProbeResult; learningRate?: number },
): string {
  const parts: string[] = [];
  const { noBn, bn } = atInit;
  if (noBn && bn && noBn.status === 'ok' && bn.status === 'ok') {
    parts.push(
      `ResNet-${noBn.depth} at init, middle conv ${noBn.middle.layer}: gradient std ${fmt(noBn.middle.std)} without BN vs ${fmt(bn.middle.std)} with BN (excess kurtosis ${fmt(noBn.middle.kurtosis)} vs ${fmt(bn.middle.kurtosis)})`,
      `Channel std grows ${fmt(stdGrowth(noBn))}× from the first block to the last without BN, ${fmt(stdGrowth(bn))}× with BN`,
      `|Σd|/Σ|d| ${fmt(middleCoherence(noBn))} without BN vs ${fmt(middleCoherence(bn))} with BN`,
      `Not judged: share of examples whose largest logit gradient is on one class ${fmt(noBn.dominance.dominantShare)} without BN vs ${fmt(bn.dominance.dominantShare)} with BN; Fig. 7 map σ1² share ${fmt(noBn.channelPairTopShare)} vs ${fmt(bn.channelPairTopShare)}`,
    );
  }
  if (after.noBn && after.bn) {
    const a = after.noBn;
    const b = after.bn;
    if (a.status !== 'ok' || b.status !== 'ok')
      parts.push(
        `Within ${a.steps} SGD steps the ${[a, b]
          .filter((r) => r.status !== 'ok')
          .map((r) => normLabel(r.norm))
          .join(' and ')} network diverged, so nothing was measured after the steps`,
      );
    else
      parts.push(
        `After ${a.steps} SGD steps${after.learningRate ? ` at lr ${after.learningRate}` : ''}: gradient-std ratio ${fmt(gradientStdRatio(a, b))}, channel-std growth ${fmt(stdGrowth(a))}× vs ${fmt(stdGrowth(b))}×, |Σd|/Σ|d| ${fmt(middleCoherence(a))} vs ${fmt(middleCoherence(b))}`,
      );
  }
  if (v.passes === false)
    parts.push(
      `Failed: ${v.checks
        .filter((c) => c.pass === false)
        .map((c) => c.name)
        .join('; ')}`,
    );
  return parts.join('. ') + '.';
}
