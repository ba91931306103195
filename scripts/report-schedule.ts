/**
 * How `npm run report` (scripts/report.ts) schedules the notebooks: how many
 * run side by side, in which order, and which grids a core with no notebook
 * left can train ahead of a running one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { profileThreads } from '../lib/src/backend/threads';
import type { ProfileName } from '../lib/src/experiments/profile';
import { readGrid, resolveGridFile } from '../lib/src/grid';

const notebooksDir = path.resolve(__dirname, '..', 'notebooks');

/** The grids a notebook trains from (its `readGrid('name')` calls): what an idle core can train ahead of it. */
export function gridsOf(notebook: string, dir: string = notebooksDir): string[] {
  const nb = JSON.parse(fs.readFileSync(path.join(dir, `${notebook}.ipynb`), 'utf8')) as {
    cells: { source: string | string[] }[];
  };
  const source = nb.cells.map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source)).join('\n');
  return [...new Set([...source.matchAll(/readGrid\(\s*'([\w.-]+)'/g)].map((m) => m[1]))];
}

/**
 * How many notebooks run side by side: one per `threads` cores, where the
 * profile fixes TensorFlow's thread count (smoke and quick: one, see
 * lib/src/backend/threads), else one at a time on every core.
 */
export function reportLanes(profile: string, cores: number, requested?: number): number {
  if (requested !== undefined) return requested;
  const threads = profileThreads(profile as ProfileName);
  return threads === null ? 1 : Math.max(1, Math.floor(cores / threads));
}

/**
 * What each notebook took in the quick report at commit e39c75e, run side
 * by side on this project's 2-core machine (the executed copies' wall
 * times): only to order a first report, which has no times of its own. The
 * order is what matters: the longest notebooks first, so that no core ends
 * up idle beside a long one started last (at e39c75e, with RQ5 started
 * last, one core idled for its 2.5 minutes).
 */
export const FIRST_REPORT_SECONDS: Record<string, number> = {
  'rq6-normalisers': 745,
  'rq1-learning-rate': 488,
  'rq5-divergence': 148,
  'rq4-final-layer-bn': 96,
  'rq2-depth': 62,
  'rq3-random-matrices': 55,
};

/**
 * Longest first: by the last report's wall times here; on a first report by
 * FIRST_REPORT_SECONDS, a notebook it does not know (a fork) first of all,
 * those with the larger grids before the others.
 */
export function scheduleOrder(names: string[], before: Map<string, number>, profile: string, dir: string = notebooksDir): string[] {
  const runs = (n: string) => gridsOf(n, dir).reduce((s, g) => s + readGrid(resolveGridFile(g), profile as ProfileName).runs.length, 0);
  const known = names.every((n) => before.has(n));
  const cost = new Map(names.map((n) => [n, known ? before.get(n)! : (FIRST_REPORT_SECONDS[n] ?? 1e6 + runs(n))] as const));
  return [...names].sort((a, b) => cost.get(b)! - cost.get(a)! || a.localeCompare(b));
}
