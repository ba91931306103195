/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28×28 grey images of 10
 * kinds of Zalando articles, 60,000 train and 10,000 test, in IDX format.
 *
 * By default the compact class-balanced subset shipped in data/fashion-mnist
 * (10,000 train, 2,000 test) is read, so notebooks run on a fresh clone; the
 * full set comes from the Debian package dataset-fashion-mnist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkLoadOptions } from './dataset';
import type { Dataset } from './dataset';
import { readIdxPair } from './idx';
import { dataDir } from './paths';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Where the Debian package dataset-fashion-mnist installs the full set. */
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';

/** The file names of the original distribution (each also read without .gz). */
export const FASHION_MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
} as const;

export interface FashionMnistOptions {
  split: 'train' | 'test';
  /**
   * Omitted: the shipped subset in data/fashion-mnist. 'system': the full
   * set from /usr/share/datasets/fashion-mnist. Otherwise a directory with
   * the four original files (gzipped or not).
   */
  dir?: string;
  /** Keep only the first `limit` examples, in file order. */
  limit?: number;
}

/** The directory `loadFashionMnist` reads for this `dir` option. */
export function fashionMnistDir(dir?: string): string {
  if (dir === undefined) return path.join(dataDir(), 'fashion-mnist');
  if (dir === 'system') return FASHION_MNIST_SYSTEM_DIR;
  return path.resolve(dir);
}

/** `name` in `dir`, preferring the .gz file and falling back to the raw one. */
function locate(dir: string, gzName: string, hint: string): string {
  const gz = path.join(dir, gzName);
  if (fs.existsSync(gz)) return gz;
  const raw = path.join(dir, gzName.replace(/\.gz$/, ''));
  if (fs.existsSync(raw)) return raw;
  throw new Error(`${gz}: file not found (nor ${path.basename(raw)}). ${hint}`);
}

export function loadFashionMnist(opts: FashionMnistOptions): Dataset {
  const { split, limit } = opts;
  checkLoadOptions('loadFashionMnist', split, limit);
  const dir = fashionMnistDir(opts.dir);
  const hint =
    opts.dir === undefined
      ? 'The subset ships with the repository; set BNLAB_DATA_DIR if data/ lives elsewhere.'
      : 'For the full set run `npm run data -- fashion-mnist` (installs the Debian package dataset-fashion-mnist).';
  if (!fs.existsSync(dir)) throw new Error(`Fashion-MNIST directory ${dir} not found. ${hint}`);
  const files = FASHION_MNIST_FILES[split];
  const imagesFile = locate(dir, files.images, hint);
  const labelsFile = locate(dir, files.labels, hint);
  const numClasses = FASHION_MNIST_CLASSES.length;
  const { images, labels } = readIdxPair(imagesFile, labelsFile, numClasses);
  if (images.rows !== 28 || images.cols !== 28) {
    throw new Error(`${imagesFile}: images are ${images.rows}×${images.cols}, Fashion-MNIST's are 28×28`);
  }
  const count = limit === undefined ? images.count : Math.min(limit, images.count);
  const per = images.rows * images.cols;
  const pixels = new Float32Array(count * per);
  const src = images.pixels;
  for (let i = 0; i < pixels.length; i++) pixels[i] = src[i] / 255;
  return {
    name: 'fashion-mnist',
    split,
    images: pixels,
    labels: labels.slice(0, count),
    count,
    shape: [images.rows, images.cols, 1],
    numClasses,
    classNames: FASHION_MNIST_CLASSES,
  };
}
