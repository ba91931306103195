// Fixture writers shared by the data tests: small files in the real IDX and
// CIFAR-10 binary formats, in a fresh temporary directory per test file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Dataset } from '../../lib/src/data/dataset';

/** A new empty directory under the OS temp dir; removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bnlab-${prefix}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The IDX bytes for a uint8 tensor, built by hand (independently of lib's encodeIdx). */
export function idxBytes(dims: number[], data: ArrayLike<number>, magic?: number): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic ?? (0x0800 | dims.length), 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Array.from(data))]);
}

export function writeIdx(file: string, dims: number[], data: ArrayLike<number>, opts: { gzip?: boolean; magic?: number } = {}): string {
  const raw = idxBytes(dims, data, opts.magic);
  fs.writeFileSync(file, opts.gzip ? zlib.gzipSync(raw) : raw);
  return file;
}

/**
 * One CIFAR-10 record whose pixel (y, x) of channel c holds
 * (label*7 + c*50 + y*3 + x) mod 256, so every value is predictable.
 */
export function cifarRecord(label: number): Buffer {
  const rec = Buffer.alloc(3073);
  rec[0] = label;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) rec[1 + c * 1024 + y * 32 + x] = cifarPixel(label, c, y, x);
    }
  }
  return rec;
}

export function cifarPixel(label: number, c: number, y: number, x: number): number {
  return (label * 7 + c * 50 + y * 3 + x) % 256;
}

/** Writes a complete small CIFAR-10 folder: `perFile` records in each of the six files. */
export function writeCifarDir(dir: string, perFile: number, meta = true): void {
  fs.mkdirSync(dir, { recursive: true });
  const names = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
  names.forEach((name, f) => {
    const recs = Array.from({ length: perFile }, (_, r) => cifarRecord((f * perFile + r) % 10));
    fs.writeFileSync(path.join(dir, name), Buffer.concat(recs));
  });
  if (meta) {
    fs.writeFileSync(path.join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
  }
}

/**
 * A tiny dataset whose example i has label i % numClasses and every value
 * equal to i + the channel/100, so positions in a batch can be traced back.
 */
export function tinyDataset(count: number, shape: [number, number, number] = [2, 2, 1], numClasses = 3): Dataset {
  const per = shape[0] * shape[1] * shape[2];
  const images = new Float32Array(count * per);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < per; p++) images[i * per + p] = i + (p % shape[2]) / 100;
  }
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = i % numClasses;
  return {
    name: 'tiny',
    split: 'train',
    images,
    labels,
    count,
    shape,
    numClasses,
    classNames: Array.from({ length: numClasses }, (_, k) => `class${k}`),
  };
}

/** The example index an image of `tinyDataset` came from. */
export function tinyIndexOf(images: Float32Array, i: number, per: number): number {
  return Math.round(images[i * per]);
}
