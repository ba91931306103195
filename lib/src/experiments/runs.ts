/**
 * One call per experiment: a training run or a measurement, described by a
 * plain config, served from the run store when it was computed before.
 */
import path from 'node:path';
import fs from 'node:fs';
import { buildModel, Model, ModelOptions } from '../models';
import { RunningMarker, RunRecord, RunSpec, RunStore } from '../store';
import { consoleProgress, train, TrainCallbacks, TrainConfig, TrainResult } from '../train';
import { DataSpec, loadData } from './data';
import { activeProfile, ProfileName } from './profile';

/** The store notebooks share: $BNLAB_RUNS_DIR, else runs/ at the project root. */
export function defaultStore(): RunStore {
  if (process.env.BNLAB_RUNS_DIR) return new RunStore(process.env.BNLAB_RUNS_DIR);
  let dir = process.cwd();
  while (!fs.existsSync(path.join(dir, 'lib', 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return new RunStore(path.resolve('runs'));
    dir = up;
  }
  return new RunStore(path.join(dir, 'runs'));
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** Model options without what the data decides (input shape, classes). */
export type ModelSpec = DistributiveOmit<ModelOptions, 'inputShape' | 'numClasses'>;

export interface TrainRunSpec {
  /** A label for charts and progress; not part of the key. */
  label?: string;
  data: DataSpec;
  model: ModelSpec;
  train: TrainConfig;
}

/** What the store keeps of a training run: the result without what the record holds already (time, backend). */
export type TrainSummary = Omit<TrainResult, 'seconds' | 'backend'> & { parameters: number };

export interface RunOptions {
  store?: RunStore;
  profile?: ProfileName;
  /** Progress callbacks (a notebook passes liveProgress); console lines by default. */
  progress?: (label: string) => TrainCallbacks;
  /** Told when a stored run is reused instead of trained. */
  onCached?: (label: string, record: RunRecord) => void;
}

/**
 * Progress for a terminal that is not the notebook's: when the report runs
 * notebooks headless, their outputs only reach the executed file, so runs
 * also append one-line progress to BNLAB_PROGRESS_FILE, which the report
 * command prints as it goes.
 */
function sideLog(line: string): void {
  if (process.env.BNLAB_PROGRESS_FILE) fs.appendFileSync(process.env.BNLAB_PROGRESS_FILE, line + '\n');
}

/** Says, in the notebook and the report's terminal, that another process is computing this run. */
function waitingFor(label: string, other: RunningMarker): void {
  const line = `[${label}] being computed by process ${other.pid} (since ${other.startedAt.slice(11, 19)} UTC): waiting for its record`;
  console.log(line);
  sideLog(line);
}

function withSideProgress(label: string, inner: TrainCallbacks): TrainCallbacks {
  const file = process.env.BNLAB_PROGRESS_FILE;
  if (!file) return inner;
  const side = consoleProgress(label, { everySeconds: 10, write: (line) => fs.appendFileSync(file, line + '\n') });
  return {
    onStep(s, total) {
      inner.onStep?.(s, total);
      side.onStep?.(s, total);
    },
    onEpoch(e, total) {
      inner.onEpoch?.(e, total);
      side.onEpoch?.(e, total);
    },
    onEnd(result) {
      inner.onEnd?.(result);
      side.onEnd?.(result);
    },
  };
}

/** What the store keys a training run by: everything in its spec but the label, and the profile. */
export function trainRunSpec(spec: TrainRunSpec, profile: ProfileName = activeProfile()): RunSpec {
  const { label: _label, ...keyed } = spec;
  return { kind: 'train', config: { profile, ...keyed } };
}

/** Trains the run a spec describes, or returns it from the store. */
export async function trainRun(spec: TrainRunSpec, opts: RunOptions = {}): Promise<RunRecord<TrainSummary>> {
  const store = opts.store ?? defaultStore();
  const profile = opts.profile ?? activeProfile();
  const label =
    spec.label ??
    `${spec.model.family}${'depth' in spec.model ? spec.model.depth : ''}-${spec.model.norm}-lr${spec.train.learningRate}-seed${spec.train.seed}`;
  return store.getOrRun<TrainSummary>(
    trainRunSpec(spec, profile),
    async () => {
      const data = loadData(spec.data);
      const model: Model = buildModel({ ...spec.model, inputShape: data.train.shape, numClasses: data.train.numClasses } as ModelOptions);
      try {
        const r = await train(model, data, spec.train, withSideProgress(label, (opts.progress ?? consoleProgress)(label)));
        const summary: TrainSummary = {
          status: r.status,
          divergence: r.divergence,
          epochs: r.epochs,
          steps: r.steps,
          final: r.final,
          totalSteps: r.totalSteps,
          parameters: model.parameterCount(),
        };
        return { result: summary, diverged: r.status === 'diverged' };
      } finally {
        model.dispose();
      }
    },
    {
      onCached: (r) => {
        sideLog(`[${label}] reused from the run store`);
        opts.onCached?.(label, r);
      },
      onWaiting: (other) => waitingFor(label, other),
    },
  );
}

/** A measurement (anything that returns JSON), stored under its config like a training run. */
export async function measure<T>(name: string, config: unknown, compute: () => Promise<T> | T, opts: RunOptions = {}): Promise<T> {
  const store = opts.store ?? defaultStore();
  const profile = opts.profile ?? activeProfile();
  const rec = await store.getOrRun<T>(
    { kind: 'measure', config: { name, profile, config } },
    async () => {
      const t0 = Date.now();
      sideLog(`[${name}] measuring`);
      const result = await compute();
      sideLog(`[${name}] measured in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return { result };
    },
    {
      onCached: (r) => {
        sideLog(`[${name}] reused from the run store`);
        opts.onCached?.(name, r);
      },
      onWaiting: (other) => waitingFor(name, other),
    },
  );
  return rec.result;
}
