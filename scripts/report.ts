/**
 * `npm run report`, the main job: execute every notebook headless through the
 * real tslab kernel (profile `quick` unless --profile or BNLAB_PROFILE says
 * otherwise), reusing the run store, then export the static HTML report to
 * report/.
 *
 *   npm run report [-- --profile smoke|quick|long|paper] [-- NOTEBOOK ...]
 *
 * The terminal shows which notebook runs, each training run's progress (the
 * runs append it to BNLAB_PROGRESS_FILE, since a headless notebook's outputs
 * only reach the executed file) and how long remains, estimated from the
 * previous report's wall time of each notebook.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportReport } from '../report/export';
import { formatDuration } from '../lib/src/train/progress';

const root = path.resolve(__dirname, '..');
const executedDir = path.join(root, 'report', 'build', 'notebooks');

function parseArgs(argv: string[]): { profile: string; notebooks: string[] } {
  let profile = process.env.BNLAB_PROFILE || 'quick';
  const notebooks: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--profile') profile = argv[++i] ?? '';
    else if (argv[i].startsWith('--profile=')) profile = argv[i].slice(10);
    else if (argv[i].startsWith('-')) throw new Error(`unknown option ${argv[i]} (usage: npm run report [-- --profile smoke|quick|long|paper] [-- NOTEBOOK ...])`);
    else notebooks.push(argv[i]);
  }
  if (!['smoke', 'quick', 'long', 'paper'].includes(profile)) throw new Error(`--profile must be smoke, quick, long or paper, got ${profile}`);
  return { profile, notebooks };
}

/** Wall time of each notebook in the last report of this profile, for the estimate. */
function previousSeconds(profile: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!fs.existsSync(executedDir)) return out;
  for (const f of fs.readdirSync(executedDir).filter((x) => x.endsWith('.ipynb'))) {
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(executedDir, f), 'utf8')).metadata?.bnlab;
      if (meta?.profile === profile && typeof meta.seconds === 'number') out.set(f.replace(/\.ipynb$/, ''), meta.seconds);
    } catch {
      // an unreadable old copy only costs the estimate
    }
  }
  return out;
}

async function executeNotebooks(profile: string, names: string[]): Promise<void> {
  const all = names.length ? names.map((n) => path.basename(n, '.ipynb')) : fs.readdirSync(path.join(root, 'notebooks')).filter((f) => f.endsWith('.ipynb')).map((f) => f.replace(/\.ipynb$/, '')).sort();
  const before = previousSeconds(profile);
  const known = all.every((n) => before.has(n));
  const progressFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-report-')), 'progress.log');
  fs.writeFileSync(progressFile, '');
  const python = path.join(root, '.venv', 'bin', 'python');
  const child = spawn(python, [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', profile, '--out', executedDir, ...names], {
    cwd: root,
    env: { ...process.env, BNLAB_PROFILE: profile, BNLAB_PROGRESS_FILE: progressFile },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const t0 = Date.now();
  let done = 0;
  let current = '';
  let startedCurrent = Date.now();
  const remaining = () => {
    if (!known) return '';
    const left = all.slice(done).reduce((s, n) => s + before.get(n)!, 0) - (Date.now() - startedCurrent) / 1000;
    return `, about ${formatDuration(Math.max(0, left))} left (from the last ${profile} report)`;
  };
  child.stderr.setEncoding('utf8');
  let buffered = '';
  child.stderr.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const start = /^\[notebooks\] (\d+)\/(\d+) (\S+)/.exec(line);
      const end = /^\[notebooks\] (\S+): (ok|FAILED) in ([\d.]+) s/.exec(line);
      if (start) {
        current = start[3];
        startedCurrent = Date.now();
        console.error(`[report] notebook ${start[1]}/${start[2]}: ${current}${remaining()}`);
      } else if (end) {
        done += 1;
        console.error(`[report] ${end[1]}: ${end[2]} in ${formatDuration(Number(end[3]))}`);
      } else if (line.trim()) console.error(line);
    }
  });
  // Each run's progress, as the kernel appends it.
  let offset = 0;
  const tail = setInterval(() => {
    const size = fs.statSync(progressFile).size;
    if (size <= offset) return;
    const fd = fs.openSync(progressFile, 'r');
    const buf = Buffer.alloc(size - offset);
    fs.readSync(fd, buf, 0, buf.length, offset);
    fs.closeSync(fd);
    offset = size;
    for (const line of buf.toString('utf8').split('\n')) if (line.trim()) console.error(`  ${current} ${line}`);
  }, 1000);
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  clearInterval(tail);
  console.error(`[report] notebooks done in ${formatDuration((Date.now() - t0) / 1000)}`);
  if (code !== 0) throw new Error('a notebook failed (see the error above); the report was not exported');
}

async function main() {
  const { profile, notebooks } = parseArgs(process.argv.slice(2));
  await executeNotebooks(profile, notebooks);
  const r = await exportReport({ inDir: executedDir, outDir: path.join(root, 'report') });
  console.log(`report: ${path.join(r.outDir, 'index.html')} (${r.pages.length} pages, ${r.figures} figures, ${r.findings.length} findings)`);
  for (const f of r.findings) console.log(`  ${f.rq} ${f.notebook}: ${f.verdict} (${f.metric} = ${+Number(f.value).toPrecision(3)})`);
}

main().catch((err) => {
  console.error(`[report] ${err.message}`);
  process.exit(1);
});
