#!/usr/bin/env node
// `npm run dev`: watch mode, with nodemon (one instance per watch, since
// nodemon runs one command):
//   lib/src/**/*.ts     → recompile lib (a notebook re-running its import cell gets it)
//   notebooks/*.ipynb, notebooks/grids/*.json
//                       → execute the changed notebooks (and those reading a changed grid), re-export
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodemon = path.join(root, 'node_modules', '.bin', 'nodemon');
const watchers = [
  spawn(nodemon, ['--config', 'nodemon.json'], { cwd: root, stdio: 'inherit' }),
  spawn(nodemon, ['--watch', 'notebooks', '--ext', 'ipynb,json', '--delay', '1', '--exec', 'node scripts/dev-notebooks.mjs'], { cwd: root, stdio: 'inherit' }),
];
const stop = () => {
  for (const w of watchers) w.kill('SIGTERM');
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
for (const w of watchers) w.on('exit', (code) => code && console.error(`[dev] a watcher exited with ${code}`));
