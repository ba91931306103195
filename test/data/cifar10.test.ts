import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CIFAR10_CLASSES, cifar10Complete, loadCifar10 } from '../../lib/src/data/cifar10';
import { cifarPixel, cifarRecord, tempDir, writeCifarDir } from './helpers';

const { dir: tmp, cleanup } = tempDir('cifar');
after(cleanup);

function throwsNaming(fn: () => unknown, name: string, what: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.ok(err.message.includes(name), `message names ${name}: ${err.message}`);
    assert.match(err.message, what);
    return true;
  });
}

describe('loadCifar10', () => {
  const dir = path.join(tmp, 'ok');
  writeCifarDir(dir, 3);

  it('reads all five train files and converts planar RGB to NHWC in [0, 1]', () => {
    const ds = loadCifar10({ split: 'train', dir });
    assert.equal(ds.count, 15);
    assert.deepEqual(ds.shape, [32, 32, 3]);
    assert.equal(ds.images.length, 15 * 3072);
    assert.equal(ds.numClasses, 10);
    assert.deepEqual(ds.classNames, CIFAR10_CLASSES);
    assert.deepEqual(Array.from(ds.labels), Array.from({ length: 15 }, (_, i) => i % 10));
    for (const n of [0, 7, 14]) {
      const label = ds.labels[n];
      for (const [y, x] of [[0, 0], [0, 1], [5, 31], [31, 0], [31, 31]]) {
        for (let c = 0; c < 3; c++) {
          const got = ds.images[n * 3072 + (y * 32 + x) * 3 + c];
          assert.equal(got, Math.fround(cifarPixel(label, c, y, x) / 255), `image ${n} (${y}, ${x}) channel ${c}`);
        }
      }
    }
    // The first pixel of image 0 holds R, G, B side by side.
    assert.deepEqual(Array.from(ds.images.subarray(0, 3)), [0, 50, 100].map((v) => Math.fround(v / 255)));
  });

  it('reads the test file and honours limit across files', () => {
    const test = loadCifar10({ split: 'test', dir });
    assert.equal(test.count, 3);
    assert.equal(test.split, 'test');
    assert.deepEqual(Array.from(test.labels), [15 % 10, 16 % 10, 17 % 10]);
    const limited = loadCifar10({ split: 'train', dir, limit: 4 });
    assert.equal(limited.count, 4);
    assert.equal(limited.images.length, 4 * 3072);
    assert.deepEqual(Array.from(limited.labels), [0, 1, 2, 3]);
  });

  it('takes class names from batches.meta.txt', () => {
    const other = path.join(tmp, 'renamed');
    writeCifarDir(other, 1);
    fs.writeFileSync(path.join(other, 'batches.meta.txt'), CIFAR10_CLASSES.map((n) => n.toUpperCase()).join('\n'));
    assert.equal(loadCifar10({ split: 'test', dir: other }).classNames[9], 'TRUCK');
    fs.writeFileSync(path.join(other, 'batches.meta.txt'), 'cat\ndog\n');
    throwsNaming(() => loadCifar10({ split: 'test', dir: other }), path.join(other, 'batches.meta.txt'), /2 class names/);
  });

  it('tells the user to download a missing directory or file', () => {
    const missing = path.join(tmp, 'nowhere');
    throwsNaming(() => loadCifar10({ split: 'train', dir: missing }), missing, /npm run data -- cifar10/);
    const partial = path.join(tmp, 'partial');
    writeCifarDir(partial, 1);
    fs.rmSync(path.join(partial, 'data_batch_4.bin'));
    throwsNaming(() => loadCifar10({ split: 'train', dir: partial }), path.join(partial, 'data_batch_4.bin'), /not found.*npm run data -- cifar10/);
  });

  it('rejects a file whose size is not a multiple of 3073 bytes', () => {
    const bad = path.join(tmp, 'truncated');
    writeCifarDir(bad, 2);
    const file = path.join(bad, 'test_batch.bin');
    fs.writeFileSync(file, Buffer.concat([cifarRecord(1), cifarRecord(2).subarray(0, 1000)]));
    throwsNaming(() => loadCifar10({ split: 'test', dir: bad }), file, /size 4073 bytes is not a positive multiple of the 3073-byte record/);
    fs.writeFileSync(file, Buffer.alloc(0));
    throwsNaming(() => loadCifar10({ split: 'test', dir: bad }), file, /size 0 bytes/);
  });

  it('rejects a label above 9', () => {
    const bad = path.join(tmp, 'badlabel');
    writeCifarDir(bad, 2);
    const file = path.join(bad, 'data_batch_2.bin');
    fs.writeFileSync(file, Buffer.concat([cifarRecord(3), cifarRecord(10)]));
    throwsNaming(() => loadCifar10({ split: 'train', dir: bad }), file, /label 10 in record 1 is out of range/);
  });
});

describe('cifar10Complete', () => {
  it('checks every file, its size and the meta file', () => {
    const d = path.join(tmp, 'complete');
    writeCifarDir(d, 2);
    assert.equal(cifar10Complete(d, false), true);
    assert.equal(cifar10Complete(d, true), false, 'not the official 10,000 records');
    fs.rmSync(path.join(d, 'batches.meta.txt'));
    assert.equal(cifar10Complete(d, false), false);
    assert.equal(cifar10Complete(path.join(tmp, 'nowhere'), false), false);
  });
});
