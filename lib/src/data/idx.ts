/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 * a big-endian header — two zero bytes, a type byte (0x08 = unsigned byte),
 * the number of dimensions — then one uint32 per dimension, then the data.
 * Files may be gzipped (detected by the gzip magic bytes, not by the name).
 *
 * The reader validates everything and throws an Error naming the file and
 * the problem rather than return a partly read array.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';

export const IDX_UBYTE = 0x08;
/** Magic number of a uint8 tensor with 3 dimensions: images N×rows×cols. */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** Magic number of a uint8 tensor with 1 dimension: labels N. */
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxTensor {
  dims: number[];
  data: Uint8Array;
}

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count*rows*cols bytes, row-major. */
  pixels: Uint8Array;
}

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

/** The file's bytes, gunzipped when they start with the gzip magic 1f 8b. */
export function readMaybeGzip(file: string): Buffer {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file}: file not found`);
    if (code === 'EISDIR') throw new Error(`${file}: is a directory, not a file`);
    throw new Error(`${file}: cannot read (${(err as Error).message})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return zlib.gunzipSync(raw);
    } catch (err) {
      throw new Error(`${file}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  return raw;
}

/** Parses IDX bytes; `file` only names the source in error messages. */
export function parseIdx(bytes: Uint8Array, file: string): IdxTensor {
  if (bytes.length < 4) throw new Error(`${file}: too short for an IDX header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = bytes[2];
  const ndims = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || ndims < 1) {
    throw new Error(
      `${file}: wrong magic number ${hex(magic)}, not an IDX file (expected ${hex(IDX_IMAGES_MAGIC)} for images or ${hex(IDX_LABELS_MAGIC)} for labels)`,
    );
  }
  if (type !== IDX_UBYTE) {
    throw new Error(`${file}: IDX data type 0x${type.toString(16)} is not supported, only unsigned bytes (0x08)`);
  }
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen)
    throw new Error(`${file}: truncated IDX header (${bytes.length} bytes, the ${ndims} dimensions need ${headerLen})`);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  const expected = headerLen + size;
  if (bytes.length < expected) {
    throw new Error(`${file}: truncated: dimensions ${dims.join('×')} need ${expected} bytes, the file has ${bytes.length}`);
  }
  if (bytes.length > expected) {
    throw new Error(
      `${file}: ${bytes.length - expected} unexpected bytes after the data of dimensions ${dims.join('×')} (${expected} bytes expected)`,
    );
  }
  // A copy, so the result does not pin the (possibly larger) read buffer.
  return { dims, data: bytes.slice(headerLen, expected) };
}

/** Reads an IDX file, raw or gzipped. */
export function readIdx(file: string): IdxTensor {
  return parseIdx(readMaybeGzip(file), file);
}

function expectMagic(t: IdxTensor, file: string, magic: number, what: string): void {
  const got = (IDX_UBYTE << 8) | t.dims.length;
  if (got !== magic) {
    throw new Error(
      `${file}: wrong magic number ${hex(got)} for ${what} (expected ${hex(magic)}: ${magic === IDX_IMAGES_MAGIC ? '3' : '1'} dimension(s), got ${t.dims.length})`,
    );
  }
}

/** Reads an images file (magic 0x00000803). */
export function readIdxImages(file: string): IdxImages {
  const t = readIdx(file);
  expectMagic(t, file, IDX_IMAGES_MAGIC, 'images');
  const [count, rows, cols] = t.dims;
  return { count, rows, cols, pixels: t.data };
}

/** Reads a labels file (magic 0x00000801) and checks every label < numClasses. */
export function readIdxLabels(file: string, numClasses: number): Uint8Array {
  const t = readIdx(file);
  expectMagic(t, file, IDX_LABELS_MAGIC, 'labels');
  const labels = t.data;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= numClasses) {
      throw new Error(`${file}: label ${labels[i]} at index ${i} is out of range (${numClasses} classes: 0..${numClasses - 1})`);
    }
  }
  return labels;
}

/** Reads an images file and its labels file and checks that they agree. */
export function readIdxPair(imagesFile: string, labelsFile: string, numClasses: number): { images: IdxImages; labels: Uint8Array } {
  const images = readIdxImages(imagesFile);
  const labels = readIdxLabels(labelsFile, numClasses);
  if (images.count !== labels.length) {
    throw new Error(`${imagesFile} has ${images.count} images but ${labelsFile} has ${labels.length} labels`);
  }
  return { images, labels };
}

/** Encodes a uint8 tensor in IDX format (raw; gzip it with zlib if wanted). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Buffer {
  const size = dims.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new Error(`encodeIdx: ${data.length} bytes do not fill dimensions ${dims.join('×')} (${size})`);
  if (dims.length < 1 || dims.length > 255) throw new Error(`encodeIdx: ${dims.length} dimensions`);
  const headerLen = 4 + 4 * dims.length;
  const out = Buffer.alloc(headerLen + size);
  out[2] = IDX_UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(data, headerLen);
  return out;
}
