import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  augmentBatch,
  batchCount,
  channelStats,
  checkDataset,
  classCounts,
  iterateBatches,
  normalize,
  shuffle,
  splitDataset,
  subset,
  toTensors,
  type Batch,
  type Dataset,
} from '../../lib/src/data/dataset';
import { Rng } from '../../lib/src/util/rng';
import { tinyDataset, tinyIndexOf } from './helpers';

const order = (ds: Dataset) => Array.from({ length: ds.count }, (_, i) => tinyIndexOf(ds.images, i, ds.images.length / ds.count));

describe('channelStats and normalize', () => {
  // Two channels: channel 0 takes 1, 3 (mean 2, std 1); channel 1 takes 10, 10, 10, 30 (mean 15, std √75).
  const ds: Dataset = {
    ...tinyDataset(2, [1, 2, 2]),
    images: Float32Array.from([1, 10, 1, 10, 3, 10, 3, 30]),
  };

  it('computes per-channel mean and population std', () => {
    checkDataset(ds);
    const s = channelStats(ds);
    assert.deepEqual(Array.from(s.mean), [2, 15]);
    assert.ok(Math.abs(s.std[0] - 1) < 1e-6);
    assert.ok(Math.abs(s.std[1] - Math.sqrt(75)) < 1e-5);
  });

  it('normalises to zero mean and unit std per channel, into a new array', () => {
    const before = ds.images.slice();
    const n = normalize(ds, channelStats(ds));
    assert.notEqual(n.images, ds.images);
    assert.deepEqual(ds.images, before, 'input untouched');
    const s = channelStats(n);
    for (let k = 0; k < 2; k++) {
      assert.ok(Math.abs(s.mean[k]) < 1e-6);
      assert.ok(Math.abs(s.std[k] - 1) < 1e-5);
    }
    assert.ok(Math.abs(n.images[0] - -1) < 1e-6);
  });

  it('only centres a constant channel', () => {
    const flat: Dataset = { ...tinyDataset(2, [1, 1, 1]), images: Float32Array.from([0.5, 0.5]) };
    const n = normalize(flat, channelStats(flat));
    assert.deepEqual(Array.from(n.images), [0, 0]);
  });

  it('rejects stats with the wrong number of channels', () => {
    assert.throws(() => normalize(ds, { mean: new Float32Array(3), std: new Float32Array(3) }), /3 channels/);
  });
});

describe('shuffle', () => {
  const ds = tinyDataset(50);

  it('is a permutation that repeats for the same seed and differs for another', () => {
    const a = order(shuffle(ds, new Rng(1)));
    const b = order(shuffle(ds, new Rng(1)));
    const c = order(shuffle(ds, new Rng(2)));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.deepEqual([...a].sort((x, y) => x - y), order(ds));
  });

  it('keeps each image with its label', () => {
    const s = shuffle(ds, new Rng(3));
    for (let i = 0; i < s.count; i++) assert.equal(s.labels[i], order(s)[i] % 3);
  });
});

describe('iterateBatches', () => {
  const ds = tinyDataset(10);
  const per = 4;

  it('yields full batches then the remainder, in order without an rng', () => {
    const batches = [...iterateBatches(ds, { batchSize: 4 })];
    assert.deepEqual(batches.map((b) => b.size), [4, 4, 2]);
    assert.equal(batchCount(10, 4), 3);
    const seen = batches.flatMap((b) => Array.from({ length: b.size }, (_, i) => tinyIndexOf(b.images, i, per)));
    assert.deepEqual(seen, order(ds));
    assert.deepEqual(Array.from(batches[2].labels), [8 % 3, 9 % 3]);
    assert.ok(batches[0].labels instanceof Int32Array);
    assert.equal(batches[0].images.length, 4 * per);
  });

  it('drops the short last batch with dropLast', () => {
    const batches = [...iterateBatches(ds, { batchSize: 4, dropLast: true })];
    assert.deepEqual(batches.map((b) => b.size), [4, 4]);
    assert.equal(batchCount(10, 4, true), 2);
    assert.equal([...iterateBatches(ds, { batchSize: 5, dropLast: true })].length, 2);
  });

  it('shows every example exactly once per epoch, in a seeded order', () => {
    const epoch = (seed: number) =>
      [...iterateBatches(ds, { batchSize: 3, rng: new Rng(seed) })].flatMap((b) =>
        Array.from({ length: b.size }, (_, i) => {
          const idx = tinyIndexOf(b.images, i, per);
          assert.equal(b.labels[i], idx % 3, 'label travels with its image');
          return idx;
        }),
      );
    const a = epoch(7);
    assert.deepEqual([...a].sort((x, y) => x - y), order(ds));
    assert.deepEqual(epoch(7), a);
    assert.notDeepEqual(epoch(8), a);
  });

  it('gives each batch its own arrays, never views of the dataset', () => {
    const batches = [...iterateBatches(ds, { batchSize: 4 })];
    batches[0].images.fill(-1);
    assert.equal(ds.images[0], 0);
    assert.notEqual(batches[0].images.buffer, batches[1].images.buffer);
    assert.notEqual(batches[0].images.buffer, ds.images.buffer);
  });

  it('rejects a bad batch size', () => {
    assert.throws(() => [...iterateBatches(ds, { batchSize: 0 })], /batchSize/);
  });
});

