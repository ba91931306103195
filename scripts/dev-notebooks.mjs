#!/usr/bin/env node
// Run by `npm run dev` whenever a notebook or a grid changes: executes the
// notebooks that are newer than their executed copy (or read a grid that is) in report/build/notebooks (the
// run store makes that cheap when only text changed), then re-exports the
// report. BNLAB_PROFILE picks the profile (default quick).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const executed = path.join(root, 'report', 'build', 'notebooks');
/** The grid files a notebook reads (`bn.readGrid('name')`): editing one makes the notebook stale too. */
function gridsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/readGrid\((?:\\?['"])([\w.-]+?)(?:\.json)?\\?['"]/g)].map((m) => path.join(root, 'notebooks', 'grids', `${m[1]}.json`)).filter((g) => fs.existsSync(g));
}
const stale = fs
  .readdirSync(path.join(root, 'notebooks'))
  .filter((f) => f.endsWith('.ipynb'))
  .filter((f) => {
    const copy = path.join(executed, f);
    if (!fs.existsSync(copy)) return true;
    const source = path.join(root, 'notebooks', f);
    const newest = Math.max(...[source, ...gridsOf(source)].map((x) => fs.statSync(x).mtimeMs));
    return newest > fs.statSync(copy).mtimeMs;
  });
if (stale.length === 0) {
  console.error('[dev] every notebook is up to date in report/build/notebooks');
  process.exit(0);
}
console.error(`[dev] executing ${stale.join(', ')}`);
const profile = process.env.BNLAB_PROFILE || 'quick';
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status;
if (run(path.join(root, '.venv', 'bin', 'python'), ['scripts/execute_notebooks.py', '--profile', profile, ...stale.map((f) => `notebooks/${f}`)]) !== 0) {
  console.error('[dev] a notebook failed; the report keeps its last pages');
  process.exit(1);
}
process.exit(run(process.execPath, ['--import', 'tsx', 'report/export.ts']) ?? 1);
