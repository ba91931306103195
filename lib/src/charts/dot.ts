/**
 * One value per category as a dot or a bar, with its value written above
 * it (RQ4's accuracy per normalisation and its recovered share).
 */
import type { TopLevelSpec } from 'vega-lite';
import { assemble, BaseChartOptions, colorScale, Json, notReference, project, Row } from './common';

export interface DotChartOptions extends BaseChartOptions {
  /** The category on the x axis, in the order of the rows. */
  x: string;
  y: string;
  /** Bars from 0 instead of dots (a share, a count). Default dots. */
  bars?: boolean;
  /** A second field whose value is written beside each dot (e.g. the learning rate). */
  note?: string;
  notePrefix?: string;
  xTitle?: string;
  yTitle?: string;
  colors?: Record<string, string>;
  yDomain?: [number, number];
  /** d3 format of the value labels, e.g. '.1%'. */
  format?: string;
  /** A shaded band across the plot behind the marks (e.g. the verdict's accepted range), labelled at its top left. */
  band?: { from: number; to: number; label: string };
}

/**
 * One value per category as a dot (or a bar) with its value written beside
 * it; the paper's numbers go in `references` (a y-only reference is a
 * labelled rule, a reference with x = a category a diamond in its column).
 */
export function dotChart(rows: readonly Row[], o: DotChartOptions): TopLevelSpec {
  const width = o.width ?? Math.max(300, 140 * rows.length);
  const height = o.height ?? 260;
  const order = rows.map((r) => r[o.x]);
  const xDef = {
    type: 'nominal' as const,
    title: o.xTitle ?? o.x,
    scale: { domain: order, ...(o.bars ? { paddingInner: 0.4, paddingOuter: 0.3 } : { padding: 0.6 }) },
    axis: { labelAngle: 0 },
  };
  const yDef = {
    type: 'quantitative' as const,
    title: o.yTitle ?? o.y,
    scale: { ...(o.bars ? { zero: true } : { zero: false }), ...(o.yDomain ? { domain: o.yDomain } : {}) },
  };
  const format = o.format ?? '.3~g';
  const color = o.colors ? { field: o.x, type: 'nominal', scale: colorScale(o.colors), legend: null } : { value: '#4c78a8' };
  const enc = { x: { field: o.x, ...xDef }, y: { field: o.y, ...yDef }, color };
  const valid: Json = { filter: `isValid(datum[${JSON.stringify(o.y)}]) && isFinite(datum[${JSON.stringify(o.y)}])` };
  const label = o.note
    ? `format(datum[${JSON.stringify(o.y)}], ${JSON.stringify(format)}) + (isValid(datum[${JSON.stringify(o.note)}]) ? ${JSON.stringify(o.notePrefix ?? ' ')} + datum[${JSON.stringify(o.note)}] : '')`
    : `format(datum[${JSON.stringify(o.y)}], ${JSON.stringify(format)})`;
  const layers: Json[] = [];
  if (o.band) {
    const y = { type: 'quantitative', title: yDef.title, scale: yDef.scale };
    layers.push({
      // Its own one-row data: it is not a value of the chart's rows.
      data: { values: [{ _from: o.band.from, _to: o.band.to, _label: o.band.label }] },
      layer: [
        {
          name: 'band',
          mark: { type: 'rect', color: '#2ca02c', opacity: 0.1 },
          encoding: { x: { value: 0 }, x2: { value: width }, y: { field: '_from', ...y }, y2: { field: '_to' } },
        },
        {
          name: 'band_label',
          mark: { type: 'text', fontSize: 11, align: 'left', baseline: 'top', dx: 4, dy: 3, color: '#2b6e2b' },
          encoding: { x: { value: 0 }, y: { field: '_to', ...y }, text: { field: '_label', type: 'nominal' } },
        },
      ],
    });
  }
  layers.push({
    transform: [notReference, valid, { calculate: label, as: '_label' }],
    layer: [
      o.bars
        ? { name: 'bar', mark: { type: 'bar', opacity: 0.85, width: { band: 0.7 } }, encoding: enc }
        : { name: 'dot', mark: { type: 'point', filled: true, size: 110, opacity: 1 }, encoding: enc },
      // Above the dot or bar: beside it is where a reference diamond's label goes.
      {
        name: 'value',
        mark: { type: 'text', fontSize: 11, align: 'center', baseline: 'bottom', dy: -8, color: '#222' },
        encoding: { x: enc.x, y: enc.y, text: { field: '_label', type: 'nominal' } },
      },
    ],
  });
  return assemble({ rows: project(rows, [o.x, o.y, o.note]), layers, opts: o, x: xDef, y: yDef, width, height });
}
