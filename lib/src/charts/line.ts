/**
 * Curves: loss or accuracy against steps, epochs or depth, one line per
 * series, optionally with a band over seeds, on linear or log axes.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  assemble,
  BaseChartOptions,
  colorScale,
  facetFields,
  finiteFilter,
  Json,
  logAxis,
  naturalOrder,
  notReference,
  positiveFilter,
  project,
  Row,
} from './common';

export interface LineChartOptions extends BaseChartOptions {
  x: string;
  y: string;
  /** One line (and color) per value of this field. */
  color?: string;
  /** A second series field drawn as dash patterns (e.g. color = learning rate, dash = norm). */
  strokeDash?: string;
  /**
   * A band around each line:
   * - { lower, upper }: fields of the rows (precomputed), the line is `y` as given;
   * - 'minmax' or 'sd': over the rows that differ only in the seed field; the
   *   line is then the mean over seeds and the band their min–max or mean ± sd
   *   (on a log y axis, mean − sd is clipped at the smallest seed's value).
   */
  band?: { lower: string; upper: string } | 'minmax' | 'sd';
  /** The field that tells seeds apart (default 'seed'). Given, lines are means over seeds even without a band. */
  seed?: string;
  logX?: boolean;
  logY?: boolean;
  xTitle?: string;
  yTitle?: string;
  colorTitle?: string;
  /** Fixed colors for values of the color field, e.g. { batch: '#1f77b4', none: '#d62728' }. */
  colors?: Record<string, string>;
  /** Treat the color field as numbers on a continuous scale (e.g. learning rates as a gradient). Default: categories. */
  colorType?: 'nominal' | 'ordinal' | 'quantitative';
  yDomain?: [number, number];
  xDomain?: [number, number];
  /** Dots on the data points (useful with few x values, e.g. per-epoch curves). */
  points?: boolean;
}

/** The y values the chart shows (the line's and the precomputed band's), for choosing log-axis labels. */
function fieldBandValues(rows: readonly Row[], o: LineChartOptions): unknown[] {
  const fields = typeof o.band === 'object' ? [o.y, o.band.lower, o.band.upper] : [o.y];
  return rows.flatMap((r) => fields.map((f) => r[f]));
}

export const LINE_DEFAULTS = { width: 440, height: 260, facetWidth: 300, facetHeight: 220 } as const;

const MEAN = '_mean';
const LOW = '_low';
const HIGH = '_high';

