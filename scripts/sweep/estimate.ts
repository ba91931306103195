/**
 * What a sweep costs, on paper, before anyone submits it: the training
 * steps of every run (from each run's data and schedule), times a measured
 * step time (`npm run bench -- --depth D` gives one), plus one evaluation
 * pass over the test split per epoch, counted as a third of a training
 * step per image (a forward pass without the backward's two products).
 * Runs that diverge stop early, so this is an upper bound.
 *
 * Runs of one grid need not cost the same (the epoch budget grows as the
 * learning rate falls), so the wall time is a list schedule in grid order,
 * as Slurm starts array tasks: each node takes the next run when it is free.
 */
import { plannedSteps } from '../../lib/src/analysis/rq1';
import type { GridRun } from '../../lib/src/grid';

/** The sizes of the full datasets, for specs that do not take a subset. */
const FULL_SIZE = { cifar10: { train: 50_000, test: 10_000 }, 'fashion-mnist': { train: 60_000, test: 10_000 } } as const;

export interface SweepEstimate {
  runs: number;
  stepsPerRun: number[];
  /** Compute of all runs, in hours of one node running one run at a time. */
  nodeHours: number;
  /** The longest run. */
  hoursPerRun: number;
  /** Wall time with one run per node at a time, on each node count asked for. */
  wall: { nodes: number; hours: number }[];
}

export function estimateSweep(runs: GridRun[], msPerStep: number, nodeCounts: number[]): SweepEstimate {
  const perRun = runs.map((r) => {
    const d = r.spec.data;
    const full = FULL_SIZE[d.dataset];
    const train = d.trainSize ?? full.train;
    const test = d.testSize ?? full.test;
    const steps = plannedSteps(train, r.spec.train);
    const evalSeconds = ((test * r.spec.train.epochs) / r.spec.train.batchSize) * (msPerStep / 3 / 1000);
    return { steps, hours: (steps * (msPerStep / 1000) + evalSeconds) / 3600 };
  });
  const total = perRun.reduce((s, r) => s + r.hours, 0);
  const longest = Math.max(...perRun.map((r) => r.hours));
  return {
    runs: runs.length,
    stepsPerRun: perRun.map((r) => r.steps),
    nodeHours: total,
    hoursPerRun: longest,
    wall: nodeCounts.map((nodes) => ({ nodes, hours: listSchedule(perRun.map((r) => r.hours), nodes) })),
  };
}

/** The makespan of jobs started in order, each on the first node to be free. */
export function listSchedule(durations: number[], nodes: number): number {
  const free = new Array<number>(Math.max(1, Math.min(nodes, durations.length))).fill(0);
  for (const d of durations) {
    let i = 0;
    for (let j = 1; j < free.length; j++) if (free[j] < free[i]) i = j;
    free[i] += d;
  }
  return Math.max(0, ...free);
}