describe('splitDataset', () => {
  const ds = tinyDataset(20);

  it('gives disjoint parts of the right sizes that cover the dataset', () => {
    const { train, validation } = splitDataset(ds, 0.25, new Rng(4));
    assert.equal(validation.count, 5);
    assert.equal(train.count, 15);
    assert.equal(validation.split, 'validation');
    checkDataset(train);
    checkDataset(validation);
    const a = order(train);
    const b = order(validation);
    assert.equal(new Set([...a, ...b]).size, 20);
    assert.deepEqual([...a, ...b].sort((x, y) => x - y), order(ds));
    const again = splitDataset(ds, 0.25, new Rng(4));
    assert.deepEqual(order(again.validation), b);
    assert.notDeepEqual(order(splitDataset(ds, 0.25, new Rng(5)).validation), b);
  });

  it('handles the ends of the range', () => {
    assert.equal(splitDataset(ds, 0, new Rng(1)).validation.count, 0);
    assert.equal(splitDataset(ds, 1, new Rng(1)).train.count, 0);
    assert.throws(() => splitDataset(ds, 1.5, new Rng(1)), /fraction/);
  });
});

describe('subset', () => {
  it('is class-balanced and seeded', () => {
    const ds = tinyDataset(90, [2, 2, 1], 3);
    const s = subset(ds, 31, new Rng(1));
    assert.equal(s.count, 31);
    assert.deepEqual(classCounts(s), [11, 10, 10]);
    assert.deepEqual(order(subset(ds, 31, new Rng(1))), order(s));
    assert.notDeepEqual(order(subset(ds, 31, new Rng(2))), order(s));
    const idx = order(s);
    assert.deepEqual(idx, [...idx].sort((x, y) => x - y), 'keeps the original order');
    // Without an rng: the first examples of each class.
    assert.deepEqual(order(subset(ds, 6)), [0, 1, 2, 3, 4, 5]);
  });

  it('tops up from other classes when one runs short', () => {
    const ds = tinyDataset(10, [1, 1, 1], 3);
    ds.labels.set([0, 0, 0, 0, 0, 0, 0, 1, 1, 2]);
    assert.deepEqual(classCounts(subset(ds, 9, new Rng(3))), [6, 2, 1]);
    assert.throws(() => subset(ds, 11), /asked for 11/);
  });
});

