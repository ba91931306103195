/**
 * Charts in a notebook: `await bn.show(spec)` puts one output into the cell
 * whose bundle holds the Vega-Lite spec (JupyterLab draws it interactive),
 * the chart as static SVG (what nbconvert, GitHub and the report use from
 * the executed notebook) and a line of plain text. See ./kernel for why one
 * bundle and how.
 */
import { inspect } from 'node:util';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../charts/render';
import { kernelChannel, MimeBundle, sendWhenFree } from './kernel';
import { SVG_MIME, VEGALITE_MIME } from './mime';

// Defined in ./mime (no dependency, for the report's exporter); exported here as before.
export { SVG_MIME, VEGALITE_MIME };

function titleOf(spec: TopLevelSpec): string {
  const t = (spec as { title?: unknown }).title;
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && 'text' in t) return String((t as { text: unknown }).text);
  return 'chart';
}

/** The display bundle of a chart: Vega-Lite spec, static SVG, and a text stand-in. */
export async function chartBundle(spec: TopLevelSpec): Promise<MimeBundle> {
  return {
    [VEGALITE_MIME]: spec,
    [SVG_MIME]: await renderSvg(spec),
    'text/plain': `<Vega-Lite chart: ${titleOf(spec)}>`,
  };
}

let hinted = false;

/**
 * Shows a chart in the notebook. Await it: the SVG is rendered
 * asynchronously, and an output sent after the cell finished reaches no
 * cell. Outside a kernel (a plain Node script) it shows nothing and says so
 * once on stderr; `renderSvg` or `saveSvg` give the picture there.
 */
export function show(spec: TopLevelSpec): Promise<void> {
  // Taken now, not after rendering: the chart belongs to this cell.
  const channel = kernelChannel({ pin: true });
  const done = (async () => {
    if (!channel) {
      if (!hinted) process.stderr.write('bnlab show(): not in a Jupyter kernel, nothing to display (renderSvg/saveSvg give the SVG)\n');
      hinted = true;
      return;
    }
    if (!(await sendWhenFree(channel, await chartBundle(spec))))
      process.stderr.write("bnlab show(): the kernel's output socket stayed busy; the chart was not sent\n");
  })();
  // Without `await`, tslab prints a cell's last value: a pending promise
  // would read "Promise { <pending> }" and the chart would arrive after the
  // cell ended, lost. Printed, this promise says what to do instead.
  Object.defineProperty(done, inspect.custom, {
    value: () => 'bnlab show(): use `await bn.show(spec)` — without await the chart arrives after the cell has finished and is lost',
  });
  return done;
}
