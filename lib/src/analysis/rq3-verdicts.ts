/**
 * RQ3's summaries and verdicts: pure functions from the measurements of
 * ./rq3 (product spectra, depth chains, network probes) to the tables and
 * the two verdicts. Re-exported by ./rq3, so a notebook reaches them as bn.rq3.*.
 */
import type { Row } from '../charts/common';
import { DepthRow, fussCatalanEdge } from '../instrument/random-matrix';
import { groupBy } from '../util/group';
import { pct } from '../util/format';
import { configLabels, type NetworkProbe, type Norm, type ProductSpectrum } from './rq3';

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;

export interface EdgeCheck {
  M: number;
  N: number;
  seeds: number;
  /** σ_max, mean over seeds. */
  meanMax: number;
  /** Smallest and largest σ_max over the seeds. */
  minMax: number;
  maxMax: number;
  /** fussCatalanEdge(M). */
  edge: number;
  /** meanMax / edge − 1. */
  deviation: number;
}

/** σ_max against the Fuss–Catalan edge for each M in `Ms`, at the largest N in `products`. */
export function edgeChecks(products: readonly ProductSpectrum[], Ms: readonly number[] = [1, 3, 5]): EdgeCheck[] {
  if (products.length === 0) return [];
  const N = Math.max(...products.map((p) => p.N));
  return Ms.flatMap((M) => {
    const maxima = products.filter((p) => p.N === N && p.M === M).map((p) => p.singularValues[0]);
    if (maxima.length === 0) return [];
    const edge = fussCatalanEdge(M);
    const meanMax = mean(maxima);
    return [
      {
        M,
        N,
        seeds: maxima.length,
        meanMax,
        minMax: Math.min(...maxima),
        maxMax: Math.max(...maxima),
        edge,
        deviation: meanMax / edge - 1,
      },
    ];
  });
}

export interface ConditionGrowth {
  N: number;
  depths: number[];
  /** log₁₀ κ at each depth, mean over seeds. */
  meanLog10Kappa: number[];
  /** The mean rises at every step of depth. */
  monotone: boolean;
  /** log₁₀ κ at the deepest M over that at the shallowest. */
  decadeRatio: number;
  /** The Lyapunov prediction of log₁₀ κ at the deepest M. */
  lyapunovDeepest: number;
  /** Fraction of σ below the chains' threshold (default 0.1) at the shallowest and deepest M, mean over seeds. */
  fractionBelowShallowest: number;
  fractionBelowDeepest: number;
  threshold: number;
}

/** How log₁₀ κ grows with depth in each chain width N. */
export function conditionGrowth(chains: readonly DepthRow[]): ConditionGrowth[] {
  return [...groupBy(chains, (r) => r.N)]
    .sort((a, b) => a[0] - b[0])
    .map(([N, rows]) => {
      const byM = [...groupBy(rows, (r) => r.M)].sort((a, b) => a[0] - b[0]);
      const depths = byM.map(([M]) => M);
      const meanLog10Kappa = byM.map(([, g]) => mean(g.map((r) => r.log10ConditionNumber)));
      const frac = byM.map(([, g]) => mean(g.map((r) => r.fractionBelow)));
      const last = byM.length - 1;
      return {
        N,
        depths,
        meanLog10Kappa,
        monotone: meanLog10Kappa.every((v, i) => i === 0 || v > meanLog10Kappa[i - 1]),
        decadeRatio: meanLog10Kappa[last] / meanLog10Kappa[0],
        lyapunovDeepest: byM[last][1][0].log10ConditionLyapunov,
        fractionBelowShallowest: frac[0],
        fractionBelowDeepest: frac[last],
        threshold: rows[0].threshold,
      };
    });
}

/** One line per depth and chain width, for a table: σ_max against the edge, κ against Lyapunov, the mass near 0. */
export function chainTable(chains: readonly DepthRow[]): Row[] {
  return [...groupBy(chains, (r) => `${r.N}/${r.M}`).values()].map((g) => ({
    N: g[0].N,
    M: g[0].M,
    σ_max: +mean(g.map((r) => r.max)).toFixed(3),
    'FC edge': +g[0].edge.toFixed(3),
    'log10 κ': +mean(g.map((r) => r.log10ConditionNumber)).toFixed(1),
    Lyapunov: +g[0].log10ConditionLyapunov.toFixed(1),
    [`σ < ${g[0].threshold}`]: +mean(g.map((r) => r.fractionBelow)).toFixed(3),
  }));
}

export interface VerdictResult {
  /** null: cannot be decided with these settings. */
  pass: boolean | null;
  value: number;
  threshold: string;
  note: string;
}

const signedPct = (v: number) => `${v >= 0 ? '+' : '−'}${(100 * Math.abs(v)).toFixed(1)}%`;

/**
 * The random-matrix verdict. Reproduced when (a) at N ≥ minN the mean
 * largest singular value is within `tolerance` of the Fuss–Catalan edge for
 * every M checked (1, 3, 5), and (b) in every chain width, the mean log₁₀ κ
 * rises at every step of depth and ends at least `minDecadeRatio` times as
 * many decades as it starts. Value: the worst |relative deviation| in (a).
 * Inconclusive when the products are smaller than minN, or a part has no data.
 */
