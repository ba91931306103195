/**
 * The in-memory dataset type both loaders return, and the operations the
 * training loop needs on it: normalisation, shuffling, batching, splitting,
 * sub-setting and CIFAR-style augmentation.
 *
 * Everything works on flat typed arrays in NHWC order, in plain JS, so the
 * data stage needs no tensors (and no backend) until `toTensors`. Every
 * function returns fresh arrays: nothing here writes into an array that a
 * caller may still hold.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';

export type Split = 'train' | 'validation' | 'test';

/** Height, width, channels of one image. */
export type ImageShape = [number, number, number];

export interface Dataset {
  /** e.g. 'fashion-mnist', 'cifar10'. */
  name: string;
  /** 'validation' only for a part split off a train set by `splitDataset`. */
  split: Split;
  /** count*H*W*C values, NHWC. In [0, 1] as loaded; any real after `normalize`. */
  images: Float32Array;
  /** count class indices, each < numClasses. */
  labels: Uint8Array;
  count: number;
  shape: ImageShape;
  numClasses: number;
  classNames: readonly string[];
}

export interface Batch {
  /** size*H*W*C values, NHWC. */
  images: Float32Array;
  labels: Int32Array;
  size: number;
}

/** Per-channel mean and standard deviation, one entry per channel. */
export interface ChannelStats {
  mean: Float32Array;
  std: Float32Array;
}

function pixelsPerImage(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}

/** Throws if the arrays and the declared sizes of a dataset disagree. */
export function checkDataset(ds: Dataset): void {
  const per = pixelsPerImage(ds.shape);
  if (ds.images.length !== ds.count * per) {
    throw new Error(
      `${ds.name}/${ds.split}: images has ${ds.images.length} values, expected count ${ds.count} × ${ds.shape.join('×')} = ${ds.count * per}`,
    );
  }
  if (ds.labels.length !== ds.count) {
    throw new Error(`${ds.name}/${ds.split}: labels has ${ds.labels.length} entries, expected ${ds.count}`);
  }
  if (ds.classNames.length !== ds.numClasses) {
    throw new Error(`${ds.name}/${ds.split}: ${ds.classNames.length} class names for ${ds.numClasses} classes`);
  }
}

/**
 * Per-channel mean and (population) standard deviation over every pixel of
 * `ds`. Compute it on the train split and apply the same stats to the test
 * split, so that the test set leaks nothing into preprocessing.
 */
export function channelStats(ds: Dataset): ChannelStats {
  const c = ds.shape[2];
  const n = ds.images.length / c;
  if (n === 0) throw new Error(`${ds.name}/${ds.split}: channelStats of an empty dataset`);
  // Float64 sums: float32 would lose digits over tens of millions of pixels.
  const sum = new Float64Array(c);
  const sumSq = new Float64Array(c);
  const x = ds.images;
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const v = x[i + k];
      sum[k] += v;
      sumSq[k] += v * v;
    }
  }
  const mean = new Float32Array(c);
  const std = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const m = sum[k] / n;
    mean[k] = m;
    std[k] = Math.sqrt(Math.max(0, sumSq[k] / n - m * m));
  }
  return { mean, std };
}

/** A new dataset with (x - mean[c]) / std[c] on every pixel. */
export function normalize(ds: Dataset, stats: ChannelStats): Dataset {
  const c = ds.shape[2];
  if (stats.mean.length !== c || stats.std.length !== c) {
    throw new Error(`normalize: stats have ${stats.mean.length} channels, ${ds.name} has ${c}`);
  }
  const scale = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    // A constant channel (std 0) is only centred, not blown up to infinity.
    scale[k] = stats.std[k] > 0 ? 1 / stats.std[k] : 1;
  }
  const x = ds.images;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) out[i + k] = (x[i + k] - stats.mean[k]) * scale[k];
  }
  return { ...ds, images: out };
}

/** A new dataset made of the examples at `indices`, in that order. */
export function selectExamples(ds: Dataset, indices: ArrayLike<number>, split: Split = ds.split): Dataset {
  const per = pixelsPerImage(ds.shape);
  const n = indices.length;
  const images = new Float32Array(n * per);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    if (!(j >= 0 && j < ds.count) || !Number.isInteger(j)) {
      throw new Error(`selectExamples: index ${j} is outside ${ds.name}/${ds.split} (0..${ds.count - 1})`);
    }
    images.set(ds.images.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = ds.labels[j];
  }
  return { ...ds, split, images, labels, count: n };
}

/** A new dataset with the examples in a seeded random order. */
export function shuffle(ds: Dataset, rng: Rng): Dataset {
  return selectExamples(ds, rng.permutation(ds.count));
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle the order with this generator; in file order without it. */
  rng?: Rng;
  /** Drop the last batch when it is smaller than batchSize. Default false. */
  dropLast?: boolean;
}

