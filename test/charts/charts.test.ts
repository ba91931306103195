/**
 * Every chart function's spec compiles with Vega-Lite and renders with Vega
 * to SVG, with as many marks as the rows call for, and its reference marks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binRows, ChartRow as Row, compileToVega, heatmap, histogram, lineChart, logLegendValues, lrSweepChart, MODEL_COLORS, modelColors, NORM_COLORS, normColors, renderSvg, STATUS_DIVERGED } from '../../lib/src/charts';
import { countMarks, markItems, markTexts, pathPoints } from './svg';

const distinctCount = (rows: Row[], ...fields: string[]) => new Set(rows.map((r) => JSON.stringify(fields.map((f) => r[f])))).size;

/** Loss curves: `seeds` runs per norm and learning rate, `steps` points each. */
function curves(o: { norms?: string[]; lrs?: number[]; seeds?: number[]; steps?: number } = {}): Row[] {
  const rows: Row[] = [];
  for (const norm of o.norms ?? ['batch', 'none'])
    for (const lr of o.lrs ?? [0.1])
      for (const seed of o.seeds ?? [1, 2, 3])
        for (let step = 1; step <= (o.steps ?? 20); step++) rows.push({ norm, lr, seed, step, loss: 2 / step + 0.01 * seed, unused: 'x'.repeat(10) });
  return rows;
}

async function render(spec: ReturnType<typeof lineChart>): Promise<string> {
  const svg = await renderSvg(spec);
  assert.match(svg, /^<svg/);
  assert.doesNotMatch(svg, /NaN|Infinity/, 'a mark got a position it cannot have');
  return svg;
}

describe('lineChart', () => {
  it('draws one line and one min–max band per series, the mean over seeds', async () => {
    const rows = curves();
    const svg = await render(lineChart(rows, { x: 'step', y: 'loss', color: 'norm', band: 'minmax', logY: true, title: 'loss' }));
    assert.equal(countMarks(svg, 'line'), distinctCount(rows, 'norm'));
    assert.equal(countMarks(svg, 'band'), distinctCount(rows, 'norm'));
    assert.match(svg, />loss</);
  });

  it('puts the line at the mean and the band at min–max or mean ± sd', async () => {
    // Two seeds at 1 and 3 on a [0, 4] axis 100 px high: mean 2 → y 50.
    const rows = [0, 1].flatMap((step) => [{ step, seed: 1, v: 1 }, { step, seed: 2, v: 3 }]);
    const base = { x: 'step', y: 'v', width: 100, height: 100, yDomain: [0, 4] as [number, number] };
    const minmax = await render(lineChart(rows, { ...base, band: 'minmax' }));
    assert.deepEqual(pathPoints(minmax, 'line').map(([, y]) => y), [50, 50]);
    assert.deepEqual([...new Set(pathPoints(minmax, 'band').map(([, y]) => y))].sort((a, b) => a - b), [25, 75]);
    const sd = await render(lineChart(rows, { ...base, band: 'sd' }));
    const ys = [...new Set(pathPoints(sd, 'band').map(([, y]) => y))].sort((a, b) => a - b);
    const s = Math.SQRT2; // sample sd of {1, 3}
    const want = [100 - (2 + s) * 25, 100 - (2 - s) * 25];
    assert.equal(ys.length, 2);
    ys.forEach((y, i) => assert.ok(Math.abs(y - want[i]) < 0.01, `band edge at ${y}, want ${want[i]}`));
  });

  it('faceted: lines per series and panel, a band per line, the reference only in its panel', async () => {
    const rows = curves({ lrs: [0.01, 0.1, 1] });
    const svg = await render(
      lineChart(rows, {
        x: 'step', y: 'loss', color: 'lr', band: 'sd', facet: { column: 'norm' },
        references: [{ label: 'paper: 0.5', y: 0.5, panel: { norm: 'batch' } }, { label: 'paper: step 10', x: 10 }],
      }),
    );
    assert.equal(countMarks(svg, 'line'), distinctCount(rows, 'norm', 'lr'));
    assert.equal(countMarks(svg, 'band'), distinctCount(rows, 'norm', 'lr'));
    assert.equal(countMarks(svg, 'ref_y_rule'), 1);
    assert.deepEqual(markTexts(svg, 'ref_y_label'), ['paper: 0.5']);
    assert.equal(countMarks(svg, 'ref_x_rule'), distinctCount(rows, 'norm'), 'a reference without a panel is in every panel');
    assert.match(svg, />batch</);
    assert.match(svg, />none</);
  });

  it('precomputed bands; log axes drop what they cannot show (0, NaN, Infinity)', async () => {
    const rows: Row[] = [1, 2, 4, 8, 16].map((layer) => ({ layer, g: 1 / layer, lo: 0.5 / layer, hi: 2 / layer }));
    rows.push({ layer: 0, g: 1, lo: 0.5, hi: 2 }, { layer: 32, g: NaN, lo: 0, hi: 1 }, { layer: 64, g: Infinity, lo: 1, hi: 2 });
    const svg = await render(lineChart(rows, { x: 'layer', y: 'g', band: { lower: 'lo', upper: 'hi' }, logX: true, logY: true }));
    assert.equal(countMarks(svg, 'line'), 1);
    assert.equal(pathPoints(svg, 'line').length, 5);
  });

  it('embeds only the fields it uses', () => {
    const spec = lineChart(curves(), { x: 'step', y: 'loss', color: 'norm' }) as unknown as { data: { values: Row[] } };
    assert.deepEqual(Object.keys(spec.data.values[0]).sort(), ['loss', 'norm', 'step']);
  });

  it('a point reference: diamond and label', async () => {
    const svg = await render(lineChart(curves(), { x: 'step', y: 'loss', color: 'norm', references: [{ label: 'paper: 0.3 at 15', x: 15, y: 0.3 }] }));
    assert.equal(countMarks(svg, 'ref_point'), 1);
    assert.deepEqual(markTexts(svg, 'ref_point_label'), ['paper: 0.3 at 15']);
  });
});