export function randomMatrixVerdict(
  products: readonly ProductSpectrum[],
  chains: readonly DepthRow[],
  o: { tolerance: number; minN: number; minDecadeRatio: number; Ms?: number[] },
): VerdictResult & { edges: EdgeCheck[]; growth: ConditionGrowth[] } {
  const Ms = o.Ms ?? [1, 3, 5];
  const edges = edgeChecks(products, Ms);
  const growth = conditionGrowth(chains);
  const worst = edges.length ? Math.max(...edges.map((e) => Math.abs(e.deviation))) : NaN;
  const N = edges.length ? edges[0].N : 0;
  const threshold =
    `σ_max (mean over seeds) within ${pct(o.tolerance)} of the edge for M = ${Ms.join(', ')} at N ≥ ${o.minN}, ` +
    `and mean log₁₀ κ rising at every depth with ≥ ${o.minDecadeRatio}× the decades at the deepest M as at M = 1`;
  const edgeText = edges.map((e) => `M = ${e.M}: ${e.meanMax.toFixed(3)} vs ${e.edge.toFixed(3)} (${signedPct(e.deviation)})`).join('; ');
  const growthText = growth
    .map(
      (g) =>
        `N = ${g.N}: log₁₀ κ ${g.meanLog10Kappa[0].toFixed(1)} at M = ${g.depths[0]} → ${g.meanLog10Kappa[g.meanLog10Kappa.length - 1].toFixed(1)} at M = ${g.depths[g.depths.length - 1]} (${g.decadeRatio.toFixed(1)}×, ${g.monotone ? 'rising at every depth' : 'not monotone'}; Lyapunov ${g.lyapunovDeepest.toFixed(1)})`,
    )
    .join('; ');
  const complete = edges.length === Ms.length && growth.length > 0;
  let pass: boolean | null;
  let why = '';
  if (!complete) {
    pass = null;
    why = 'Inconclusive: a part of the rule has no data. ';
  } else if (N < o.minN) {
    pass = null;
    why = `Inconclusive: this profile's products are N = ${N}, the rule is set at N ≥ ${o.minN} (finite-N deviations from the edge shrink like N^(−2/3)). `;
  } else {
    pass = worst <= o.tolerance && growth.every((g) => g.monotone && g.decadeRatio >= o.minDecadeRatio);
  }
  return {
    pass,
    value: worst,
    threshold,
    note: `${why}σ_max at N = ${N}: ${edgeText}. Conditioning: ${growthText}.`,
    edges,
    growth,
  };
}

export interface GainRow {
  activation: string;
  init: string;
  norm: string;
  depth: number;
  /** Mean σ² per layer: (mean σ² of the depth-layer Jacobian)^(1/depth). */
  perLayerGain: number;
  /** Mean σ² of the whole depth-layer Jacobian. */
  meanSquare: number;
  /** Condition number of the spectrumDepth-layer Jacobian (singular values above the float64 floor). */
  spectrumDepth: number;
  conditionNumber: number;
}

/** One row per network, for a table. */
export function gainTable(probes: readonly NetworkProbe[]): GainRow[] {
  return probes.map((p) => ({
    ...configLabels(p),
    depth: p.depth,
    perLayerGain: +p.perLayerGain.toFixed(4),
    meanSquare: +p.layers[p.layers.length - 1].meanSquare.toPrecision(3),
    spectrumDepth: p.spectrum.depth,
    conditionNumber: +p.spectrum.conditionNumber.toPrecision(3),
  }));
}

/**
 * "BN resets the scale at every layer", on the paper's model (linear
 * networks): reproduced when, with BN, the per-layer gain (mean σ² per
 * layer of the Jacobian) is within `tolerance` of 1 for every init measured,
 * Xavier and He. Value: the BN per-layer gain farthest from 1. The note adds
 * the same numbers without BN (He: ≈ 2), in ReLU networks (outside the
 * paper's model) and the condition numbers with and without BN.
 * Inconclusive without a linear BN network.
 */
export function bnScaleVerdict(probes: readonly NetworkProbe[], o: { tolerance: number }): VerdictResult {
  const find = (activation: string, norm: Norm) => probes.filter((p) => p.activation === activation && p.norm === norm);
  const linearBn = find('linear', 'batch');
  const farthest = linearBn.length
    ? linearBn.reduce((a, b) => (Math.abs(Math.log(b.perLayerGain)) > Math.abs(Math.log(a.perLayerGain)) ? b : a))
    : null;
  const describe = (ps: NetworkProbe[]) => ps.map((p) => `${configLabels(p).init} ${p.perLayerGain.toFixed(3)}`).join(', ');
  const kappas = (activation: string, norm: Norm) =>
    find(activation, norm)
      .map((p) => `${configLabels(p).init} ${p.spectrum.conditionNumber.toExponential(1)}`)
      .join(', ');
  const parts: string[] = [];
  for (const act of ['linear', 'relu'] as const) {
    const none = find(act, 'none');
    const bn = find(act, 'batch');
    if (!none.length && !bn.length) continue;
    const depth = (none[0] ?? bn[0]).depth;
    const sdepth = (none[0] ?? bn[0]).spectrum.depth;
    parts.push(
      `${configLabels(none[0] ?? bn[0]).activation} (${depth} layers): per-layer gain without BN ${describe(none) || '—'}, with BN ${describe(bn) || '—'}; ` +
        `κ of the ${sdepth}-layer Jacobian without BN ${kappas(act, 'none') || '—'}, with BN ${kappas(act, 'batch') || '—'}`,
    );
  }
  return {
    pass: farthest ? Math.abs(farthest.perLayerGain - 1) <= o.tolerance : null,
    value: farthest ? farthest.perLayerGain : NaN,
    threshold: `with BN, mean σ² per layer within ${pct(o.tolerance)} of 1 for Xavier and He (linear networks, the paper's model)`,
    note: (farthest ? '' : 'Inconclusive: no linear network with BN was measured. ') + parts.join('. ') + '.',
  };
}
