/**
 * What every chart shares: the look (font, sizes), reference marks for the
 * paper's numbers, facets, and the assembly of layers into one top-level
 * Vega-Lite spec with its data inline.
 *
 * Chart functions build plain Vega-Lite JSON. The layers are loosely typed
 * here (Vega-Lite's own types are a deep union that helps little while
 * assembling); the result is typed as TopLevelSpec and every chart is
 * compiled and rendered by the tests.
 */
import type { TopLevelSpec } from 'vega-lite';

/** One tidy record: a plain object of field values. */
export type Row = Record<string, unknown>;

/** A piece of Vega-Lite JSON (a layer, an encoding, a transform). */
export type Json = Record<string, unknown>;

/**
 * A number to compare against, drawn beside ours: `y` alone is a horizontal
 * rule across the panel, `x` alone a vertical rule, both a diamond point.
 * The label sits on the mark, e.g. 'paper: 92.8%'.
 */
export interface ChartReference {
  label: string;
  x?: number | string;
  y?: number | string;
  /** In a faceted chart: only the panels with these facet values, e.g. { norm: 'batch' }. Default: every panel. */
  panel?: Row;
}

/** Small multiples: one panel per value of `column` and/or `row`, or `wrap` panels into rows of `columns`. */
export interface FacetOptions {
  column?: string;
  row?: string;
  wrap?: string;
  columns?: number;
  /** Each panel gets its own y scale. Default shared, so panels compare at a glance. */
  independentY?: boolean;
  /** Each panel gets its own color scale and legend (e.g. heatmaps whose ranges differ by decades). */
  independentColor?: boolean;
  /** Over the panel headers; default the field's name, '' for none. */
  title?: string;
}

export interface BaseChartOptions {
  title?: string;
  subtitle?: string;
  /** Of the plot area (of one panel when faceted), in pixels. */
  width?: number;
  height?: number;
  references?: ChartReference[];
  facet?: FacetOptions;
}

/**
 * DejaVu Sans first: the font Debian has, so the SVG rendered in Node (and
 * its PNG) shows what was laid out; then what browsers without it have.
 * One family list serves SVG and canvas alike.
 */
export const CHART_FONT = 'DejaVu Sans, Verdana, Helvetica, Arial, sans-serif';

export const chartConfig = {
  font: CHART_FONT,
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 'normal',
    titleColor: '#222',
    labelColor: '#333',
    domainColor: '#888',
    tickColor: '#888',
    gridColor: '#ebebeb',
    titlePadding: 6,
  },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 240, symbolStrokeWidth: 2 },
  header: { labelFontSize: 12, titleFontSize: 12, labelFontWeight: 'bold', titleFontWeight: 'normal' },
  title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start', offset: 10 },
  view: { stroke: '#ddd' },
  // ARIA attributes on every mark item repeat the data as text in the static
  // SVG (a 1000-point curve would carry 1000 descriptions); the chart's
  // title and axes keep theirs.
  mark: { aria: false },
} as const;

export const REFERENCE_COLOR = '#333';

/** Fields a layer's data carries besides the caller's, prefixed so they do not collide. */
export const REF = { flag: '_ref', label: '_refLabel', x: '_refX', y: '_refY' } as const;

/** Keeps the caller's rows out of reference layers and reference rows out of the caller's layers. */
export const notReference: Json = { filter: `!datum.${REF.flag}` };

export function facetFields(facet?: FacetOptions): string[] {
  if (!facet) return [];
  return [facet.row, facet.column, facet.wrap].filter((f): f is string => typeof f === 'string');
}

/** Only the named fields of each row: notebooks embed the data, so unused fields would only add bytes. */
export function project(rows: readonly Row[], fields: readonly (string | undefined)[]): Row[] {
  const keep = [...new Set(fields.filter((f): f is string => typeof f === 'string'))];
  return rows.map((r) => {
    const out: Row = {};
    for (const f of keep) if (f in r) out[f] = r[f];
    return out;
  });
}

export function distinct<T>(values: Iterable<T>): T[] {
  return [...new Set(values)];
}

/** The distinct combinations of the facet fields in `rows` (one object per panel). */
export function panels(rows: readonly Row[], fields: string[]): Row[] {
  if (fields.length === 0) return [{}];
  const seen = new Map<string, Row>();
  for (const r of rows) {
    const p: Row = {};
    for (const f of fields) p[f] = r[f];
    seen.set(JSON.stringify(fields.map((f) => p[f])), p);
  }
  return [...seen.values()];
}