/**
 * One epoch of batches. Each batch owns fresh arrays, so a caller may keep
 * (or hand to a tensor) a batch while taking the next one.
 */
export function* iterateBatches(ds: Dataset, opts: BatchOptions): Generator<Batch, void, undefined> {
  const { batchSize, rng, dropLast = false } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`iterateBatches: batchSize must be a positive integer, got ${batchSize}`);
  const per = pixelsPerImage(ds.shape);
  const order = rng ? rng.permutation(ds.count) : null;
  for (let start = 0; start < ds.count; start += batchSize) {
    const size = Math.min(batchSize, ds.count - start);
    if (size < batchSize && dropLast) return;
    const images = new Float32Array(size * per);
    const labels = new Int32Array(size);
    if (order) {
      for (let i = 0; i < size; i++) {
        const j = order[start + i];
        images.set(ds.images.subarray(j * per, (j + 1) * per), i * per);
        labels[i] = ds.labels[j];
      }
    } else {
      images.set(ds.images.subarray(start * per, (start + size) * per));
      for (let i = 0; i < size; i++) labels[i] = ds.labels[start + i];
    }
    yield { images, labels, size };
  }
}

/** The number of batches `iterateBatches` yields with these options. */
export function batchCount(count: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/**
 * A seeded random split into two disjoint parts: `validation` gets
 * round(fraction × count) examples, `train` the rest. Both keep the original
 * relative order of their examples.
 */
export function splitDataset(ds: Dataset, fraction: number, rng: Rng): { train: Dataset; validation: Dataset } {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`splitDataset: fraction must be in [0, 1], got ${fraction}`);
  const nHeld = Math.round(fraction * ds.count);
  const perm = rng.permutation(ds.count);
  const held = perm.slice(0, nHeld).sort();
  const kept = perm.slice(nHeld).sort();
  const heldSplit: Split = ds.split === 'test' ? 'test' : 'validation';
  return { train: selectExamples(ds, kept), validation: selectExamples(ds, held, heldSplit) };
}

/**
 * `n` examples, as class-balanced as the data allows (each class gets
 * ⌊n / numClasses⌋ or one more; a class that runs short is topped up from the
 * others). With `rng` the examples of each class are drawn at random, without
 * it the first ones in order are taken. The result keeps the original order.
 */
export function subset(ds: Dataset, n: number, rng?: Rng): Dataset {
  if (!Number.isInteger(n) || n < 0) throw new Error(`subset: n must be a non-negative integer, got ${n}`);
  if (n > ds.count) throw new Error(`subset: asked for ${n} examples, ${ds.name}/${ds.split} has ${ds.count}`);
  return selectExamples(ds, balancedIndices(ds.labels, ds.numClasses, n, rng));
}

/**
 * Averages each `factor`×`factor` block of pixels (per channel): a 28×28
 * image becomes 14×14 at factor 2. Four times fewer pixels make every
 * convolution about four times cheaper, which is what lets the quick
 * profile train its runs to convergence on 2 cores. The height and width
 * must be multiples of the factor.
 */
export function downsample(ds: Dataset, factor: number): Dataset {
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`downsample: factor must be a positive integer, got ${factor}`);
  if (factor === 1) return ds;
  const [h, w, c] = ds.shape;
  if (h % factor || w % factor) throw new Error(`downsample: ${ds.name} images are ${h}×${w}, not multiples of the factor ${factor}`);
  const oh = h / factor;
  const ow = w / factor;
  const out = new Float32Array(ds.count * oh * ow * c);
  const scale = 1 / (factor * factor);
  for (let i = 0; i < ds.count; i++) {
    const src = i * h * w * c;
    const dst = i * oh * ow * c;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = dst + (Math.floor(y / factor) * ow + Math.floor(x / factor)) * c;
        const p = src + (y * w + x) * c;
        for (let k = 0; k < c; k++) out[o + k] += ds.images[p + k] * scale;
      }
    }
  }
  return { ...ds, images: out, shape: [oh, ow, c] };
}

/**
 * The indices `subset` takes, sorted ascending. Exposed so a script can pick
 * the same examples from raw label bytes without building a Dataset.
 */