export function lineChart(rows: readonly Row[], o: LineChartOptions): TopLevelSpec {
  const faceted = facetFields(o.facet).length > 0;
  const width = o.width ?? (faceted ? LINE_DEFAULTS.facetWidth : LINE_DEFAULTS.width);
  const height = o.height ?? (faceted ? LINE_DEFAULTS.facetHeight : LINE_DEFAULTS.height);
  const seedBand = o.band === 'minmax' || o.band === 'sd';
  const overSeeds = seedBand || o.seed !== undefined;
  const fieldBand = typeof o.band === 'object' ? o.band : undefined;
  const seed = o.seed ?? 'seed';

  // Log axes end at the data, not at the next power of ten (which can
  // leave half the plot empty); dots keep clear of the axes.
  const xScale: Json = {
    ...(o.logX ? { type: 'log', nice: false } : { zero: false }),
    ...(o.points ? { padding: 8 } : {}),
    ...(o.xDomain ? { domain: o.xDomain } : {}),
  };
  const yScale: Json = { ...(o.logY ? { type: 'log', nice: false } : { zero: false }), ...(o.yDomain ? { domain: o.yDomain } : {}) };
  const yValues = fieldBandValues(rows, o);
  // Steps and epochs are whole numbers: no ticks at 1.5.
  const integerX = rows.length > 0 && rows.every((r) => Number.isInteger(r[o.x]));
  const xAxis = o.logX ? logAxis(rows.map((r) => r[o.x])) : integerX ? { tickMinStep: 1 } : {};
  const xDef = { type: 'quantitative' as const, title: o.xTitle ?? o.x, scale: xScale, axis: xAxis };
  const yDef = { type: 'quantitative' as const, title: o.yTitle ?? o.y, scale: yScale, axis: o.logY ? logAxis(yValues) : {} };
  const x = { field: o.x, ...xDef };
  const y = (field: string) => ({ field, ...yDef });

  const series: Json = {};
  if (o.color) {
    const type = o.colorType ?? 'nominal';
    const scale = colorScale(o.colors) ?? (type === 'quantitative' ? { type: 'log', scheme: 'viridis' } : undefined);
    // A gradient legend labels round numbers, not the few values a sweep has.
    const values = naturalOrder(rows, o.color);
    const gradientLegend = type === 'quantitative' && values.length <= 8 ? { legend: { values, format: '~g' } } : {};
    series.color = {
      field: o.color,
      type,
      title: o.colorTitle ?? o.color,
      ...(scale ? { scale } : {}),
      ...(type !== 'quantitative' && !o.colors ? { sort: values } : {}),
      // Line symbols in the legend: the bands share the legend and would
      // otherwise give it their pale area swatches.
      ...(type !== 'quantitative' ? { legend: { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 } } : gradientLegend),
    };
  }
  if (o.strokeDash) series.strokeDash = { field: o.strokeDash, type: 'nominal', sort: naturalOrder(rows, o.strokeDash) };
  const bandColor = series.color ? { color: series.color } : {};

  // Rows an axis can place: finite values, and positive ones on log axes.
  const valid: Json[] = [notReference, finiteFilter(o.x), finiteFilter(o.y)];
  if (o.logX) valid.push(positiveFilter(o.x));
  if (o.logY) valid.push(positiveFilter(o.y));

  const groupby = [o.x, o.color, o.strokeDash, ...facetFields(o.facet)].filter((f): f is string => typeof f === 'string');
  const transform: Json[] = [...valid];
  let lineY = o.y;
  if (overSeeds) {
    transform.push({
      aggregate: [
        { op: 'mean', field: o.y, as: MEAN },
        { op: 'min', field: o.y, as: '_min' },
        { op: 'max', field: o.y, as: '_max' },
        { op: 'stdev', field: o.y, as: '_sd' },
        { op: 'distinct', field: seed, as: '_seeds' },
      ],
      groupby,
    });
    if (o.band === 'sd') {
      const sd = '(isValid(datum._sd) ? datum._sd : 0)';
      transform.push({ calculate: o.logY ? `max(datum.${MEAN} - ${sd}, datum._min)` : `datum.${MEAN} - ${sd}`, as: LOW });
      transform.push({ calculate: `datum.${MEAN} + ${sd}`, as: HIGH });
    } else {
      transform.push({ calculate: 'datum._min', as: LOW }, { calculate: 'datum._max', as: HIGH });
    }
    lineY = MEAN;
  }

  const tooltip: Json[] = [
    { field: o.x, type: 'quantitative', title: xDef.title },
    { field: lineY, type: 'quantitative', title: overSeeds ? `${yDef.title} (mean over seeds)` : yDef.title, format: '.4~g' },
    ...(o.color ? [{ field: o.color, type: 'nominal', title: o.colorTitle ?? o.color }] : []),
    ...(o.strokeDash ? [{ field: o.strokeDash, type: 'nominal' }] : []),
    ...(overSeeds ? [{ field: '_seeds', type: 'quantitative', title: 'seeds' }] : []),
  ];

  const layers: Json[] = [];
  if (seedBand) {
    layers.push({
      name: 'band',
      mark: { type: 'area', opacity: 0.18, line: false },
      encoding: {
        x,
        y: { ...y(LOW), stack: null },
        y2: { field: HIGH },
        ...bandColor,
        ...(o.strokeDash ? { detail: { field: o.strokeDash } } : {}),
      },
    });
  } else if (fieldBand) {
    layers.push({
      name: 'band',
      mark: { type: 'area', opacity: 0.18 },
      encoding: {
        x,
        y: { ...y(fieldBand.lower), stack: null },
        y2: { field: fieldBand.upper },
        ...bandColor,
        ...(o.strokeDash ? { detail: { field: o.strokeDash } } : {}),
      },
    });
  }
  layers.push({
    name: 'line',
    mark: { type: 'line', strokeWidth: 2, ...(o.points ? { point: { size: 28, filled: true } } : {}) },
    encoding: { x, y: y(lineY), ...series, tooltip },
  });

  return assemble({
    rows: project(rows, [
      o.x,
      o.y,
      o.color,
      o.strokeDash,
      ...(overSeeds ? [seed] : []),
      fieldBand?.lower,
      fieldBand?.upper,
      ...facetFields(o.facet),
    ]),
    layers: [{ transform, layer: layers }],
    opts: o,
    x: xDef,
    y: yDef,
    width,
    height,
  });
}
