import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { classCounts } from '../../lib/src/data/dataset';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_FILES, FASHION_MNIST_SYSTEM_DIR, loadFashionMnist } from '../../lib/src/data/fashion-mnist';
import { readIdxPair } from '../../lib/src/data/idx';
import { dataDir } from '../../lib/src/data/paths';
import { tempDir, writeIdx } from './helpers';

const repoData = path.resolve(__dirname, '..', '..', 'data');
const { dir: tmp, cleanup } = tempDir('fmnist');
after(cleanup);

describe('loadFashionMnist on fixture files', () => {
  // Raw (not gzipped) files under the original names without .gz.
  const dir = path.join(tmp, 'raw');
  fs.mkdirSync(dir);
  const pixels = Array.from({ length: 3 * 28 * 28 }, (_, i) => i % 256);
  writeIdx(path.join(dir, 't10k-images-idx3-ubyte'), [3, 28, 28], pixels);
  writeIdx(path.join(dir, 't10k-labels-idx1-ubyte'), [3], [9, 0, 4]);

  it('reads raw files, scales to [0, 1] and keeps the 28×28×1 layout', () => {
    const ds = loadFashionMnist({ split: 'test', dir });
    assert.equal(ds.name, 'fashion-mnist');
    assert.equal(ds.count, 3);
    assert.deepEqual(ds.shape, [28, 28, 1]);
    assert.deepEqual(Array.from(ds.labels), [9, 0, 4]);
    assert.equal(ds.classNames[9], 'Ankle boot');
    assert.equal(ds.images[0], 0);
    assert.equal(ds.images[255], 1);
    assert.equal(ds.images[784 + 5], Math.fround(((784 + 5) % 256) / 255));
    assert.equal(loadFashionMnist({ split: 'test', dir, limit: 2 }).count, 2);
  });

  it('names the missing file', () => {
    const expected = path.join(dir, FASHION_MNIST_FILES.train.images);
    assert.throws(() => loadFashionMnist({ split: 'train', dir }), (err: Error) => err.message.includes(expected) && /not found/.test(err.message));
    assert.throws(() => loadFashionMnist({ split: 'train', dir: path.join(tmp, 'nowhere') }), /nowhere not found.*npm run data -- fashion-mnist/);
  });
});

describe('data directory', () => {
  it('finds the repository data/ folder, or BNLAB_DATA_DIR', () => {
    const saved = process.env.BNLAB_DATA_DIR;
    try {
      delete process.env.BNLAB_DATA_DIR;
      assert.equal(dataDir(), repoData);
      process.env.BNLAB_DATA_DIR = tmp;
      assert.equal(dataDir(), tmp);
      assert.throws(() => loadFashionMnist({ split: 'train' }), (err: Error) => err.message.includes(tmp));
    } finally {
      if (saved === undefined) delete process.env.BNLAB_DATA_DIR;
      else process.env.BNLAB_DATA_DIR = saved;
    }
  });
});

describe('the shipped subset', () => {
  for (const [split, count] of [['train', 10_000], ['test', 2_000]] as const) {
    it(`has ${count} ${split} images, balanced over 10 classes, in [0, 1]`, () => {
      const ds = loadFashionMnist({ split });
      assert.equal(ds.count, count);
      assert.equal(ds.numClasses, 10);
      assert.deepEqual(ds.classNames, FASHION_MNIST_CLASSES);
      assert.equal(ds.images.length, count * 784);
      const counts = classCounts(ds);
      for (const c of counts) assert.ok(Math.abs(c - count / 10) <= count / 100, `class counts ${counts}`);
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < ds.images.length; i++) {
        const v = ds.images[i];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      assert.equal(min, 0);
      assert.equal(max, 1);
    });
  }
});

const systemReason = fs.existsSync(FASHION_MNIST_SYSTEM_DIR)
  ? false
  : `${FASHION_MNIST_SYSTEM_DIR} is absent (install the Debian package with \`npm run data -- fashion-mnist\`)`;

describe('the full set from the Debian package', { skip: systemReason }, () => {
  it('has 60,000 train and 10,000 test images', () => {
    for (const [split, count] of [['train', 60_000], ['test', 10_000]] as const) {
      const files = FASHION_MNIST_FILES[split];
      const { images, labels } = readIdxPair(path.join(FASHION_MNIST_SYSTEM_DIR, files.images), path.join(FASHION_MNIST_SYSTEM_DIR, files.labels), 10);
      assert.equal(images.count, count);
      assert.equal(labels.length, count);
      assert.deepEqual([images.rows, images.cols], [28, 28]);
    }
    const ds = loadFashionMnist({ split: 'test', dir: 'system', limit: 100 });
    assert.equal(ds.count, 100);
  });
});
