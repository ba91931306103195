/**
 * RQ3's analysis: initialisation and random matrices (the paper's Sec. 5).
 *
 * The paper's model is a deep linear network y = A_M…A_1 x with i.i.d.
 * N(0, 1/N) entries. As N → ∞ the squared singular values of the product
 * follow the Fuss–Catalan law, whose largest singular value is
 * √((M+1)^{M+1}/M^M) (2, 3.08, 3.86 for M = 1, 3, 5), while the mass piles
 * up near 0: the product's conditioning worsens quickly with depth. Xavier
 * and He keep the average scale but not the spread; BN resets the scale at
 * every layer.
 *
 * Two measurements return plain JSON for the run store (`productSpectra`,
 * `networkProbe`; the depth chains come from `spectraByDepth`, re-exported
 * here). Everything else is a pure function from those results to chart rows,
 * tables and the verdicts.
 */
import { binRows } from '../charts/histogram';
import type { ChartReference, Row } from '../charts/common';
import { PAPER } from '../findings/paper';
import type { InitScheme } from '../models/layers';
import { NORM_LABEL, type Norm as ModelNorm } from '../models/norm';
import { pct } from '../util/format';
import { groupBy } from '../util/group';
import { Rng } from '../util/rng';
import { networkJacobianSpectrum } from '../instrument/jacobian';
import { DepthRow, fussCatalanDensity, fussCatalanEdge, gaussianMatrix, singularValues } from '../instrument/random-matrix';
import type { Matrix } from 'ml-matrix';

// The random-matrix instruments a notebook needs, reachable as bn.rq3.*.
export { fussCatalanDensity, fussCatalanEdge, lyapunovExponents, spectraByDepth } from '../instrument/random-matrix';
export type { Activation, LayerReport } from '../instrument/jacobian';
export type { DepthRow } from '../instrument/random-matrix';

// ---------------------------------------------------------------------------
// Measurements (plain JSON, for bn.measure)

export interface ProductSpectrum {
  N: number;
  /** Number of factors. */
  M: number;
  seed: number;
  /** All N singular values of A_M…A_1, descending. */
  singularValues: number[];
}

/**
 * One chain A_1, A_2, … of N×N matrices with N(0, 1/N) entries, drawn from
 * `new Rng(seed)`, and the singular values of the product A_M…A_1 at each M
 * in `depths` (so the products are nested: depth 3 extends depth 1). The
 * factors are drawn exactly as `spectraByDepth` draws them, so for the same
 * N and seed both see the same products. The SVD is of the explicit product
 * (float64): the largest singular values are exact to rounding, the smallest
 * only down to σ_max·N·ε (fine for M ≤ 5 at N = 400, κ ≈ 1e9).
 */
export function productSpectra(o: { N: number; depths: number[]; seed: number }): ProductSpectrum[] {
  const depths = [...new Set(o.depths)].sort((a, b) => a - b);
  if (depths.length === 0 || depths.some((M) => !Number.isInteger(M) || M < 1))
    throw new Error(`productSpectra: depths must be positive integers, got ${o.depths}`);
  const rng = new Rng(o.seed);
  const out: ProductSpectrum[] = [];
  let p: Matrix | null = null;
  let M = 0;
  for (const target of depths) {
    for (; M < target; M++) {
      const a = gaussianMatrix(o.N, rng);
      p = p ? a.mmul(p) : a;
    }
    out.push({ N: o.N, M, seed: o.seed, singularValues: Array.from(singularValues(p!)) });
  }
  return out;
}

/** RQ3's networks have BN after every layer or none (the models' norms, without final-only). */
export type Norm = Extract<ModelNorm, 'none' | 'batch'>;

export interface NetworkConfig {
  activation: 'linear' | 'relu';
  init: InitScheme;
  norm: Norm;
}

export interface NetworkProbeOptions extends NetworkConfig {
  /** Units per layer (square layers). */
  width: number;
  /** Layers whose per-layer scale is reported. */
  depth: number;
  /** Layers of the net whose Jacobian spectrum is kept (the first `spectrumDepth` of the same weights). */
  spectrumDepth: number;
  seed: number;
  /** With BN: the batch whose statistics BN uses. */
  batchSize: number;
  /** Of the init (default 'uniform', the models' and the paper's Xavier). */
  distribution?: 'uniform' | 'normal';
}

export interface NetworkLayerRow {
  layer: number;
  /** Mean σ² of the Jacobian of the first `layer` layers (‖J‖_F²/width). */
  meanSquare: number;
  /** RMS singular value of this layer's own factor D·S·W. */
  layerGain: number;
  /** BN's mean multiplier γ/√(var_B + ε) (null without BN). */
  bnScale: number | null;
  /** RMS of the layer's output over the batch. */
  outputRms: number;
}

export interface JacobianSpectrum {
  depth: number;
  /** The singular values above the float64 floor σ_max·n·ε, descending. */
  singularValues: number[];
  /** How many were at or below the floor (a ReLU Jacobian's masked rows give exact zeros). */
  belowFloor: number;
  max: number;
  /** σ_max / σ_min over the singular values above the floor. */
  conditionNumber: number;
  meanSquare: number;
}

