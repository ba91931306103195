/**
 * Static rendering in Node: Vega-Lite → Vega → SVG text, with no canvas and
 * no browser. Without a canvas Vega estimates text widths (0.8 em per
 * character, wider than DejaVu Sans really is), so layout leaves a little
 * more room than needed rather than clipping labels.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';

/** The Vega spec a Vega-Lite spec compiles to (throws on an invalid spec). */
export async function compileToVega(spec: TopLevelSpec): Promise<object> {
  // Loaded on first use: importing bnlab need not load Vega.
  const vl = await import('vega-lite');
  const vega = await import('vega');
  // Vega-Lite's warnings go to stderr (a cell's output in a kernel), except
  // one that says only that its data-flow optimiser stopped after five
  // passes: the compiled spec is complete either way, and layered charts
  // with facets always hit it.
  const base = vega.logger(vega.Warn);
  const logger = Object.assign(Object.create(base), {
    warn(...args: unknown[]) {
      if (typeof args[0] === 'string' && args[0].startsWith('Maximum optimization runs')) return logger;
      base.warn(...args);
      return logger;
    },
  });
  return vl.compile(spec, { logger }).spec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vega = await import('vega');
  const vgSpec = await compileToVega(spec);
  const view = new vega.View(vega.parse(vgSpec as never), { renderer: 'none', logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes the chart as an SVG file (creating the folder); returns the path. */
export async function saveSvg(spec: TopLevelSpec, file: string): Promise<string> {
  const svg = await renderSvg(spec);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, svg);
  return file;
}
