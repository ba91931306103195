/**
 * `npm run report`, the main job: execute every notebook headless through the
 * real tslab kernel (profile `quick` unless --profile or BNLAB_PROFILE says
 * otherwise), reusing the run store, then export the static HTML report to
 * report/.
 *
 *   npm run report [-- --profile smoke|quick|long|paper] [-- --lanes N] [-- NOTEBOOK ...]
 *
 * Where the profile runs TensorFlow on one thread (smoke, quick), the
 * notebooks run side by side, one per core (--lanes to choose), longest
 * first (scheduleOrder); a core with no notebook left to start trains the grid runs a
 * running notebook has yet to reach (see executeNotebooks). The store makes
 * a notebook wait for a run another process is computing, so nothing is
 * computed twice and every record is what the notebook alone would compute.
 *
 * The terminal shows which notebook runs, each training run's progress (the
 * runs append it to BNLAB_PROGRESS_FILE, since a headless notebook's outputs
 * only reach the executed file) and how long remains, estimated from the
 * previous report's wall time of each notebook.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportReport } from '../report/export';
import { formatDuration } from '../lib/src/train/progress';
import { onLines } from './lines';
import { gridsOf, reportLanes, scheduleOrder } from './report-schedule';

const root = path.resolve(__dirname, '..');
const executedDir = path.join(root, 'report', 'build', 'notebooks');

function parseArgs(argv: string[]): { profile: string; notebooks: string[]; lanes?: number } {
  let profile = process.env.BNLAB_PROFILE || 'quick';
  let lanes: number | undefined;
  const notebooks: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--profile') profile = argv[++i] ?? '';
    else if (argv[i] === '--lanes') {
      lanes = Number(argv[++i]);
      if (!Number.isInteger(lanes) || lanes < 1) throw new Error(`--lanes must be a positive integer, got ${argv[i]}`);
    } else if (argv[i].startsWith('--profile=')) profile = argv[i].slice(10);
    else if (argv[i].startsWith('-'))
      throw new Error(
        `unknown option ${argv[i]} (usage: npm run report [-- --profile smoke|quick|long|paper] [-- --lanes N] [-- NOTEBOOK ...])`,
      );
    else notebooks.push(argv[i]);
  }
  if (!['smoke', 'quick', 'long', 'paper'].includes(profile))
    throw new Error(`--profile must be smoke, quick, long or paper, got ${profile}`);
  return { profile, notebooks, lanes };
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

async function executeNotebooks(profile: string, names: string[], lanesRequested?: number): Promise<void> {
  const all = names.length
    ? names.map((n) => path.basename(n, '.ipynb'))
    : fs
        .readdirSync(path.join(root, 'notebooks'))
        .filter((f) => f.endsWith('.ipynb'))
        .map((f) => f.replace(/\.ipynb$/, ''))
        .sort();
  const before = previousSeconds(profile);
  const queue = scheduleOrder(all, before, profile);
  const lanes = Math.min(reportLanes(profile, os.cpus().length, lanesRequested), all.length);
  const python = path.join(root, '.venv', 'bin', 'python');
  const t0 = Date.now();
  const running = new Map<string, number>(); // notebook → when it started
  const failed: string[] = [];
  const fillers = new Map<string, ChildProcess>(); // grid → the sweep training it from its end
  let done = 0;
  // The estimate: what the last report of this profile took, shared over the lanes.
  const remaining = () => {
    if (!all.every((n) => before.has(n))) return '';
    const left =
      [...queue, ...running.keys()].reduce((s, n) => s + before.get(n)!, 0) -
      [...running.values()].reduce((s, t) => s + (Date.now() - t) / 1000, 0);
    return `, about ${formatDuration(Math.max(0, left / lanes))} left (from the last ${profile} report)`;
  };
  console.error(`[report] ${all.length} notebooks, ${lanes} at a time (profile ${profile})`);

  const runNotebook = (name: string): Promise<void> => {
    const progressDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-report-'));
    const progressFile = path.join(progressDir, 'progress.log');
    fs.writeFileSync(progressFile, '');
    running.set(name, Date.now());
    console.error(`[report] notebook ${done + running.size}/${all.length}: ${name}${remaining()}`);
    const child = spawn(python, [path.join(root, 'scripts', 'execute_notebooks.py'), '--profile', profile, '--out', executedDir, name], {
      cwd: root,
      env: { ...process.env, BNLAB_PROFILE: profile, BNLAB_PROGRESS_FILE: progressFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    onLines(child.stderr, (line) => {
      const end = /^\[notebooks\] (\S+): (ok|FAILED) in ([\d.]+) s/.exec(line);
      if (end) console.error(`[report] ${end[1]}: ${end[2]} in ${formatDuration(Number(end[3]))}`);
      else if (line.startsWith('[notebooks] error') || (line.trim() && !line.startsWith('[notebooks] ') && !line.startsWith('{')))
        console.error(line);
    });
    // Each run's progress, as the kernel appends it.
    let offset = 0;
    const tail = () => {
      const size = fs.statSync(progressFile).size;
      if (size <= offset) return;
      const fd = fs.openSync(progressFile, 'r');
      const buf = Buffer.alloc(size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      fs.closeSync(fd);
      offset = size;
      for (const line of buf.toString('utf8').split('\n')) if (line.trim()) console.error(`  ${name} ${line}`);
    };
    const timer = setInterval(tail, 1000);
    return new Promise((resolve) =>
      child.on('close', (code) => {
        clearInterval(timer);
        tail();
        fs.rmSync(progressDir, { recursive: true, force: true });
        running.delete(name);
        done += 1;
        if (code !== 0) failed.push(name);
        resolve();
      }),
    );
  };

  // A lane with no notebook left to start trains, from its last run back, a
  // grid that a running notebook trains from its first run on (npm run sweep
  // -- --shard 0/1 --reverse). The store hands each run to whichever gets
  // there first and makes the other wait for it, so nothing is trained twice
  // and the runs are the notebook's own (same thread count, same code).
  const startFiller = (): Promise<void> | null => {
    const grid = [...running.keys()].flatMap((n) => gridsOf(n)).find((g) => !fillers.has(g));
    if (!grid) return null;
    console.error(`[report] a core is free: training ${grid}'s runs from the last one back, for the notebook that trains them`);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'scripts', 'sweep.ts'), grid, '--profile', profile, '--shard', '0/1', '--reverse'],
      {
        cwd: root,
        env: { ...process.env, BNLAB_PROFILE: profile, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    fillers.set(grid, child);
    onLines(child.stderr, (line) => {
      if (/: (training|completed|diverged|FAILED)/.test(line)) console.error(`  [ahead] ${line}`);
    });
    return new Promise((resolve) => child.on('close', () => resolve()));
  };

  const lane = async (): Promise<void> => {
    for (;;) {
      const next = queue.shift();
      if (next) {
        await runNotebook(next);
        continue;
      }
      const filling = running.size ? startFiller() : null;
      if (!filling) return;
      await filling;
    }
  };
  await Promise.all(Array.from({ length: lanes }, () => lane()));
  for (const f of fillers.values()) if (f.exitCode === null) f.kill('SIGTERM');
  console.error(`[report] notebooks done in ${formatDuration((Date.now() - t0) / 1000)}`);
  if (failed.length) throw new Error(`${failed.join(', ')} failed (see the error above); the report was not exported`);
}

async function main() {
  const { profile, notebooks, lanes } = parseArgs(process.argv.slice(2));
  await executeNotebooks(profile, notebooks, lanes);
  const r = await exportReport({ inDir: executedDir, outDir: path.join(root, 'report') });
  console.log(
    `report: ${path.join(r.outDir, 'index.html')} (${r.pages.length} pages, ${r.figures} figures, ${r.findings.length} findings)`,
  );
  for (const f of r.findings) console.log(`  ${f.rq} ${f.notebook}: ${f.verdict} (${f.metric} = ${+Number(f.value).toPrecision(3)})`);
}

main().catch((err) => {
  console.error(`[report] ${err.message}`);
  process.exit(1);
});
