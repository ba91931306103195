import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { encodeIdx, parseIdx, readIdx, readIdxImages, readIdxLabels, readIdxPair } from '../../lib/src/data/idx';
import { idxBytes, tempDir, writeIdx } from './helpers';

const { dir, cleanup } = tempDir('idx');
after(cleanup);

const pixels = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 11) % 256);
const labelValues = [7, 0];

/** Asserts that fn throws an Error whose message names `file` and matches `what`. */
function throwsNaming(fn: () => unknown, file: string, what: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error, 'an Error');
    assert.ok(err.message.includes(file), `message names ${file}: ${err.message}`);
    assert.match(err.message, what);
    return true;
  });
}

describe('idx reader', () => {
  for (const gzip of [false, true]) {
    it(`reads ${gzip ? 'gzipped' : 'raw'} images and labels with exact values`, () => {
      const ext = gzip ? '.gz' : '';
      const imagesFile = writeIdx(path.join(dir, `ok-images${ext}`), [2, 3, 4], pixels, { gzip });
      const labelsFile = writeIdx(path.join(dir, `ok-labels${ext}`), [2], labelValues, { gzip });
      const { images, labels } = readIdxPair(imagesFile, labelsFile, 10);
      assert.equal(images.count, 2);
      assert.equal(images.rows, 3);
      assert.equal(images.cols, 4);
      assert.deepEqual(Array.from(images.pixels), pixels);
      assert.deepEqual(Array.from(labels), labelValues);
    });
  }

  it('detects gzip by its magic bytes, not the file name', () => {
    const file = path.join(dir, 'gz-without-extension');
    fs.writeFileSync(file, zlib.gzipSync(idxBytes([2], labelValues)));
    assert.deepEqual(Array.from(readIdxLabels(file, 10)), labelValues);
  });

  it('encodeIdx writes what the reader reads back', () => {
    const bytes = encodeIdx([2, 3, 4], Uint8Array.from(pixels));
    assert.deepEqual(bytes, idxBytes([2, 3, 4], pixels));
    const t = parseIdx(bytes, 'mem');
    assert.deepEqual(t.dims, [2, 3, 4]);
    assert.deepEqual(Array.from(t.data), pixels);
  });

  it('reports a missing file', () => {
    const file = path.join(dir, 'does-not-exist.gz');
    throwsNaming(() => readIdx(file), file, /not found/);
  });

  it('reports a wrong magic number', () => {
    const garbage = path.join(dir, 'garbage');
    fs.writeFileSync(garbage, Buffer.from('this is not an idx file'));
    throwsNaming(() => readIdxImages(garbage), garbage, /wrong magic number 0x74686973/);

    // A valid labels file is not an images file, and vice versa.
    const labelsFile = writeIdx(path.join(dir, 'labels-as-images'), [2], labelValues);
    throwsNaming(() => readIdxImages(labelsFile), labelsFile, /wrong magic number 0x00000801 for images/);
    const imagesFile = writeIdx(path.join(dir, 'images-as-labels.gz'), [2, 3, 4], pixels, { gzip: true });
    throwsNaming(() => readIdxLabels(imagesFile, 10), imagesFile, /wrong magic number 0x00000803 for labels/);

    const floats = writeIdx(path.join(dir, 'float-type'), [2], labelValues, { magic: 0x00000d01 });
    throwsNaming(() => readIdxLabels(floats, 10), floats, /data type 0xd is not supported/);
  });

  for (const gzip of [false, true]) {
    it(`reports a truncated ${gzip ? 'gzipped' : 'raw'} file (dims larger than the data)`, () => {
      const full = idxBytes([2, 3, 4], pixels);
      const cut = full.subarray(0, full.length - 5);
      const file = path.join(dir, `truncated${gzip ? '.gz' : ''}`);
      fs.writeFileSync(file, gzip ? zlib.gzipSync(cut) : cut);
      throwsNaming(() => readIdxImages(file), file, /truncated: dimensions 2×3×4 need 40 bytes, the file has 35/);
    });
  }

  it('reports a truncated header and trailing bytes', () => {
    const short = path.join(dir, 'short-header');
    fs.writeFileSync(short, idxBytes([2, 3, 4], []).subarray(0, 10));
    throwsNaming(() => readIdxImages(short), short, /truncated IDX header/);
    const long = path.join(dir, 'trailing');
    fs.writeFileSync(long, Buffer.concat([idxBytes([2], labelValues), Buffer.from([1, 2, 3])]));
    throwsNaming(() => readIdxLabels(long, 10), long, /3 unexpected bytes/);
  });

  it('reports corrupt gzip data', () => {
    const gz = zlib.gzipSync(idxBytes([2, 3, 4], pixels));
    const corrupt = path.join(dir, 'corrupt.gz');
    const bad = Buffer.from(gz);
    for (let i = 12; i < bad.length - 8; i++) bad[i] ^= 0x5a;
    fs.writeFileSync(corrupt, bad);
    throwsNaming(() => readIdxImages(corrupt), corrupt, /corrupt gzip/);
    // A download cut short: the gzip stream ends early.
    const cut = path.join(dir, 'cut.gz');
    fs.writeFileSync(cut, gz.subarray(0, gz.length - 12));
    throwsNaming(() => readIdxImages(cut), cut, /corrupt gzip/);
  });

  it('reports images and labels counts that differ', () => {
    const imagesFile = writeIdx(path.join(dir, 'two-images'), [2, 3, 4], pixels);
    const labelsFile = writeIdx(path.join(dir, 'three-labels'), [3], [1, 2, 3]);
    assert.throws(() => readIdxPair(imagesFile, labelsFile, 10), (err: Error) => {
      assert.ok(err.message.includes(imagesFile) && err.message.includes(labelsFile), err.message);
      assert.match(err.message, /2 images but .* 3 labels/);
      return true;
    });
  });

  it('reports a label out of range', () => {
    const file = writeIdx(path.join(dir, 'bad-label.gz'), [3], [1, 10, 2], { gzip: true });
    throwsNaming(() => readIdxLabels(file, 10), file, /label 10 at index 1 is out of range/);
    assert.deepEqual(Array.from(readIdxLabels(file, 11)), [1, 10, 2]);
  });
});
