/**
 * The static HTML report from the executed notebooks.
 *
 *   node --import tsx report/export.ts [--in report/build/notebooks] [--out report] [--environment FILE]
 *
 * --in           folder of executed notebooks (scripts/execute_notebooks.py writes them)
 * --out          folder of the site: index.html, <notebook>.html, findings.json, assets/
 * --environment  an environment.json with what the notebooks ran on (see report/exporter/environment.ts);
 *                without it, that is read from the notebooks and this machine
 *
 * Progress goes to stderr; the last line on stdout is a JSON summary.
 * The site opens from disk with no network (no CDN; assets copied next to the pages).
 */
import path from 'node:path';
import { exportReport } from './exporter';

export { exportReport } from './exporter';
export type { ExportOptions, ExportResult } from './exporter';

const ROOT = path.resolve(__dirname, '..');

function parseArgs(argv: string[]): { inDir: string; outDir: string; environmentFile?: string } {
  const args = { inDir: path.join(ROOT, 'report', 'build', 'notebooks'), outDir: path.join(ROOT, 'report'), environmentFile: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--in') args.inDir = path.resolve(value());
    else if (flag === '--out') args.outDir = path.resolve(value());
    else if (flag === '--environment' || flag === '--env') args.environmentFile = path.resolve(value());
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: node --import tsx report/export.ts [--in DIR] [--out DIR] [--environment FILE]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (usage: report/export.ts [--in DIR] [--out DIR] [--environment FILE])`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const r = await exportReport(args);
  const verdicts: Record<string, number> = {};
  for (const f of r.findings) verdicts[f.verdict] = (verdicts[f.verdict] ?? 0) + 1;
  process.stdout.write(JSON.stringify({ out: r.outDir, pages: r.pages, figures: r.figures, findings: r.findings.length, verdicts, interactive: r.interactive }) + '\n');
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`[report] ${err.message}\n`);
    process.exit(1);
  });
}
