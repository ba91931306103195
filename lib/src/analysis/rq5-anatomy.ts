/**
 * RQ5's Fig. 4: the anatomy of one diverging step. `anatomyProbe` records
 * channel means and variances at chosen depths along the segment
 * θ → θ − α·g; the rest are pure functions from its rows to the summary,
 * the chart rows and where the blow-up starts. Re-exported by ./rq5, so a
 * notebook reaches them as bn.rq5.*.
 */
import { DataSpec, loadData } from '../experiments/data';
import type { ModelSpec } from '../experiments/runs';
import { stepAnatomy } from '../instrument/step';
import type { PointInfo } from '../models';
import { groupBy } from '../util/group';
import { buildProbeModel, forEachProbeBatch, ProbeBatches } from './probe-batches';

/**
 * Fig. 4's magnitudes without BN (read off the figure; /work/shared/paper-notes.md):
 * at layer 8 everything stays O(1); the largest channel |mean| and variance
 * reached along the diverging step at layers 44 and 80.
 */
export const PAPER_FIG4 = {
  source: 'Fig. 4 (read off the figure)',
  maxAbsMean: { 44: 3e3, 80: 3e8 } as Record<number, number>,
  maxVariance: { 44: 5e6, 80: 5e16 } as Record<number, number>,
  /** The blow-up happens in the last ~10% of the step. */
  blowUpFraction: 0.9,
};

export interface AnatomyConfig {
  data: DataSpec;
  model: ModelSpec;
  batches: ProbeBatches;
  /** α of the step θ → θ − α·g. */
  stepSize: number;
  /** Fractions t ∈ [0, 1] of the step. */
  fractions: number[];
  /** Target depths (weight layers); the points of `kind` nearest to them are recorded. */
  layers: number[];
  /**
   * 'conv' (default): the conv layers' outputs, signed, before any ReLU; a
   * conv point's depth is its layer number, so layers 8, 44, 80 of ResNet-110
   * are exactly the paper's. 'block': the residual blocks' outputs (after the ReLU, ≥ 0).
   */
  kind?: 'conv' | 'block';
}

export type AnatomyRow = {
  /** The target depth this point stands for, e.g. 44. */
  layer: number;
  point: string;
  /** The point's own depth (weight layers before it). */
  depth: number;
  batch: number;
  t: number;
  channel: number;
  mean: number;
  variance: number;
};

/** Channel means and variances along one step (Fig. 4), at the conv (or block) outputs nearest the target layers. */
export async function anatomyProbe(cfg: AnatomyConfig): Promise<AnatomyRow[]> {
  const data = loadData(cfg.data);
  const model = buildProbeModel(data, cfg.model);
  try {
    const kind = cfg.kind ?? 'conv';
    const chosen = nearestPoints(
      model.points.filter((p) => p.kind === kind),
      cfg.layers,
    );
    const layerOf = new Map(chosen.map((c) => [c.point.name, c.target]));
    const rows: AnatomyRow[] = [];
    forEachProbeBatch(data.train, cfg.batches, (x, y, batch) => {
      for (const r of stepAnatomy(model, x, y, {
        stepSize: cfg.stepSize,
        fractions: cfg.fractions,
        points: chosen.map((c) => c.point.name),
      })) {
        rows.push({
          layer: layerOf.get(r.point)!,
          point: r.point,
          depth: r.depth,
          batch,
          t: r.t,
          channel: r.channel,
          mean: r.mean,
          variance: r.variance,
        });
      }
    });
    return rows;
  } finally {
    model.dispose();
  }
}

/**
 * The paper's layers (8, 44, 80 of ResNet-110) at the same relative depth
 * of a network `depth` layers deep, rounded; distinct and ≥ 1.
 */
export function scaledLayers(paperLayers: readonly number[], depth: number, paperDepth = 110): number[] {
  if (!(depth >= 1)) throw new Error(`scaledLayers: depth must be ≥ 1, got ${depth}`);
  const out: number[] = [];
  for (const l of paperLayers) {
    const v = Math.max(1, Math.round((l * depth) / paperDepth));
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/**
 * For each target depth, the point nearest to it (ties go to the shallower
 * point); each point is used once, so close targets in a shallow network
 * still get distinct points where there are enough.
 */
export function nearestPoints(points: readonly PointInfo[], targets: readonly number[]): { target: number; point: PointInfo }[] {
  if (points.length === 0) throw new Error('nearestPoints: no points to choose from');
  const used = new Set<string>();
  return targets.map((target) => {
    const free = points.filter((p) => !used.has(p.name));
    const pool = free.length ? free : points;
    let best = pool[0];
    for (const p of pool) if (Math.abs(p.depth - target) < Math.abs(best.depth - target)) best = p;
    used.add(best.name);
    return { target, point: best };
  });
}

export type AnatomySummaryRow = {
  layer: number;
  point: string;
  depth: number;
  t: number;
  /** Over channels (and mini-batches): the largest |mean| and the largest variance; Infinity if any is not finite. */
  maxAbsMean: number;
  maxVariance: number;
};

/** Fig. 4 in numbers: per target layer and fraction t, the largest channel |mean| and variance. */
export function anatomySummary(rows: readonly AnatomyRow[]): AnatomySummaryRow[] {
  const out: AnatomySummaryRow[] = [];
  for (const [, rs] of groupBy(rows, (r) => `${r.layer}|${r.t}`)) {
    const big = (v: number) => (Number.isFinite(v) ? Math.abs(v) : Infinity);
    out.push({
      layer: rs[0].layer,
      point: rs[0].point,
      depth: rs[0].depth,
      t: rs[0].t,
      maxAbsMean: Math.max(...rs.map((r) => big(r.mean))),
      maxVariance: Math.max(...rs.map((r) => big(r.variance))),
    });
  }
  return out.sort((a, b) => a.layer - b.layer || a.t - b.t);
}

export const MAX_ABS_MEAN = 'largest |channel mean|';

export const MAX_VARIANCE = 'largest channel variance';

/** The summary as long rows for one faceted chart: one row per (layer, t, statistic). */
export function anatomyLongRows(summary: readonly AnatomySummaryRow[]): { layer: string; t: number; statistic: string; value: number }[] {
  return summary.flatMap((s) => [
    { layer: `layer ${s.depth}`, t: s.t, statistic: MAX_ABS_MEAN, value: s.maxAbsMean },
    { layer: `layer ${s.depth}`, t: s.t, statistic: MAX_VARIANCE, value: s.maxVariance },
  ]);
}

/** The smallest t at which the largest variance at a layer exceeds `factor` × its value at t = 0 (where the blow-up starts), or null. */
export function blowUpFraction(summary: readonly AnatomySummaryRow[], layer: number, factor = 100): number | null {
  const rs = summary.filter((r) => r.layer === layer).sort((a, b) => a.t - b.t);
  if (!rs.length) return null;
  const v0 = rs[0].maxVariance;
  const hit = rs.find((r) => !(r.maxVariance <= factor * v0));
  return hit ? hit.t : null;
}
