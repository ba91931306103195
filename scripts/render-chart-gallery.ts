/**
 * Every kind of chart bnlab draws, on synthetic data shaped like the
 * experiments' (seeded, so the pictures are stable), written as SVG and PNG
 * under test-output/charts/ with an index.html, for a person to look at:
 * Node renders without a canvas and only estimates text widths, so clipped
 * or colliding labels show up only by looking.
 *
 * Usage: node --import tsx scripts/render-chart-gallery.ts [name-filter]
 * PNGs need rsvg-convert (Debian: apt-get install librsvg2-bin); without it
 * only the SVGs are written.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ChartRow as Row, heatmap, histogram, lineChart, lrSweepChart, normColors, renderSvg, TopLevelSpec } from '../lib/src/charts';
import { Rng } from '../lib/src/util/rng';

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'test-output', 'charts');

/** Loss curves of runs with and without BN, a few seeds each: noisy, decaying, the unnormalized ones slower. */
function lossCurves(steps = 300, seeds = [1, 2, 3]): Row[] {
  const rows: Row[] = [];
  for (const norm of ['batch', 'none']) {
    for (const seed of seeds) {
      const rng = new Rng(seed * 10 + (norm === 'batch' ? 1 : 2));
      for (let step = 1; step <= steps; step += 3) {
        const rate = norm === 'batch' ? 0.02 : 0.008;
        const loss = 0.15 + 2.2 * Math.exp(-rate * step) * Math.exp(0.15 * rng.normal()) + 0.02 * Math.abs(rng.normal());
        rows.push({ step, seed, norm, loss, learningRate: 0.1, accuracy: Math.min(1, 1 - loss / 2.5) });
      }
    }
  }
  return rows;
}

/** Test accuracy per epoch for a few learning rates, with and without BN. */
function accuracyPerEpoch(): Row[] {
  const rows: Row[] = [];
  for (const norm of ['batch', 'none']) {
    for (const lr of [0.003, 0.03, 0.3]) {
      for (const seed of [1, 2, 3]) {
        const rng = new Rng(seed + Math.round(lr * 1000) + (norm === 'batch' ? 7 : 0));
        const ceiling = norm === 'batch' ? 0.9 + 0.02 * Math.log10(lr / 0.003) : lr > 0.1 ? 0.55 : 0.86;
        for (let epoch = 1; epoch <= 12; epoch++) {
          const speed = (norm === 'batch' ? 0.5 : 0.25) * (1 + Math.log10(lr / 0.003) / 2);
          rows.push({ epoch, lr, norm, seed, testAccuracy: ceiling * (1 - Math.exp(-speed * epoch)) + 0.012 * rng.normal() });
        }
      }
    }
  }
  return rows;
}

/** Gradient norm per layer, precomputed mean and 10–90 % quantiles. */
function gradientNormByDepth(): Row[] {
  const rows: Row[] = [];
  for (const norm of ['batch', 'none']) {
    for (let layer = 1; layer <= 56; layer++) {
      const mean = norm === 'batch' ? 0.05 * (1 + 0.01 * layer) : 0.002 * Math.exp(0.09 * (57 - layer));
      rows.push({ layer, norm, gradNorm: mean, lo: mean * 0.6, hi: mean * 1.7 });
    }
  }
  return rows;
}

/** Mean |activation| per channel and layer: the unnormalized network's grow with depth. */
function channelsByDepth(norm: 'batch' | 'none', channels = 64, layers = 20): Row[] {
  const rng = new Rng(norm === 'batch' ? 5 : 6);
  const rows: Row[] = [];
  for (let layer = 1; layer <= layers; layer++) {
    for (let channel = 0; channel < channels; channel++) {
      const scale = norm === 'batch' ? 1 : Math.exp(0.35 * layer);
      rows.push({ layer, channel, norm, meanAbs: scale * Math.exp(0.8 * rng.normal()) });
    }
  }
  return rows;
}

/** Gradient of the loss w.r.t. the logits, examples × classes (signed). */
function examplesByClasses(): Row[] {
  const rng = new Rng(9);
  const rows: Row[] = [];
  for (let example = 0; example < 32; example++) {
    const label = example % 10;
    for (let cls = 0; cls < 10; cls++) {
      const g = cls === label ? -0.6 - 0.3 * rng.next() : 0.12 * Math.abs(rng.normal());
      rows.push({ example, class: `c${cls}`, grad: g });
    }
  }
  return rows;
}

/** Correlations between channels: near-diagonal for BN, one dominant block without. */
function channelPairs(n = 24): Row[] {
  const rng = new Rng(11);
  const rows: Row[] = [];
  for (const norm of ['batch', 'none']) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const base = i === j ? 1 : norm === 'none' ? 0.85 - 0.02 * Math.abs(i - j) : 0.1 * rng.normal();
        rows.push({ i, j, norm, corr: Math.max(-1, Math.min(1, i === j ? 1 : base + 0.05 * rng.normal())) });
      }
    }
  }
  return rows;
}

