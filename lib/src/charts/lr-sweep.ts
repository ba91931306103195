/**
 * A metric against the learning rate on a log axis (the paper's Fig. 1/3
 * kind of plot): per series, the mean over seeds of the runs that
 * completed, with their min–max as an error bar, and a cross in a strip
 * just above the plot where runs diverged, so a missing point reads as
 * "diverged", not as "not run". The crosses sit outside the data area (a
 * diverged run has no metric, and inside they would pass for data points);
 * the legend says what they mean.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  assemble,
  BaseChartOptions,
  colorScale,
  distinct,
  facetFields,
  Json,
  logAxis,
  naturalOrder,
  notReference,
  project,
  Row,
} from './common';

export interface LrSweepOptions extends BaseChartOptions {
  lr: string;
  metric: string;
  /** One line per value of this field (e.g. 'norm'). */
  series: string;
  /** The field that marks a diverged run: true, 1 or the string 'diverged'. */
  diverged: string;
  /** The field that tells seeds apart (default 'seed'); only for the tooltip's seed count. */
  seed?: string;
  logY?: boolean;
  xTitle?: string;
  yTitle?: string;
  seriesTitle?: string;
  colors?: Record<string, string>;
  yDomain?: [number, number];
}

export const LR_SWEEP_DEFAULTS = { width: 440, height: 280, facetWidth: 300, facetHeight: 240 } as const;

export const STATUS_COMPLETED = 'completed';
export const STATUS_DIVERGED = 'diverged (× above the plot)';

/** An × as a Vega symbol path (Vega's own 'cross' is a +); drawn stroked. */
const X_SHAPE = 'M-0.8,-0.8L0.8,0.8M-0.8,0.8L0.8,-0.8';

export function isDiverged(v: unknown): boolean {
  return v === true || v === 1 || v === 'diverged';
}

export function lrSweepChart(rows: readonly Row[], o: LrSweepOptions): TopLevelSpec {
  const faceted = facetFields(o.facet).length > 0;
  const width = o.width ?? (faceted ? LR_SWEEP_DEFAULTS.facetWidth : LR_SWEEP_DEFAULTS.width);
  const height = o.height ?? (faceted ? LR_SWEEP_DEFAULTS.facetHeight : LR_SWEEP_DEFAULTS.height);
  const seed = o.seed ?? 'seed';
  const groupby = [o.lr, o.series, ...facetFields(o.facet)];

  // Crosses of different series at the same learning rate would sit on top
  // of each other: each series gets its own row of the strip, in legend order.
  const seriesOrder = o.colors ? Object.keys(o.colors) : naturalOrder(rows, o.series);
  const crossRow = new Map(seriesOrder.map((s, i) => [s, i]));
  const strip = distinct(rows.map((r) => r[o.series])).length;
  const data = project(rows, [o.lr, o.metric, o.series, seed, ...facetFields(o.facet)]).map((r, i) => {
    const diverged = isDiverged(rows[i][o.diverged]);
    return {
      ...r,
      _status: diverged ? STATUS_DIVERGED : STATUS_COMPLETED,
      _crossY: -8 - 11 * (strip - 1 - (crossRow.get(rows[i][o.series]) ?? 0)),
    };
  });
  const statuses = [STATUS_COMPLETED, STATUS_DIVERGED].filter((s) => data.some((d) => d._status === s));

  const xDef = { type: 'quantitative' as const, title: o.xTitle ?? o.lr, scale: { type: 'log' }, axis: logAxis(rows.map((r) => r[o.lr])) };
  const yDef = {
    type: 'quantitative' as const,
    title: o.yTitle ?? o.metric,
    scale: { ...(o.logY ? { type: 'log' } : { zero: false }), ...(o.yDomain ? { domain: o.yDomain } : {}) },
  };
  const x = { field: o.lr, ...xDef };
  const color = {
    field: o.series,
    type: 'nominal',
    title: o.seriesTitle ?? o.series,
    ...(colorScale(o.colors) ? { scale: colorScale(o.colors) } : { sort: seriesOrder }),
  };
  const shape = {
    field: '_status',
    type: 'nominal',
    title: 'run',
    scale: { domain: statuses, range: statuses.map((s) => (s === STATUS_COMPLETED ? 'circle' : X_SHAPE)) },
    // The × is all stroke: legend symbols get one.
    legend: { symbolStrokeColor: '#333', symbolStrokeWidth: 2, symbolFillColor: '#333' },
  };
  const lrValid: Json = { filter: `isValid(datum[${JSON.stringify(o.lr)}]) && datum[${JSON.stringify(o.lr)}] > 0` };

  const completed: Json = {
    transform: [
      notReference,
      lrValid,
      {
        filter: `datum._status === ${JSON.stringify(STATUS_COMPLETED)} && isValid(datum[${JSON.stringify(o.metric)}]) && isFinite(datum[${JSON.stringify(o.metric)}])`,
      },
      {
        aggregate: [
          { op: 'mean', field: o.metric, as: '_mean' },
          { op: 'min', field: o.metric, as: '_min' },
          { op: 'max', field: o.metric, as: '_max' },
          { op: 'count', as: '_runs' },
        ],
        groupby: [...groupby, '_status'],
      },
    ],
    layer: [
      { name: 'line', mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: '_mean', ...yDef }, color } },
      // Min–max over seeds; a single seed's bar has no length.
      {
        name: 'range',
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: { x, y: { field: '_min', ...yDef }, y2: { field: '_max' }, color },
      },
      {
        name: 'completed',
        mark: { type: 'point', filled: true, size: 50, opacity: 1 },
        encoding: {
          x,
          y: { field: '_mean', ...yDef },
          color,
          shape,
          tooltip: [
            { field: o.series, type: 'nominal', title: color.title },
            { field: o.lr, type: 'quantitative', title: xDef.title, format: '.3~g' },
            { field: '_mean', type: 'quantitative', title: `${yDef.title} (mean)`, format: '.4~g' },
            { field: '_min', type: 'quantitative', title: 'min', format: '.4~g' },
            { field: '_max', type: 'quantitative', title: 'max', format: '.4~g' },
            { field: '_runs', type: 'quantitative', title: 'completed runs' },
          ],
        },
      },
    ],
  };
  const layers: Json[] = [completed];
  if (statuses.includes(STATUS_DIVERGED)) {
    layers.push({
      name: 'diverged',
      transform: [
        notReference,
        lrValid,
        { filter: `datum._status === ${JSON.stringify(STATUS_DIVERGED)}` },
        {
          aggregate: [
            { op: 'count', as: '_runs' },
            { op: 'min', field: '_crossY', as: '_crossY' },
          ],
          groupby: [...groupby, '_status'],
        },
      ],
      mark: { type: 'point', size: 70, strokeWidth: 2.5, opacity: 1, filled: false },
      encoding: {
        x,
        // Pixels above the top of the plot, not data: a diverged run has no metric.
        y: { field: '_crossY', type: 'quantitative', scale: null, axis: null },
        color,
        shape,
        tooltip: [
          { field: o.series, type: 'nominal', title: color.title },
          { field: o.lr, type: 'quantitative', title: xDef.title, format: '.3~g' },
          { field: '_runs', type: 'quantitative', title: 'diverged runs' },
        ],
      },
    });
  }

  return assemble({ rows: data, layers, opts: o, x: xDef, y: yDef, width, height });
}
