/**
 * Datasets as a run config names them, loaded once per process: a notebook
 * that trains twenty models on the same subset reads it once.
 */
import { channelStats, Dataset, downsample, loadCifar10, loadFashionMnist, normalize, subset } from '../data';
import { canonicalJson } from '../store';
import { Rng } from '../util/rng';

export interface DataSpec {
  dataset: 'fashion-mnist' | 'cifar10';
  /** Class-balanced subsets, chosen with `seed`; all examples if omitted. */
  trainSize?: number;
  testSize?: number;
  seed?: number;
  /** Average each factor×factor block of pixels (2: 28×28 → 14×14); full resolution if omitted. */
  downsample?: number;
  /** Where the files are; the loaders' defaults if omitted. */
  dir?: string;
}

const cache = new Map<string, { train: Dataset; test: Dataset }>();

/** Train and test splits, normalised per channel with the training split's statistics. */
export function loadData(spec: DataSpec): { train: Dataset; test: Dataset } {
  const key = canonicalJson(spec);
  const hit = cache.get(key);
  if (hit) return hit;
  const load = spec.dataset === 'fashion-mnist' ? loadFashionMnist : spec.dataset === 'cifar10' ? loadCifar10 : null;
  if (!load) throw new Error(`data spec: dataset must be 'fashion-mnist' or 'cifar10', got ${JSON.stringify(spec.dataset)}`);
  const rng = new Rng(spec.seed ?? 0);
  let train = load({ split: 'train', dir: spec.dir });
  let test = load({ split: 'test', dir: spec.dir });
  if (spec.trainSize !== undefined && spec.trainSize < train.count) train = subset(train, spec.trainSize, rng);
  if (spec.testSize !== undefined && spec.testSize < test.count) test = subset(test, spec.testSize, rng);
  if (spec.downsample !== undefined) {
    train = downsample(train, spec.downsample);
    test = downsample(test, spec.downsample);
  }
  const stats = channelStats(train);
  const data = { train: normalize(train, stats), test: normalize(test, stats) };
  cache.set(key, data);
  return data;
}