describe('heatmap', () => {
  const grid = (nx: number, ny: number, f: (x: number, y: number) => number) =>
    Array.from({ length: nx * ny }, (_, i) => ({ channel: i % nx, layer: Math.floor(i / nx), v: f(i % nx, Math.floor(i / nx)) }));

  it('one rect per cell', async () => {
    const rows = grid(12, 5, (x, y) => x * y + 1);
    const svg = await render(heatmap(rows, { x: 'channel', y: 'layer', color: 'v', title: 'cells' }));
    assert.equal(countMarks(svg, 'cells'), rows.length);
  });

  it('log color leaves cells ≤ 0 blank; diverging and faceted variants render', async () => {
    const rows = grid(6, 4, (x, y) => (x === 0 && y === 0 ? 0 : 10 ** (x - 2)));
    const svg = await render(heatmap(rows, { x: 'channel', y: 'layer', color: 'v', logColor: true }));
    assert.equal(countMarks(svg, 'cells'), rows.length - 1);
    const signed = [...grid(5, 5, (x, y) => (x - y) / 5).map((r) => ({ ...r, norm: 'batch' })), ...grid(5, 5, () => 0.9).map((r) => ({ ...r, norm: 'none' }))];
    const both = await render(heatmap(signed, { x: 'channel', y: 'layer', color: 'v', diverging: true, facet: { column: 'norm' }, references: [{ label: 'here', x: 2 }] }));
    assert.equal(countMarks(both, 'cells'), signed.length);
    assert.equal(countMarks(both, 'ref_x_rule'), 2);
  });

  it('log legends are labelled at powers of ten', () => {
    assert.deepEqual(logLegendValues([0.2, 5000]), [1, 10, 100, 1000]);
    assert.deepEqual(logLegendValues([2, 5, 8]), [2, 4, 8]);
  });
});

