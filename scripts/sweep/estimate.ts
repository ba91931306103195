/**
 * What a sweep costs, on paper, before anyone submits it: the training
 * steps of every run (from each run's data and schedule), times a measured
 * step time (`npm run bench -- --depth D` gives one), plus one evaluation
 * pass over the test split per epoch, counted as a third of a training
 * step per image (a forward pass without the backward's two products).
 * Runs that diverge stop early, so this is an upper bound.
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
  wall: { nodes: number; waves: number; hours: number }[];
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
    // Runs of one grid cost about the same, so waves of `nodes` runs at a time.
    wall: nodeCounts.map((nodes) => {
      const waves = Math.ceil(runs.length / nodes);
      return { nodes, waves, hours: waves * longest };
    }),
  };
}
