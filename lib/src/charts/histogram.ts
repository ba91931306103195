/**
 * Distributions of a value (activations, gradient magnitudes), alone or
 * overlaid by group. The bins are counted here rather than by Vega-Lite:
 * the spec then carries a few hundred bin rows instead of every raw value
 * (notebooks embed the data), the bin edges are exactly `bins` equal
 * steps of the shared extent (so overlaid groups and panels line up), and
 * log-spaced bins for magnitudes are possible.
 */
import type { TopLevelSpec } from 'vega-lite';
import { assemble, BaseChartOptions, colorScale, facetFields, Json, logAxis, naturalOrder, notReference, Row } from './common';

export interface HistogramChartOptions extends BaseChartOptions {
  value: string;
  /** One overlaid distribution per value of this field. */
  color?: string;
  /** Number of bins over the extent (default 40). */
  bins?: number;
  /** HistogramBin edges; default the extent of the (positive, with logX) values. */
  extent?: [number, number];
  /** Log-spaced bins on a log x axis; values ≤ 0 are left out. */
  logX?: boolean;
  logY?: boolean;
  /** 'count' (default), 'fraction' of the group, or 'density' (integrates to 1 over x). */
  normalize?: 'count' | 'fraction' | 'density';
  /** 'bars' (default; translucent when overlaid) or 'steps' (outlines, clearer with more than two groups). */
  style?: 'bars' | 'steps';
  xTitle?: string;
  yTitle?: string;
  colorTitle?: string;
  colors?: Record<string, string>;
}

export const HISTOGRAM_DEFAULTS = { width: 440, height: 240, facetWidth: 300, facetHeight: 200, bins: 40 } as const;

export interface HistogramBin {
  /** The group's field values (color and facet fields). */
  group: Row;
  lo: number;
  hi: number;
  count: number;
  /** The bar height after normalisation. */
  y: number;
}

/**
 * Counts values into `bins` bins per group (groups = distinct values of the
 * `groupBy` fields). Every group gets every bin, empty ones included.
 * Values outside the extent, non-finite, or ≤ 0 with `log`, are not counted.
 */