export interface NetworkProbe extends NetworkProbeOptions {
  layers: NetworkLayerRow[];
  /** (mean σ² of the whole depth-`depth` Jacobian)^(1/depth): the average factor per layer by which the Jacobian scales squared lengths. */
  perLayerGain: number;
  spectrum: JacobianSpectrum;
}

/**
 * The input–output Jacobian of a depth×width MLP at initialisation (see
 * instrument/jacobian's networkJacobian for how BN enters: frozen at the
 * batch's statistics), at one input: its per-layer scale over `depth`
 * layers, and the singular values of the first `spectrumDepth` layers'
 * Jacobian (a shallower prefix of the same weights and input, so that its
 * spectrum lies above the float64 floor).
 */
export function networkProbe(o: NetworkProbeOptions): NetworkProbe {
  const init = { scheme: o.init, distribution: o.distribution ?? 'uniform' } as const;
  const common = { activation: o.activation, init, width: o.width, seed: o.seed, norm: o.norm, batchSize: o.batchSize };
  const deep = networkJacobianSpectrum({ ...common, depth: o.depth });
  const shallow = o.spectrumDepth === o.depth ? deep : networkJacobianSpectrum({ ...common, depth: o.spectrumDepth });
  const layers = deep.layers.map((l) => ({
    layer: l.layer,
    meanSquare: l.cumulativeMeanSquare,
    layerGain: l.layerGain,
    bnScale: l.bnScale,
    outputRms: l.outputRms,
  }));
  const above = Array.from(shallow.singularValues).filter((s) => s > shallow.summary.floor);
  return {
    ...o,
    layers,
    perLayerGain: Math.pow(layers[layers.length - 1].meanSquare, 1 / layers.length),
    spectrum: {
      depth: o.spectrumDepth,
      singularValues: above,
      belowFloor: shallow.singularValues.length - above.length,
      max: shallow.summary.max,
      conditionNumber: above.length ? above[0] / above[above.length - 1] : Infinity,
      meanSquare: shallow.summary.meanSquare,
    },
  };
}

// ---------------------------------------------------------------------------
// Chart rows

export const SERIES_FC = 'Fuss–Catalan (N → ∞)';
export const SERIES_EDGE = 'Fuss–Catalan edge (N → ∞)';

/** Four significant digits: chart data is embedded in the notebook, full doubles would only add bytes. */
const sig4 = (v: number) => +v.toPrecision(4);

/**
 * The distribution of σ for each depth M, as rows for a line chart faceted
 * by M: the measured density (a step outline of `bins` bins over
 * [0, 1.02·max(σ_max, edge)], pooled over seeds, integrating to 1) as series
 * `measured (N = …)`, and the Fuss–Catalan density of σ as series
 * SERIES_FC. The theory diverges at σ → 0 for M ≥ 2 (the pile-up); it is
 * drawn up to 1.1× the panel's tallest bar. Only the largest N present is used.
 */
export function densityRows(spectra: readonly ProductSpectrum[], o: { bins?: number; theoryPoints?: number } = {}): Row[] {
  if (spectra.length === 0) return [];
  const bins = o.bins ?? 40;
  const N = Math.max(...spectra.map((s) => s.N));
  const rows: Row[] = [];
  for (const [M, group] of [
    ...groupBy(
      spectra.filter((s) => s.N === N),
      (s) => s.M,
    ),
  ].sort((a, b) => a[0] - b[0])) {
    const values = group.flatMap((s) => s.singularValues);
    const edge = fussCatalanEdge(M);
    const hi = 1.02 * Math.max(edge, ...values);
    const seeds = new Set(group.map((s) => s.seed)).size;
    const series = `measured (N = ${N}, ${seeds} seed${seeds === 1 ? '' : 's'})`;
    const counted = binRows(
      values.map((sigma) => ({ sigma })),
      { value: 'sigma', groupBy: [], bins, extent: [0, hi], normalize: 'density' },
    );
    let tallest = 0;
    for (const b of counted) {
      // Each bin as a flat segment; the next bin starts where this one ends, so the outline steps.
      // (σ to 6 digits: the segment ends 0.5% of a bin short of the next bin's start, so the two never tie.)
      rows.push(
        { M, series, sigma: +b.lo.toPrecision(6), density: sig4(b.y) },
        { M, series, sigma: +(b.hi - 0.005 * (b.hi - b.lo)).toPrecision(6), density: sig4(b.y) },
      );
      tallest = Math.max(tallest, b.y);
    }
    const cap = 1.1 * tallest;
    for (const p of fussCatalanDensity(M, { points: o.theoryPoints ?? 150 })) {
      if (p.sigmaDensity <= cap) rows.push({ M, series: SERIES_FC, sigma: sig4(p.sigma), density: sig4(p.sigmaDensity) });
    }
  }
  return rows;
}