/** Activations at a few depths, with and without BN. */
function activations(n = 4000): Row[] {
  const rng = new Rng(13);
  const rows: Row[] = [];
  for (const norm of ['batch', 'none']) {
    for (const layer of ['layer 2', 'layer 8', 'layer 14', 'layer 20']) {
      const depth = Number(layer.split(' ')[1]);
      const scale = norm === 'batch' ? 1 : Math.exp(0.25 * depth);
      for (let k = 0; k < n / 4; k++) {
        const v = scale * rng.normal();
        rows.push({ norm, layer, activation: v, magnitude: Math.abs(v) });
      }
    }
  }
  return rows;
}

/** Final test accuracy over a learning-rate sweep; unnormalized runs diverge above 0.1, BN only at 3. */
function lrSweep(): Row[] {
  const rows: Row[] = [];
  const lrs = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3];
  for (const depth of [20, 56]) {
    for (const norm of ['batch', 'none']) {
      for (const seed of [1, 2, 3]) {
        const rng = new Rng(seed * 100 + depth + (norm === 'batch' ? 1 : 0));
        for (const lr of lrs) {
          const limit = norm === 'batch' ? 2 : depth === 56 ? 0.05 : 0.2;
          const borderline = lr > limit / 2 && lr <= limit && seed === 3;
          const diverged = lr > limit || borderline;
          const peak = norm === 'batch' ? 0.3 : 0.02;
          const best = norm === 'batch' ? 0.92 : 0.88;
          const acc = best - 0.035 * Math.log10(lr / peak) ** 2 + 0.008 * rng.normal();
          rows.push({ depth: `ResNet-${depth}`, norm, seed, lr, testAccuracy: diverged ? NaN : acc, status: diverged ? 'diverged' : 'completed' });
        }
      }
    }
  }
  return rows;
}

// The palette's colours, keyed by norm as these rows are.
const BN_COLORS = normColors(['batch', 'none']);

