/**
 * CIFAR-10 (Krizhevsky 2009) in its official binary format
 * (https://www.cs.toronto.edu/~kriz/cifar.html): data_batch_1..5.bin for
 * training and test_batch.bin, 10,000 records each. A record is one label
 * byte then 3072 pixel bytes, channel-planar: 1024 red, 1024 green, 1024
 * blue, each 32×32 row-major. batches.meta.txt lists the class names.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkLoadOptions } from './dataset';
import type { Dataset } from './dataset';
import { dataDir } from './paths';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

export const CIFAR10_SIDE = 32;
export const CIFAR10_PIXELS = CIFAR10_SIDE * CIFAR10_SIDE; // per channel
export const CIFAR10_RECORD_BYTES = 1 + 3 * CIFAR10_PIXELS; // 3073
/** The folder the official tarball extracts to. */
export const CIFAR10_DIR_NAME = 'cifar-10-batches-bin';

export const CIFAR10_FILES = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
} as const;

const HOW_TO_GET = 'Run `npm run data -- cifar10` to download it.';

export interface Cifar10Options {
  split: 'train' | 'test';
  /** Directory with the .bin files; default data/cifar-10-batches-bin. */
  dir?: string;
  /** Keep only the first `limit` examples, in file order (later files are not read). */
  limit?: number;
}

export function cifar10Dir(dir?: string): string {
  return dir === undefined ? path.join(dataDir(), CIFAR10_DIR_NAME) : path.resolve(dir);
}

/**
 * Class names from batches.meta.txt (one per line, blank lines ignored);
 * the official names when the file is absent.
 */
export function readCifar10ClassNames(dir: string): readonly string[] {
  const file = path.join(dir, 'batches.meta.txt');
  if (!fs.existsSync(file)) return CIFAR10_CLASSES;
  const names = fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== CIFAR10_CLASSES.length) {
    throw new Error(`${file}: lists ${names.length} class names, CIFAR-10 has ${CIFAR10_CLASSES.length}`);
  }
  return names;
}

/** Reads one .bin file's bytes and checks its size. */
function readBatchFile(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${file}: file not found. ${HOW_TO_GET}`);
    throw new Error(`${file}: cannot read (${(err as Error).message})`);
  }
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new Error(
      `${file}: size ${bytes.length} bytes is not a positive multiple of the ${CIFAR10_RECORD_BYTES}-byte record (truncated or not a CIFAR-10 batch)`,
    );
  }
  return bytes;
}

/**
 * Decodes `count` records of `bytes` into `images` (NHWC, /255) and `labels`
 * from example `offset` on. Planar R,G,B → interleaved RGB per pixel.
 */
function decodeRecords(bytes: Uint8Array, count: number, images: Float32Array, labels: Uint8Array, offset: number, file: string): void {
  const per = 3 * CIFAR10_PIXELS;
  const inv = 1 / 255;
  for (let r = 0; r < count; r++) {
    const rec = r * CIFAR10_RECORD_BYTES;
    const label = bytes[rec];
    if (label >= CIFAR10_CLASSES.length) {
      throw new Error(`${file}: label ${label} in record ${r} is out of range (0..${CIFAR10_CLASSES.length - 1})`);
    }
    labels[offset + r] = label;
    const red = rec + 1;
    const green = red + CIFAR10_PIXELS;
    const blue = green + CIFAR10_PIXELS;
    let o = (offset + r) * per;
    for (let p = 0; p < CIFAR10_PIXELS; p++) {
      images[o++] = bytes[red + p] * inv;
      images[o++] = bytes[green + p] * inv;
      images[o++] = bytes[blue + p] * inv;
    }
  }
}

export function loadCifar10(opts: Cifar10Options): Dataset {
  const { split, limit } = opts;
  checkLoadOptions('loadCifar10', split, limit);
  const dir = cifar10Dir(opts.dir);
  if (!fs.existsSync(dir)) throw new Error(`CIFAR-10 directory ${dir} not found. ${HOW_TO_GET}`);
  const files = CIFAR10_FILES[split].map((f) => path.join(dir, f));
  // Every file is checked to exist up front, so a missing one is reported
  // before minutes of decoding.
  for (const f of files) {
    if (!fs.existsSync(f)) throw new Error(`${f}: file not found. ${HOW_TO_GET}`);
  }
  const classNames = readCifar10ClassNames(dir);

  const chunks: { file: string; bytes: Buffer; count: number }[] = [];
  let total = 0;
  for (const file of files) {
    if (limit !== undefined && total >= limit) break;
    const bytes = readBatchFile(file);
    let count = bytes.length / CIFAR10_RECORD_BYTES;
    if (limit !== undefined) count = Math.min(count, limit - total);
    chunks.push({ file, bytes, count });
    total += count;
  }
  const images = new Float32Array(total * 3 * CIFAR10_PIXELS);
  const labels = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    decodeRecords(c.bytes, c.count, images, labels, offset, c.file);
    offset += c.count;
  }
  return {
    name: 'cifar10',
    split,
    images,
    labels,
    count: total,
    shape: [CIFAR10_SIDE, CIFAR10_SIDE, 3],
    numClasses: CIFAR10_CLASSES.length,
    classNames,
  };
}

/**
 * Whether `dir` holds a complete CIFAR-10: every .bin file with a whole
 * number of records, and batches.meta.txt. With `exact`, each file must also
 * have the official 10,000 records.
 */
export function cifar10Complete(dir: string, exact = true): boolean {
  const all = [...CIFAR10_FILES.train, ...CIFAR10_FILES.test];
  for (const name of all) {
    let size: number;
    try {
      size = fs.statSync(path.join(dir, name)).size;
    } catch {
      return false;
    }
    if (exact ? size !== 10000 * CIFAR10_RECORD_BYTES : size === 0 || size % CIFAR10_RECORD_BYTES !== 0) return false;
  }
  return fs.existsSync(path.join(dir, 'batches.meta.txt'));
}