describe('histogram', () => {
  const values = (n: number, f: (i: number) => Row) => Array.from({ length: n }, (_, i) => f(i));

  it('binRows: every value counted once in equal bins; fraction and density normalise', () => {
    const rows = values(1000, (i) => ({ v: (i % 100) / 10 })).map((v, i) => ({ ...v, g: i % 2 ? 'a' : 'b' }));
    const bins = binRows(rows, { value: 'v', groupBy: ['g'], bins: 10 });
    assert.equal(bins.length, 20);
    assert.equal(bins.reduce((s, b) => s + b.count, 0), 1000);
    for (const b of bins) assert.ok(Math.abs(b.hi - b.lo - 0.99) < 1e-9);
    const frac = binRows(rows, { value: 'v', groupBy: ['g'], bins: 7, normalize: 'fraction' }).filter((b) => b.group.g === 'a');
    assert.ok(Math.abs(frac.reduce((s, b) => s + b.y, 0) - 1) < 1e-9);
    const dens = binRows(rows, { value: 'v', groupBy: [], bins: 7, normalize: 'density' });
    assert.ok(Math.abs(dens.reduce((s, b) => s + b.y * (b.hi - b.lo), 0) - 1) < 1e-9);
  });

  it('binRows: log-spaced bins leave out values ≤ 0', () => {
    const bins = binRows([0, -1, 0.01, 0.1, 1, 10, 100].map((v) => ({ v })), { value: 'v', groupBy: [], bins: 4, log: true });
    assert.equal(bins.reduce((s, b) => s + b.count, 0), 5);
    assert.ok(Math.abs(bins[1].lo - 0.1) < 1e-12 && Math.abs(bins[1].hi - 1) < 1e-12);
  });

  it('one bar per non-empty bin and group, overlaid', async () => {
    const rows = values(600, (i) => ({ v: i % 3 === 0 ? (i % 50) - 25 : (i % 7) - 3, norm: i % 3 === 0 ? 'none' : 'batch' }));
    const spec = histogram(rows, { value: 'v', color: 'norm', bins: 25, references: [{ label: 'paper: 0', x: 0 }] });
    const svg = await render(spec);
    const nonEmpty = binRows(rows, { value: 'v', groupBy: ['norm'], bins: 25 }).filter((b) => b.count > 0).length;
    assert.equal(countMarks(svg, 'bars'), nonEmpty);
    assert.equal(countMarks(svg, 'ref_x_rule'), 1);
    assert.deepEqual(markTexts(svg, 'ref_x_label'), ['paper: 0']);
  });

  it('steps: one outline per group; log axes; facets', async () => {
    const rows = values(800, (i) => ({ m: 10 ** ((i % 40) / 10 - 2), layer: `layer ${1 + (i % 4)}`, norm: i % 8 < 4 ? 'batch' : 'none' }));
    const svg = await render(histogram(rows, { value: 'm', color: 'layer', style: 'steps', logX: true, logY: true, normalize: 'density' }));
    assert.equal(countMarks(svg, 'steps'), 4);
    const faceted = await render(histogram(rows, { value: 'm', color: 'layer', logX: true, facet: { column: 'norm' } }));
    const nonEmpty = binRows(rows, { value: 'm', groupBy: ['layer', 'norm'], bins: 40, log: true }).filter((b) => b.count > 0).length;
    assert.equal(countMarks(faceted, 'bars'), nonEmpty);
  });
});