/**
 * σ_max against M, one row per (series, seed, M): the depth chains (series
 * `N = …`), the product spectra (merged into the same series: for the same
 * N and seed they are the same products) and the Fuss–Catalan edge at every
 * M from 1 to the deepest (series SERIES_EDGE).
 */
export function edgeRows(chains: readonly DepthRow[], products: readonly ProductSpectrum[] = []): Row[] {
  const seen = new Map<string, Row>();
  const add = (N: number, seed: number, M: number, sigmaMax: number) => {
    const key = `${N}/${seed}/${M}`;
    if (!seen.has(key)) seen.set(key, { M, seed, series: `N = ${N}`, N, sigmaMax });
  };
  for (const r of chains) add(r.N, r.seed, r.M, r.max);
  for (const p of products) add(p.N, p.seed, p.M, p.singularValues[0]);
  const rows = [...seen.values()].sort((a, b) => (a.N as number) - (b.N as number) || (a.M as number) - (b.M as number));
  const deepest = Math.max(0, ...rows.map((r) => r.M as number));
  for (let M = 1; M <= deepest; M++) rows.push({ M, seed: 0, series: SERIES_EDGE, N: Infinity, sigmaMax: fussCatalanEdge(M) });
  return rows.map(({ N: _N, ...r }) => r);
}

// In this order (a chart's dash patterns follow the names' order): measured solid.
export const KIND_MEASURED = 'measured';
export const KIND_NAIVE = 'naive SVD (float64)';
export const KIND_LYAPUNOV = 'predicted (Lyapunov, M → ∞)';

/**
 * log₁₀ κ against M, one row per (N, estimate, seed, M): KIND_MEASURED (σ_min
 * from the inverse product, accurate at every M), KIND_NAIVE (what a float64
 * SVD of the explicit product reports: it saturates near 1e16) and
 * KIND_LYAPUNOV (M·(μ_1 − μ_N)/ln 10).
 */
export function conditionRows(chains: readonly DepthRow[]): Row[] {
  return chains.flatMap((r) => [
    { M: r.M, seed: r.seed, N: `N = ${r.N}`, estimate: KIND_MEASURED, log10Kappa: r.log10ConditionNumber },
    { M: r.M, seed: r.seed, N: `N = ${r.N}`, estimate: KIND_NAIVE, log10Kappa: Math.log10(r.directConditionNumber) },
    { M: r.M, seed: r.seed, N: `N = ${r.N}`, estimate: KIND_LYAPUNOV, log10Kappa: r.log10ConditionLyapunov },
  ]);
}

/**
 * The paper's largest singular values (bn.PAPER.rq3.fussCatalanEdge: 2,
 * 3.08, 3.86 for M = 1, 3, 5) as chart references: 'x' gives a vertical
 * rule in the panel of that M (a chart faceted by M), 'point' a diamond at
 * (M, value). Only the Ms given (default: all the paper reports).
 */
export function paperEdgeReferences(kind: 'x' | 'point', Ms?: readonly number[]): ChartReference[] {
  return Object.entries(PAPER.rq3.fussCatalanEdge)
    .map(([M, n]) => ({ M: Number(M), value: n.value }))
    .filter(({ M }) => !Ms || Ms.includes(M))
    .map(({ M, value }) =>
      kind === 'x' ? { label: `paper: ${value}`, x: value, panel: { M } } : { label: `paper: ${value}`, x: M, y: value },
    );
}

const INIT_NAME: Record<InitScheme, string> = { xavier: 'Xavier', he: 'He', fixup: 'Fixup' };
const ACT_NAME = { linear: 'linear', relu: 'ReLU' } as const;

/** A network config as chart labels. */
export function configLabels(c: NetworkConfig): { activation: string; init: string; norm: string } {
  return { activation: ACT_NAME[c.activation], init: INIT_NAME[c.init], norm: NORM_LABEL[c.norm] };
}

/** Mean σ² of the first `layer` layers' Jacobian against `layer`, per network. */
export function layerScaleRows(probes: readonly NetworkProbe[]): Row[] {
  return probes.flatMap((p) => p.layers.map((l) => ({ ...configLabels(p), layer: l.layer, meanSquare: sig4(l.meanSquare) })));
}

/**
 * The sorted singular values of each network's Jacobian (those above the
 * float64 floor) against their rank as a fraction of the width, thinned to
 * at most `points` per network (always keeping the largest and smallest).
 */
export function networkSpectrumRows(probes: readonly NetworkProbe[], o: { points?: number } = {}): Row[] {
  const points = o.points ?? 100;
  return probes.flatMap((p) => {
    const sv = p.spectrum.singularValues;
    const n = sv.length;
    const keep = n <= points ? sv.map((_, i) => i) : Array.from({ length: points }, (_, k) => Math.round((k * (n - 1)) / (points - 1)));
    return [...new Set(keep)].map((i) => ({ ...configLabels(p), rank: sig4((i + 1) / p.width), sigma: sig4(sv[i]) }));
  });
}

// The summaries and verdicts (./rq3-verdicts), reachable as bn.rq3.* too.
export * from './rq3-verdicts';
