/**
 * A grid of colored cells: channels × depth, examples × classes, channel ×
 * channel. One rect per row of the input.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  assemble,
  BaseChartOptions,
  distinct,
  facetFields,
  finiteFilter,
  Json,
  notReference,
  positiveFilter,
  positiveRange,
  project,
  Row,
} from './common';

export interface HeatmapOptions extends BaseChartOptions {
  x: string;
  y: string;
  /** The field the cell color shows. */
  color: string;
  /** Log color scale (magnitudes spanning decades); cells ≤ 0 are left blank. */
  logColor?: boolean;
  /** A two-sided scale centred on `mid` (default 0), for signed values such as correlations. */
  diverging?: boolean | { mid: number };
  colorDomain?: [number, number];
  /** A Vega color scheme; default 'viridis', or 'redblue' (reversed: red is positive) when diverging. */
  scheme?: string;
  /** Axis types; default 'ordinal' (one band per distinct value, numbers in numeric order). */
  xType?: 'ordinal' | 'nominal';
  yType?: 'ordinal' | 'nominal';
  /** Put the first y value at the bottom instead of the top. */
  yUp?: boolean;
  xTitle?: string;
  yTitle?: string;
  colorTitle?: string;
  /** Cell width and height in pixels; default fits about 480 × 360. */
  cell?: number;
}

/**
 * Where a log color legend gets labels: at the powers of ten inside the
 * values' range (Vega labels only the two ends of a log gradient), or at
 * the ends and the geometric middle when the range is within a decade.
 */
export function logLegendValues(values: readonly unknown[]): number[] {
  const [lo, hi] = positiveRange(values);
  if (!(lo <= hi)) return [];
  const decades: number[] = [];
  for (let e = Math.ceil(Math.log10(lo) - 1e-9); e <= Math.floor(Math.log10(hi) + 1e-9); e++) decades.push(10 ** e);
  return decades.length >= 2 ? decades : [lo, Math.sqrt(lo * hi), hi];
}

export function heatmap(rows: readonly Row[], o: HeatmapOptions): TopLevelSpec {
  const nx = Math.max(1, distinct(rows.map((r) => r[o.x])).length);
  const ny = Math.max(1, distinct(rows.map((r) => r[o.y])).length);
  // Cells as large as fit about 480 × 360 (never below 3 px, never above
  // 28), at most three times as tall as wide or the other way round: a
  // 10-class × 32-example grid gets wide cells rather than a thin strip.
  const fit = (room: number, n: number) => Math.max(3, Math.min(28, Math.floor(room / n)));
  let cellW = o.cell ?? fit(480, nx);
  let cellH = o.cell ?? fit(360, ny);
  if (nx === ny) cellW = cellH = Math.min(cellW, cellH); // a square matrix (channel × channel) stays square
  cellW = Math.min(cellW, 3 * cellH);
  cellH = Math.min(cellH, 3 * cellW);
  const width = o.width ?? nx * cellW;
  const height = o.height ?? ny * cellH;

  const diverging = o.diverging ? (typeof o.diverging === 'object' ? o.diverging : { mid: 0 }) : undefined;
  const colorScaleDef: Json = {
    ...(o.logColor ? { type: 'log' } : {}),
    ...(diverging
      ? { scheme: o.scheme ?? 'redblue', reverse: o.scheme === undefined, domainMid: diverging.mid }
      : { scheme: o.scheme ?? 'viridis' }),
    ...(o.colorDomain ? { domain: o.colorDomain } : {}),
  };
  // Band axes label every value: thin out labels when cells are small.
  const axis = (n: number, size: number): Json => ({
    labelOverlap: 'parity',
    labelAngle: 0,
    ...(size / n < 12 ? { labelFontSize: 10 } : {}),
  });
  const xDef = { type: o.xType ?? ('ordinal' as const), title: o.xTitle ?? o.x };
  const yDef = { type: o.yType ?? ('ordinal' as const), title: o.yTitle ?? o.y, ...(o.yUp ? { scale: { reverse: true } } : {}) };

  const transform: Json[] = [notReference, finiteFilter(o.color)];
  if (o.logColor) transform.push(positiveFilter(o.color));

  // The legend (title and gradient) no taller than the grid: a taller one
  // in a faceted chart would push the shared x axis away from the cells.
  // Labels at powers of ten on a log scale, unless each panel has its own
  // scale (its domain is not known here).
  const colorLegend: Json = {
    gradientLength: Math.max(40, Math.min(240, height - 24)),
    format: '.3~g',
    ...(o.logColor && !o.facet?.independentColor
      ? { values: logLegendValues(o.colorDomain ?? rows.map((r) => r[o.color])), format: '~g' }
      : {}),
  };
  const layer: Json = {
    name: 'cells',
    transform,
    mark: { type: 'rect' },
    encoding: {
      x: { field: o.x, ...xDef, axis: axis(nx, width) },
      y: { field: o.y, ...yDef, axis: axis(ny, height) },
      color: { field: o.color, type: 'quantitative', title: o.colorTitle ?? o.color, scale: colorScaleDef, legend: colorLegend },
      tooltip: [
        { field: o.x, type: xDef.type, title: xDef.title },
        { field: o.y, type: yDef.type, title: yDef.title },
        { field: o.color, type: 'quantitative', title: o.colorTitle ?? o.color, format: '.4~g' },
      ],
    },
  };

  return assemble({
    rows: project(rows, [o.x, o.y, o.color, ...facetFields(o.facet)]),
    layers: [layer],
    opts: o,
    x: xDef,
    y: yDef,
    width,
    height,
  });
}