/** The gallery: a name (the file name) and a spec each. */
export function galleryCharts(): { name: string; spec: TopLevelSpec }[] {
  const loss = lossCurves();
  const acts = activations();
  const sweep = lrSweep();
  return [
    {
      name: 'line-minmax-band-logy',
      spec: lineChart(loss, {
        x: 'step', y: 'loss', color: 'norm', band: 'minmax', logY: true, colors: BN_COLORS,
        title: 'Training loss, ResNet-20', subtitle: 'mean over 3 seeds, band: min–max', yTitle: 'mini-batch loss', colorTitle: 'normalization',
        references: [{ label: 'paper: 0.2 after 300 steps', y: 0.2 }],
      }),
    },
    {
      name: 'line-sd-band-facet',
      spec: lineChart(accuracyPerEpoch(), {
        x: 'epoch', y: 'testAccuracy', color: 'lr', band: 'sd', points: true, facet: { column: 'norm', title: 'normalization' },
        title: 'Test accuracy per epoch, with and without BN', subtitle: 'mean ± sd over 3 seeds', yTitle: 'test accuracy', colorTitle: 'learning rate',
        references: [{ label: 'paper: 92.5%', y: 0.925, panel: { norm: 'batch' } }, { label: 'paper: 88%', y: 0.88, panel: { norm: 'none' } }],
      }),
    },
    {
      name: 'line-precomputed-band-logx-logy',
      spec: lineChart(gradientNormByDepth(), {
        x: 'layer', y: 'gradNorm', color: 'norm', band: { lower: 'lo', upper: 'hi' }, logY: true, logX: true, colors: BN_COLORS,
        title: 'Gradient norm per layer at initialization', subtitle: 'band: 10–90 % over mini-batches', xTitle: 'layer (log)', yTitle: '‖∂L/∂W‖',
        references: [{ label: 'paper: output layer', x: 56 }, { label: 'paper: 1e-3 at layer 10', x: 10, y: 0.001 }],
      }),
    },
    {
      name: 'line-color-and-dash',
      spec: lineChart(accuracyPerEpoch(), {
        x: 'epoch', y: 'testAccuracy', color: 'lr', colorType: 'quantitative', strokeDash: 'norm', seed: 'seed',
        title: 'Learning rate as color, normalization as dash', yTitle: 'test accuracy', colorTitle: 'learning rate', yDomain: [0, 1],
      }),
    },
    {
      name: 'heatmap-channels-depth-log',
      spec: heatmap(channelsByDepth('none'), {
        x: 'channel', y: 'layer', color: 'meanAbs', logColor: true,
        title: 'Mean |activation| per channel, no BN', subtitle: 'grows by orders of magnitude with depth', colorTitle: 'mean |a|',
      }),
    },
    {
      name: 'heatmap-channels-depth-facet',
      spec: heatmap([...channelsByDepth('batch', 32, 12), ...channelsByDepth('none', 32, 12)], {
        x: 'channel', y: 'layer', color: 'meanAbs', logColor: true, facet: { column: 'norm', independentColor: true },
        title: 'Mean |activation| per channel and layer', colorTitle: 'mean |a|',
      }),
    },
    {
      name: 'heatmap-examples-classes-diverging',
      spec: heatmap(examplesByClasses(), {
        x: 'class', y: 'example', color: 'grad', diverging: true, colorDomain: [-1, 1],
        title: '∂L/∂logit per example and class', colorTitle: '∂L/∂z',
      }),
    },
    {
      name: 'heatmap-channel-pairs-facet',
      spec: heatmap(channelPairs(), {
        x: 'i', y: 'j', color: 'corr', diverging: true, colorDomain: [-1, 1], facet: { column: 'norm' },
        title: 'Correlation between channels, last layer', xTitle: 'channel', yTitle: 'channel', colorTitle: 'correlation',
        references: [{ label: 'paper: block ends here', x: 12 }],
      }),
    },
    {
      name: 'histogram-single-logy',
      spec: histogram(acts.filter((r) => r.norm === 'none' && r.layer === 'layer 8'), {
        value: 'activation', logY: true, bins: 50,
        title: 'Activations at layer 8, no BN',
        references: [{ label: 'paper: σ ≈ 7.4', x: 7.4 }],
      }),
    },
    {
      name: 'histogram-overlay-fraction',
      spec: histogram(acts.filter((r) => r.layer === 'layer 14'), {
        value: 'activation', color: 'norm', normalize: 'fraction', colors: BN_COLORS, extent: [-40, 40], bins: 60,
        title: 'Activations at layer 14, with and without BN', yTitle: 'fraction of activations',
      }),
    },
    {
      name: 'histogram-steps-logx-density',
      spec: histogram(acts.filter((r) => r.norm === 'none'), {
        value: 'magnitude', color: 'layer', style: 'steps', logX: true, logY: true, normalize: 'density', bins: 40,
        title: '|activation| by depth, no BN', subtitle: 'log-spaced bins', xTitle: '|activation|',
      }),
    },
    {
      name: 'histogram-facet-overlay',
      spec: histogram(acts.filter((r) => r.layer === 'layer 2' || r.layer === 'layer 20'), {
        value: 'activation', color: 'layer', facet: { column: 'norm', independentY: true }, extent: [-60, 60], bins: 48,
        title: 'Shallow and deep activations',
      }),
    },
    {
      name: 'lr-sweep',
      spec: lrSweepChart(sweep.filter((r) => r.depth === 'ResNet-20'), {
        lr: 'lr', metric: 'testAccuracy', series: 'norm', diverged: 'status', colors: BN_COLORS,
        title: 'Final test accuracy over learning rates, ResNet-20', subtitle: '3 seeds: mean, min–max bar', xTitle: 'learning rate', yTitle: 'test accuracy', seriesTitle: 'normalization',
        references: [{ label: 'paper: 92.7%', x: 0.3, y: 0.927 }, { label: 'paper: 90%', y: 0.9 }],
      }),
    },
    {
      name: 'lr-sweep-facet',
      spec: lrSweepChart(sweep, {
        lr: 'lr', metric: 'testAccuracy', series: 'norm', diverged: 'status', facet: { column: 'depth' }, colors: BN_COLORS,
        title: 'Learning-rate sweeps by depth', xTitle: 'learning rate', yTitle: 'test accuracy', seriesTitle: 'normalization',
        references: [{ label: 'paper: max lr', x: 0.1, panel: { depth: 'ResNet-56' } }],
      }),
    },
  ];
}

function pngTool(): string | null {
  const r = spawnSync('rsvg-convert', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'rsvg-convert' : null;
}

async function main() {
  const filter = process.argv[2] ?? '';
  fs.mkdirSync(outDir, { recursive: true });
  const tool = pngTool();
  if (!tool) console.error('[gallery] rsvg-convert not found (apt-get install librsvg2-bin): writing SVGs only');
  const written: string[] = [];
  for (const { name, spec } of galleryCharts().filter((c) => c.name.includes(filter))) {
    const t0 = Date.now();
    const svg = await renderSvg(spec);
    const svgFile = path.join(outDir, `${name}.svg`);
    fs.writeFileSync(svgFile, svg);
    fs.writeFileSync(path.join(outDir, `${name}.vl.json`), JSON.stringify(spec, null, 1));
    if (tool) {
      // Twice the size, on white: for looking at, not for print.
      const r = spawnSync(tool, ['--zoom', '2', '--background-color', 'white', '--output', path.join(outDir, `${name}.png`), svgFile], { encoding: 'utf8' });
      if (r.status !== 0) console.error(`[gallery] ${name}: ${tool} failed: ${r.stderr}`);
    }
    written.push(name);
    console.error(`[gallery] ${name}: ${(svg.length / 1024).toFixed(0)} KiB SVG, ${Date.now() - t0} ms`);
  }
  const html = `<!doctype html><meta charset="utf-8"><title>bnlab chart gallery</title>
<body style="font-family: sans-serif; background: #f4f4f4">
${written.map((n) => `<h3>${n}</h3><img src="${n}.svg" style="background: white">`).join('\n')}
</body>`;
  fs.writeFileSync(path.join(outDir, 'index.html'), html);
  console.error(`[gallery] ${written.length} charts in ${path.relative(root, outDir)}/`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