export function binRows(
  rows: readonly Row[],
  o: {
    value: string;
    groupBy: string[];
    bins: number;
    extent?: [number, number];
    log?: boolean;
    normalize?: 'count' | 'fraction' | 'density';
  },
): HistogramBin[] {
  if (!Number.isInteger(o.bins) || o.bins < 1) throw new Error(`histogram: bins must be a positive integer, got ${o.bins}`);
  const usable = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && (!o.log || v > 0);
  let [lo, hi] = o.extent ?? [Infinity, -Infinity];
  if (!o.extent) {
    for (const r of rows) {
      const v = r[o.value];
      if (usable(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (!(lo <= hi)) return []; // no usable values
  if (o.log && !(lo > 0)) throw new Error(`histogram: a log extent must be positive, got [${lo}, ${hi}]`);
  // A single distinct value still gets a visible bin.
  if (lo === hi) [lo, hi] = o.log ? [lo / 1.5, hi * 1.5] : [lo - 0.5, hi + 0.5];
  const t = o.log ? Math.log : (v: number) => v;
  const tLo = t(lo);
  const tStep = (t(hi) - tLo) / o.bins;
  const edge = (i: number) => (o.log ? Math.exp(tLo + i * tStep) : tLo + i * tStep);

  const groups = new Map<string, { group: Row; counts: number[]; n: number }>();
  for (const r of rows) {
    const v = r[o.value];
    const key = JSON.stringify(o.groupBy.map((f) => r[f]));
    let g = groups.get(key);
    if (!g) {
      const group: Row = {};
      for (const f of o.groupBy) group[f] = r[f];
      g = { group, counts: new Array(o.bins).fill(0), n: 0 };
      groups.set(key, g);
    }
    if (!usable(v) || v < lo || v > hi) continue;
    const i = Math.min(o.bins - 1, Math.floor((t(v) - tLo) / tStep));
    g.counts[i] += 1;
    g.n += 1;
  }
  const out: HistogramBin[] = [];
  for (const g of groups.values()) {
    g.counts.forEach((count, i) => {
      const binLo = i === 0 ? lo : edge(i);
      const binHi = i === o.bins - 1 ? hi : edge(i + 1);
      const y =
        o.normalize === 'fraction'
          ? g.n
            ? count / g.n
            : 0
          : o.normalize === 'density'
            ? g.n
              ? count / g.n / (binHi - binLo)
              : 0
            : count;
      out.push({ group: g.group, lo: binLo, hi: binHi, count, y });
    });
  }
  return out;
}

export function histogram(rows: readonly Row[], o: HistogramChartOptions): TopLevelSpec {
  const faceted = facetFields(o.facet).length > 0;
  const width = o.width ?? (faceted ? HISTOGRAM_DEFAULTS.facetWidth : HISTOGRAM_DEFAULTS.width);
  const height = o.height ?? (faceted ? HISTOGRAM_DEFAULTS.facetHeight : HISTOGRAM_DEFAULTS.height);
  const groupBy = [o.color, ...facetFields(o.facet)].filter((f): f is string => typeof f === 'string');
  const bins = binRows(rows, {
    value: o.value,
    groupBy,
    bins: o.bins ?? HISTOGRAM_DEFAULTS.bins,
    extent: o.extent,
    log: o.logX,
    normalize: o.normalize,
  });
  const data: Row[] = bins.map((b) => ({ ...b.group, _lo: b.lo, _hi: b.hi, _count: b.count, _y: b.y }));
  const style = o.style ?? 'bars';

  const yTitle = o.yTitle ?? (o.normalize === 'fraction' ? 'fraction' : o.normalize === 'density' ? 'density' : 'count');
  // The x axis ends where the bins do.
  const xDef = {
    type: 'quantitative' as const,
    title: o.xTitle ?? o.value,
    scale: o.logX ? { type: 'log', nice: false } : { zero: false, nice: false },
    axis: o.logX ? logAxis(bins.flatMap((b) => [b.lo, b.hi])) : {},
  };
  const yDef = {
    type: 'quantitative' as const,
    title: yTitle,
    scale: o.logY ? { type: 'log' } : {},
    axis: o.logY ? logAxis(bins.map((b) => b.y)) : {},
  };
  const color: Json | undefined = o.color
    ? {
        field: o.color,
        type: 'nominal',
        title: o.colorTitle ?? o.color,
        ...(colorScale(o.colors) ? { scale: colorScale(o.colors) } : { sort: naturalOrder(data, o.color) }),
      }
    : undefined;
  const tooltip = [
    ...(o.color ? [{ field: o.color, type: 'nominal', title: o.colorTitle ?? o.color }] : []),
    { field: '_lo', type: 'quantitative', title: 'from', format: '.4~g' },
    { field: '_hi', type: 'quantitative', title: 'to', format: '.4~g' },
    { field: '_count', type: 'quantitative', title: 'count' },
  ];

  let layer: Json;
  if (style === 'bars') {
    // Only non-empty bins get a bar; on a log y axis there is no zero to
    // start from, so bars reach down to the bottom of the plot.
    layer = {
      name: 'bars',
      transform: [notReference, { filter: 'datum._count > 0' }],
      mark: { type: 'rect', opacity: o.color ? 0.55 : 0.85, ...(o.color ? {} : { color: '#4c78a8' }) },
      encoding: {
        x: { field: '_lo', ...xDef },
        x2: { field: '_hi' },
        y: { field: '_y', ...yDef },
        y2: o.logY ? { value: height } : { datum: 0 },
        ...(color ? { color } : {}),
        tooltip,
      },
    };
  } else {
    // A step outline per group: each bin's value from its left edge, plus
    // the right edge of the last bin so the outline closes.
    layer = {
      name: 'steps',
      transform: [notReference, ...(o.logY ? [{ filter: 'datum._y > 0' }] : [])],
      mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.8, ...(o.color ? {} : { color: '#4c78a8' }) },
      encoding: {
        x: { field: '_x', ...xDef },
        y: { field: '_y', ...yDef },
        ...(color ? { color } : {}),
        ...(groupBy.length ? { detail: groupBy.map((f) => ({ field: f })) } : {}),
        order: { field: '_x' },
      },
    };
    const last = new Map<string, Row>();
    for (const d of data) {
      d._x = d._lo;
      last.set(JSON.stringify(groupBy.map((f) => d[f])), d);
    }
    for (const d of last.values()) data.push({ ...d, _x: d._hi });
  }

  return assemble({ rows: data, layers: [layer], opts: o, x: xDef, y: yDef, width, height });
}