/** ChartReference rows for the data: one per reference and panel it applies to. */
export function referenceRows(refs: readonly ChartReference[], rows: readonly Row[], facet?: FacetOptions): Row[] {
  const fields = facetFields(facet);
  const out: Row[] = [];
  for (const ref of refs) {
    if (ref.x === undefined && ref.y === undefined) throw new Error(`reference "${ref.label}": give x, y or both`);
    for (const p of panels(rows, fields)) {
      if (ref.panel && !Object.entries(ref.panel).every(([k, v]) => p[k] === v)) continue;
      out.push({ ...p, [REF.flag]: true, [REF.label]: ref.label, [REF.x]: ref.x ?? null, [REF.y]: ref.y ?? null });
    }
  }
  return out;
}

/** How a chart's x and y are encoded, so reference marks share its scales and axis titles. */
export interface PositionDef {
  type: 'quantitative' | 'ordinal' | 'nominal' | 'temporal';
  title: string;
  scale?: Json;
  /** Only for the chart's own layers; reference layers share the axis. */
  axis?: Json;
}

/**
 * The layers that draw references: rules for x-only and y-only ones, a
 * point for those with both, each with its label. Only kinds present in
 * `refs` get a layer, so a chart without references has none.
 */
export function referenceLayers(refs: readonly ChartReference[], x: PositionDef, y: PositionDef, width: number): Json[] {
  const enc = (channel: 'x' | 'y', def: PositionDef): Json => ({
    field: channel === 'x' ? REF.x : REF.y,
    type: def.type,
    title: def.title,
    ...(def.scale ? { scale: def.scale } : {}),
  });
  const only = (kind: 'x' | 'y' | 'xy'): Json => ({
    filter:
      kind === 'x'
        ? `datum.${REF.flag} && datum.${REF.x} !== null && datum.${REF.y} === null`
        : kind === 'y'
          ? `datum.${REF.flag} && datum.${REF.x} === null && datum.${REF.y} !== null`
          : `datum.${REF.flag} && datum.${REF.x} !== null && datum.${REF.y} !== null`,
  });
  const label = { field: REF.label, type: 'nominal' };
  const rightHalf = `scale('x', datum.${REF.x}) > ${0.6 * width}`;
  const text = { type: 'text', fontSize: 11, color: REFERENCE_COLOR };
  const layers: Json[] = [];
  if (refs.some((r) => r.x === undefined && r.y !== undefined)) {
    layers.push({
      transform: [only('y')],
      layer: [
        {
          name: 'ref_y_rule',
          mark: { type: 'rule', color: REFERENCE_COLOR, strokeDash: [6, 3], strokeWidth: 1.5 },
          encoding: { y: enc('y', y) },
        },
        // Right-aligned above the rule's end, where curves are usually settled.
        {
          name: 'ref_y_label',
          mark: { ...text, align: 'right', baseline: 'bottom', dx: -3, dy: -3 },
          encoding: { y: enc('y', y), x: { value: width }, text: label },
        },
      ],
    });
  }
  if (refs.some((r) => r.x !== undefined && r.y === undefined)) {
    layers.push({
      transform: [only('x')],
      layer: [
        {
          name: 'ref_x_rule',
          mark: { type: 'rule', color: REFERENCE_COLOR, strokeDash: [6, 3], strokeWidth: 1.5 },
          encoding: { x: enc('x', x) },
        },
        // Beside the rule at the top, on the side with more room: a rule near
        // the right edge gets its label on its left.
        {
          name: 'ref_x_label',
          mark: {
            ...text,
            align: { expr: `${rightHalf} ? 'right' : 'left'` },
            dx: { expr: `${rightHalf} ? -4 : 4` },
            baseline: 'top',
            dy: 4,
          },
          encoding: { x: enc('x', x), y: { value: 0 }, text: label },
        },
      ],
    });
  }
  if (refs.some((r) => r.x !== undefined && r.y !== undefined)) {
    layers.push({
      transform: [only('xy')],
      layer: [
        {
          name: 'ref_point',
          mark: { type: 'point', shape: 'diamond', size: 90, filled: true, color: REFERENCE_COLOR, opacity: 1 },
          encoding: { x: enc('x', x), y: enc('y', y) },
        },
        {
          name: 'ref_point_label',
          mark: { ...text, align: { expr: `${rightHalf} ? 'right' : 'left'` }, dx: { expr: `${rightHalf} ? -9 : 9` }, baseline: 'middle' },
          encoding: { x: enc('x', x), y: enc('y', y), text: label },
        },
      ],
    });
  }
  return layers;
}