describe('lrSweepChart', () => {
  const lrs = [0.001, 0.01, 0.1, 1, 10];
  const sweep: Row[] = [];
  for (const norm of ['batch', 'none'])
    for (const seed of [1, 2])
      for (const lr of lrs) {
        // Unnormalized runs diverge above 0.1, one seed already at 0.1; BN at 10.
        const diverged = norm === 'none' ? lr > 0.1 || (lr === 0.1 && seed === 2) : lr === 10;
        sweep.push({ norm, seed, lr, acc: diverged ? NaN : 0.9 - 0.01 * Math.abs(Math.log10(lr)), status: diverged ? 'diverged' : 'completed' });
      }

  it('a point per learning rate and series with completed runs, a cross where any diverged, the legend says so', async () => {
    const svg = await render(lrSweepChart(sweep, { lr: 'lr', metric: 'acc', series: 'norm', diverged: 'status', references: [{ label: 'paper: 93%', x: 0.1, y: 0.93 }] }));
    const completed = sweep.filter((r) => r.status === 'completed');
    const diverged = sweep.filter((r) => r.status === 'diverged');
    assert.equal(countMarks(svg, 'completed'), distinctCount(completed, 'lr', 'norm'));
    assert.equal(countMarks(svg, 'diverged'), distinctCount(diverged, 'lr', 'norm'));
    assert.equal(countMarks(svg, 'line'), 2);
    assert.ok(svg.includes(STATUS_DIVERGED), 'legend entry for diverged runs');
    assert.equal(countMarks(svg, 'ref_point'), 1);
    assert.deepEqual(markTexts(svg, 'ref_point_label'), ['paper: 93%']);
  });

  it('accepts booleans for diverged, and facets', async () => {
    const rows = sweep.map((r) => ({ ...r, diverged: r.status === 'diverged', depth: r.seed === 1 ? 'ResNet-20' : 'ResNet-56' }));
    const svg = await render(lrSweepChart(rows, { lr: 'lr', metric: 'acc', series: 'norm', diverged: 'diverged', facet: { column: 'depth' } }));
    assert.equal(countMarks(svg, 'diverged'), distinctCount(rows.filter((r) => r.diverged), 'lr', 'norm', 'depth'));
    assert.equal(countMarks(svg, 'completed'), distinctCount(rows.filter((r) => !r.diverged), 'lr', 'norm', 'depth'));
  });

  it('without diverged runs there is no cross layer and no legend entry for one', async () => {
    const svg = await render(lrSweepChart(sweep.filter((r) => r.status === 'completed'), { lr: 'lr', metric: 'acc', series: 'norm', diverged: 'status' }));
    assert.equal(markItems(svg, 'diverged').length, 0);
    assert.ok(!svg.includes('diverged ('));
  });
});

describe('specs', () => {
  it('carry the font, a title and Vega-Lite v5 schema; an invalid spec fails to compile', async () => {
    const spec = lineChart(curves(), { x: 'step', y: 'loss', title: 'T' }) as unknown as Record<string, unknown>;
    assert.match(String(spec.$schema), /vega-lite\/v5/);
    assert.match(JSON.stringify(spec.config), /DejaVu Sans/);
    await assert.rejects(compileToVega({ mark: 'nonsense' } as never));
  });

  it('a reference needs x or y', () => {
    assert.throws(() => lineChart(curves(), { x: 'step', y: 'loss', references: [{ label: 'nowhere' }] }), /give x, y or both/);
  });
});

describe('palette', () => {
  it('gives each norm one colour (BN blue, no BN red, final-only orange, LN green, GN purple), in the order asked for, by norm or by name', () => {
    assert.deepEqual(Object.entries(NORM_COLORS), [
      ['none', '#d62728'],
      ['final-only', '#ff7f0e'],
      ['layer', '#2ca02c'],
      ['group', '#9467bd'],
      ['fixup', '#8c564b'],
      ['batch', '#1f77b4'],
    ]);
    assert.deepEqual(Object.entries(normColors(['batch', 'none'])), [['batch', '#1f77b4'], ['none', '#d62728']]);
    assert.deepEqual(Object.entries(modelColors(['final-only', 'batch'])), [['final-only BN', '#ff7f0e'], ['BN', '#1f77b4']]);
    // A legend lists every key of a colour map: RQ1, RQ2 and RQ5 show BN and no BN only.
    assert.deepEqual(Object.entries(MODEL_COLORS), [['BN', '#1f77b4'], ['no BN', '#d62728']]);
  });
});
