/**
 * Charts: pure functions from tidy rows to Vega-Lite v5 specs, and their
 * static rendering to SVG in Node. `show` (../display) puts them into a
 * notebook.
 */
export type { TopLevelSpec } from 'vega-lite';
export { CHART_FONT, chartConfig } from './common';
// Exported as ChartRow: a bare `Row` would be ambiguous next to other modules' rows.
export type { BaseChartOptions, ChartReference, FacetOptions, Row as ChartRow } from './common';
export { dotChart } from './dot';
export type { DotChartOptions } from './dot';
export { heatmap, logLegendValues } from './heatmap';
export type { HeatmapOptions } from './heatmap';
export { binRows, histogram } from './histogram';
export type { HistogramBin, HistogramChartOptions } from './histogram';
export { lineChart } from './line';
export type { LineChartOptions } from './line';
export { isDiverged, lrSweepChart, STATUS_COMPLETED, STATUS_DIVERGED } from './lr-sweep';
export type { LrSweepOptions } from './lr-sweep';
export { MODEL_COLORS, modelColors, NORM_COLORS, normColors } from './palette';
export { compileToVega, renderSvg, saveSvg } from './render';