/**
 * Natural order of a field's values ('layer 2' before 'layer 14'), for a
 * nominal encoding's `sort`: Vega's own order is plain string order.
 */
export function naturalOrder(rows: readonly Row[], field: string): unknown[] {
  const collator = new Intl.Collator('en', { numeric: true });
  const values = distinct(rows.map((r) => r[field])).filter((v) => v !== undefined && v !== null);
  if (values.every((v) => typeof v === 'number')) return (values as number[]).sort((a, b) => a - b);
  return values.sort((a, b) => collator.compare(String(a), String(b)));
}

/** The smallest and largest finite positive numbers among `values` ([∞, −∞] if none): what a log scale can show. */
export function positiveRange(values: Iterable<unknown>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  return [lo, hi];
}

/**
 * Axis settings for a log scale over these values: when they span two
 * decades or more, only powers of ten get labels (Vega would also label
 * 2× and 5× steps where they fit, which reads as clutter); over a narrower
 * range the in-between labels are all there is.
 */
export function logAxis(values: Iterable<unknown>): Json {
  const [lo, hi] = positiveRange(values);
  if (!(hi / lo >= 100)) return {};
  return { labelExpr: 'abs(log(datum.value) / LN10 - round(log(datum.value) / LN10)) < 1e-6 ? datum.label : ""' };
}

/** A color scale that gives named values fixed colors (e.g. BN always blue), or none. */
export function colorScale(colors?: Record<string, string>): Json | undefined {
  if (!colors) return undefined;
  return { domain: Object.keys(colors), range: Object.values(colors) };
}

export interface Assembly {
  rows: Row[];
  layers: Json[];
  opts: BaseChartOptions;
  x: PositionDef;
  y: PositionDef;
  width: number;
  height: number;
  /** Top-level resolve (e.g. independent color scales). */
  resolve?: Json;
}

/** Puts the layers, reference layers, data, facet, title and look together into one spec. */
export function assemble(a: Assembly): TopLevelSpec {
  const refs = a.opts.references ?? [];
  const facet = a.opts.facet;
  const inner: Json = {
    width: a.width,
    height: a.height,
    layer: [...a.layers, ...referenceLayers(refs, a.x, a.y, a.width)],
  };
  const values = [...a.rows, ...referenceRows(refs, a.rows, facet)];
  const top: Json = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    ...(a.opts.title ? { title: a.opts.subtitle ? { text: a.opts.title, subtitle: a.opts.subtitle } : a.opts.title } : {}),
    data: { values },
    // A white card in every setting: JupyterLab's dark theme would give the
    // chart a dark background, under text colors chosen for white.
    background: 'white',
    padding: 8,
    config: chartConfig,
  };
  if (facet && facetFields(facet).length > 0) {
    const header = (field: string) => ({
      field,
      type: 'nominal',
      sort: naturalOrder(a.rows, field),
      title: facet.title === '' ? null : (facet.title ?? field),
    });
    top.facet = facet.wrap
      ? { ...header(facet.wrap) }
      : { ...(facet.row ? { row: header(facet.row) } : {}), ...(facet.column ? { column: header(facet.column) } : {}) };
    if (facet.wrap && facet.columns) top.columns = facet.columns;
    top.spec = inner;
    const scale: Json = {
      ...((a.resolve?.scale as Json) ?? {}),
      ...(facet.independentY ? { y: 'independent' } : {}),
      ...(facet.independentColor ? { color: 'independent' } : {}),
    };
    top.resolve = { ...(a.resolve ?? {}), ...(Object.keys(scale).length ? { scale } : {}) };
  } else {
    Object.assign(top, inner);
    if (a.resolve) top.resolve = a.resolve;
  }
  return top as unknown as TopLevelSpec;
}

/** Keeps rows a log scale can show: a zero or negative value has no place on it. */
export function positiveFilter(field: string): Json {
  return { filter: `isValid(datum[${JSON.stringify(field)}]) && datum[${JSON.stringify(field)}] > 0` };
}

/** Keeps rows whose field is a finite number (a diverged run's NaN or Infinity loss has no place on an axis). */
export function finiteFilter(field: string): Json {
  return { filter: `isValid(datum[${JSON.stringify(field)}]) && isFinite(datum[${JSON.stringify(field)}])` };
}

export function fieldRef(field: string): string {
  return `datum[${JSON.stringify(field)}]`;
}