export function balancedIndices(labels: ArrayLike<number>, numClasses: number, n: number, rng?: Rng): Int32Array {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!(label >= 0 && label < numClasses)) throw new Error(`balancedIndices: label ${label} at ${i} is outside 0..${numClasses - 1}`);
    byClass[label].push(i);
  }
  if (rng) {
    for (let k = 0; k < numClasses; k++) {
      const list = byClass[k];
      byClass[k] = Array.from(rng.permutation(list.length), (j) => list[j]);
    }
  }
  // Hand out quotas round-robin, so classes that run short leave their
  // share to the others and the total is exactly n.
  const quota = new Array<number>(numClasses).fill(0);
  let given = 0;
  while (given < n) {
    let progressed = false;
    for (let k = 0; k < numClasses && given < n; k++) {
      if (quota[k] < byClass[k].length) {
        quota[k]++;
        given++;
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  const picked = new Int32Array(given);
  let at = 0;
  for (let k = 0; k < numClasses; k++) {
    for (let i = 0; i < quota[k]; i++) picked[at++] = byClass[k][i];
  }
  return picked.sort();
}

/** Images per class, for checking balance. */
export function classCounts(ds: Pick<Dataset, 'labels' | 'numClasses'>): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.labels.length; i++) counts[ds.labels[i]]++;
  return counts;
}

export interface AugmentOptions {
  /** Zero-pad each side by this many pixels, then crop back at a random offset. 0 disables. Default 4. */
  padCrop?: number;
  /** Mirror left-right with probability 1/2. Default true. */
  flip?: boolean;
}

/**
 * The standard CIFAR augmentation: a random H×W crop of the image zero-padded
 * by `padCrop` on every side, then a random horizontal flip. Returns a new
 * batch; the input is untouched. Per image the generator is drawn for the
 * row offset, the column offset, then the flip, so a seed fixes the result.
 *
 * Pad with zeros before normalising (zero = black) or after (zero = the
 * channel mean); both are common, the choice is the caller's.
 */
export function augmentBatch(batch: Batch, shape: ImageShape, rng: Rng, opts: AugmentOptions = {}): Batch {
  const pad = opts.padCrop ?? 4;
  const flip = opts.flip ?? true;
  const [h, w, c] = shape;
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`augmentBatch: padCrop must be a non-negative integer, got ${pad}`);
  const per = h * w * c;
  if (batch.images.length !== batch.size * per) {
    throw new Error(`augmentBatch: batch has ${batch.images.length} values, expected ${batch.size} × ${shape.join('×')}`);
  }
  const src = batch.images;
  const out = new Float32Array(src.length); // zero-filled: the padding
  const rowLen = w * c;
  for (let n = 0; n < batch.size; n++) {
    // Output pixel (y, x) comes from input pixel (y + dy, x + dx).
    const dy = pad > 0 ? rng.int(2 * pad + 1) - pad : 0;
    const dx = pad > 0 ? rng.int(2 * pad + 1) - pad : 0;
    const mirror = flip && rng.next() < 0.5;
    const base = n * per;
    // Output columns whose source column lies inside the image.
    const x0 = Math.max(0, -dx);
    const x1 = Math.min(w, w - dx);
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= h || x0 >= x1) continue;
      const srcRow = base + sy * rowLen;
      const outRow = base + y * rowLen;
      if (!mirror) {
        out.set(src.subarray(srcRow + (x0 + dx) * c, srcRow + (x1 + dx) * c), outRow + x0 * c);
      } else {
        // Crop then mirror: output column x takes cropped column w-1-x.
        for (let x = x0; x < x1; x++) {
          const s = srcRow + (x + dx) * c;
          const o = outRow + (w - 1 - x) * c;
          for (let k = 0; k < c; k++) out[o + k] = src[s + k];
        }
      }
    }
  }
  return { images: out, labels: batch.labels.slice(), size: batch.size };
}

/**
 * The batch as tensors: x [size, H, W, C] float32 and y one-hot [size,
 * numClasses] float32. The caller disposes both. On the CPU backend x may
 * share memory with batch.images, so do not write into that array while x
 * is alive (nothing in this module does).
 */
export function toTensors(batch: Batch, shape: ImageShape, numClasses: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const oneHot = new Float32Array(batch.size * numClasses);
  for (let i = 0; i < batch.size; i++) {
    const label = batch.labels[i];
    if (!(label >= 0 && label < numClasses)) throw new Error(`toTensors: label ${label} at ${i} is outside 0..${numClasses - 1}`);
    oneHot[i * numClasses + label] = 1;
  }
  const x = tf.tensor4d(batch.images, [batch.size, shape[0], shape[1], shape[2]], 'float32');
  const y = tf.tensor2d(oneHot, [batch.size, numClasses], 'float32');
  return { x, y };
}

/** The options every loader shares, checked with the loader's name in the message. */
export function checkLoadOptions(loader: string, split: unknown, limit: number | undefined): void {
  if (split !== 'train' && split !== 'test') throw new Error(`${loader}: split must be 'train' or 'test', got ${String(split)}`);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    throw new Error(`${loader}: limit must be a non-negative integer, got ${limit}`);
  }
}