describe('augmentBatch', () => {
  // One 2×3 RGB image whose value encodes (y, x, c) as y*100 + x*10 + c + 1.
  const shape: [number, number, number] = [2, 3, 3];
  const value = (y: number, x: number, c: number) => y * 100 + x * 10 + c + 1;
  const image = new Float32Array(18);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) for (let c = 0; c < 3; c++) image[(y * 3 + x) * 3 + c] = value(y, x, c);
  const batch: Batch = { images: image, labels: Int32Array.from([4]), size: 1 };
  const at = (b: Batch, y: number, x: number, c: number) => b.images[(y * 3 + x) * 3 + c];

  it('mirrors left-right, keeping the channel order of each pixel', () => {
    // With no crop, the only draw is the flip; find a seed that flips.
    let flipped: Batch | null = null;
    for (let seed = 0; seed < 20 && !flipped; seed++) {
      const out = augmentBatch(batch, shape, new Rng(seed), { padCrop: 0, flip: true });
      if (at(out, 0, 0, 0) !== value(0, 0, 0)) flipped = out;
    }
    assert.ok(flipped, 'some seed flips');
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) for (let c = 0; c < 3; c++) assert.equal(at(flipped, y, x, c), value(y, 2 - x, c));
  });

  it('is the identity with padCrop 0 and no flip', () => {
    const out = augmentBatch(batch, shape, new Rng(1), { padCrop: 0, flip: false });
    assert.deepEqual(out.images, image);
    assert.notEqual(out.images, image);
  });

  it('crops each image shifted by at most the padding, filling with zeros', () => {
    const pad = 1;
    const copies = 90;
    const many: Batch = { images: new Float32Array(copies * 18), labels: new Int32Array(copies), size: copies };
    for (let n = 0; n < copies; n++) many.images.set(image, n * 18);
    const out = augmentBatch(many, shape, new Rng(5), { padCrop: pad, flip: false });
    const px = (n: number, y: number, x: number, c: number) => out.images[n * 18 + (y * 3 + x) * 3 + c];
    const shifts = new Set<string>();
    for (let n = 0; n < copies; n++) {
      // Recover the shift (dy, dx) from any non-zero pixel, then check every pixel against it.
      let found: [number, number] | null = null;
      for (let y = 0; y < 2 && !found; y++) {
        for (let x = 0; x < 3 && !found; x++) {
          const v = px(n, y, x, 0);
          if (v !== 0) found = [Math.floor((v - 1) / 100) - y, Math.floor(((v - 1) % 100) / 10) - x];
        }
      }
      assert.ok(found, 'a shift of at most 1 keeps some pixels');
      const [dy, dx] = found;
      assert.ok(Math.abs(dy) <= pad && Math.abs(dx) <= pad, `shift ${dy},${dx} within the padding`);
      shifts.add(`${dy},${dx}`);
      for (let y = 0; y < 2; y++) {
        for (let x = 0; x < 3; x++) {
          const inside = y + dy >= 0 && y + dy < 2 && x + dx >= 0 && x + dx < 3;
          for (let c = 0; c < 3; c++) assert.equal(px(n, y, x, c), inside ? value(y + dy, x + dx, c) : 0);
        }
      }
    }
    assert.equal(shifts.size, 9, 'all nine shifts occur');
  });

  it('crops then flips: a shifted image comes out mirrored', () => {
    // The 1-pixel 1×2 image [a, b]; with shift dx = +1 the crop is [b, 0], flipped [0, b].
    const tiny: Batch = { images: Float32Array.from([1, 2]), labels: Int32Array.from([0]), size: 1 };
    const seen = new Set<string>();
    for (let seed = 0; seed < 200; seed++) seen.add(Array.from(augmentBatch(tiny, [1, 2, 1], new Rng(seed), { padCrop: 1 }).images).join(','));
    // All outcomes of 3 row shifts × 3 column shifts × flip on [1, 2].
    assert.deepEqual([...seen].sort(), ['0,0', '0,1', '0,2', '1,0', '1,2', '2,0', '2,1'].sort());
  });

  it('is seeded, keeps labels and leaves the input alone', () => {
    const ds = tinyDataset(8, [4, 4, 3]);
    const b: Batch = { images: ds.images.slice(), labels: Int32Array.from(ds.labels), size: 8 };
    const a1 = augmentBatch(b, [4, 4, 3], new Rng(9));
    const a2 = augmentBatch(b, [4, 4, 3], new Rng(9));
    assert.deepEqual(a1.images, a2.images);
    assert.deepEqual(b.images, ds.images);
    assert.deepEqual(Array.from(a1.labels), Array.from(b.labels));
    assert.notEqual(a1.labels, b.labels);
    assert.throws(() => augmentBatch(b, [4, 4, 1], new Rng(1)), /expected 8/);
  });
});

describe('toTensors', () => {
  it('gives NHWC float images and one-hot labels', async () => {
    await tf.setBackend('cpu');
    const ds = tinyDataset(3, [2, 2, 1], 4);
    const [b] = [...iterateBatches(ds, { batchSize: 3 })];
    const { x, y } = toTensors(b, ds.shape, 4);
    try {
      assert.deepEqual(x.shape, [3, 2, 2, 1]);
      assert.equal(x.dtype, 'float32');
      assert.deepEqual(Array.from(await x.data()), Array.from(ds.images));
      assert.deepEqual(y.shape, [3, 4]);
      assert.equal(y.dtype, 'float32');
      assert.deepEqual(await y.array(), [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
      ]);
    } finally {
      x.dispose();
      y.dispose();
    }
    assert.throws(() => toTensors(b, ds.shape, 2), /label 2/);
  });
});

describe('downsample', () => {
  it('averages each factor×factor block per channel, and checks its factor', async () => {
    const { downsample } = await import('../../lib/src/data');
    // Two 4×4 images with 2 channels: pixel value = 100·image + 10·y + x, channel 1 its negative.
    const images = new Float32Array(2 * 4 * 4 * 2);
    for (let i = 0; i < 2; i++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) {
      const v = 100 * i + 10 * y + x;
      images[((i * 4 + y) * 4 + x) * 2] = v;
      images[((i * 4 + y) * 4 + x) * 2 + 1] = -v;
    }
    const ds = { name: 't', split: 'train' as const, images, labels: new Uint8Array([0, 1]), count: 2, shape: [4, 4, 2] as [number, number, number], numClasses: 2, classNames: ['a', 'b'] };
    const d = downsample(ds, 2);
    assert.deepEqual(d.shape, [2, 2, 2]);
    // Block (0,0) of image 0: mean of 0, 1, 10, 11 = 5.5; block (1,1) of image 1: mean of 122, 123, 132, 133 = 127.5.
    assert.deepEqual(Array.from(d.images.subarray(0, 2)), [5.5, -5.5]);
    assert.deepEqual(Array.from(d.images.subarray(14, 16)), [127.5, -127.5]);
    assert.equal(downsample(ds, 1), ds);
    assert.throws(() => downsample(ds, 3), /not multiples of the factor 3/);
    assert.throws(() => downsample(ds, 0), /positive integer/);
  });
});
