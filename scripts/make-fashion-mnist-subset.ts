#!/usr/bin/env node
// Makes the compact Fashion-MNIST subset shipped in data/fashion-mnist from
// the full set of the Debian package dataset-fashion-mnist: 10,000 train and
// 2,000 test images, class-balanced, chosen with a fixed seed, written in the
// original IDX format, gzipped, under the original file names. It was run
// once; it is kept so that the subset can be checked and remade.
//
// Usage: node --import tsx scripts/make-fashion-mnist-subset.ts [sourceDir] [outDir]
//   sourceDir  default /usr/share/datasets/fashion-mnist
//   outDir     default data/fashion-mnist
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { balancedIndices } from '../lib/src/data/dataset';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_FILES, FASHION_MNIST_SYSTEM_DIR } from '../lib/src/data/fashion-mnist';
import { encodeIdx, readIdxPair } from '../lib/src/data/idx';
import { Rng } from '../lib/src/util/rng';

const SEED = 20181203; // the first day of NeurIPS 2018
const SIZES = { train: 10_000, test: 2_000 } as const;

const root = path.resolve(__dirname, '..');
const sourceDir = path.resolve(process.argv[2] ?? FASHION_MNIST_SYSTEM_DIR);
const outDir = path.resolve(process.argv[3] ?? path.join(root, 'data', 'fashion-mnist'));

function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

function writeGz(file: string, raw: Buffer): void {
  // gzipSync writes mtime 0, so the same input gives the same bytes.
  const gz = zlib.gzipSync(raw, { level: 9 });
  const tmp = file + '.part';
  fs.writeFileSync(tmp, gz);
  fs.renameSync(tmp, file);
  console.log(`${path.relative(root, file)}  ${gz.length} bytes  md5 ${md5(gz)}`);
}

if (!fs.existsSync(sourceDir)) {
  console.error(`${sourceDir} not found: run \`npm run data -- fashion-mnist\` (installs dataset-fashion-mnist) first.`);
  process.exit(1);
}
fs.mkdirSync(outDir, { recursive: true });
const rng = new Rng(SEED);
for (const split of ['train', 'test'] as const) {
  const files = FASHION_MNIST_FILES[split];
  const imagesFile = path.join(sourceDir, files.images);
  const labelsFile = path.join(sourceDir, files.labels);
  console.log(`${imagesFile}  md5 ${md5(fs.readFileSync(imagesFile))}`);
  console.log(`${labelsFile}  md5 ${md5(fs.readFileSync(labelsFile))}`);
  const { images, labels } = readIdxPair(imagesFile, labelsFile, FASHION_MNIST_CLASSES.length);
  // One stream per split, so the test pick does not depend on the train one.
  const picked = balancedIndices(labels, FASHION_MNIST_CLASSES.length, SIZES[split], rng.fork(split === 'train' ? 1 : 2));
  const per = images.rows * images.cols;
  const pixels = new Uint8Array(picked.length * per);
  const pickedLabels = new Uint8Array(picked.length);
  picked.forEach((j, i) => {
    pixels.set(images.pixels.subarray(j * per, (j + 1) * per), i * per);
    pickedLabels[i] = labels[j];
  });
  writeGz(path.join(outDir, files.images), encodeIdx([picked.length, images.rows, images.cols], pixels));
  writeGz(path.join(outDir, files.labels), encodeIdx([picked.length], pickedLabels));
}
