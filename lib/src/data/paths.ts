/**
 * Where the repository's data/ folder is. This module runs compiled from
 * lib/dist/data/ (notebooks), from lib/src/data/ through tsx (tests,
 * scripts), and from wherever a notebook kernel was started, so neither
 * __dirname nor the working directory alone gives the answer.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The folder, under data/, that always ships with the repository. */
const MARKER = path.join('fashion-mnist', 'train-labels-idx1-ubyte.gz');

/**
 * The data directory: $BNLAB_DATA_DIR when set, else the nearest `data/`
 * above this file that holds the shipped Fashion-MNIST subset, else the
 * nearest one above the working directory, else ./data (which error
 * messages then name).
 */
export function dataDir(): string {
  const fromEnv = process.env.BNLAB_DATA_DIR;
  if (fromEnv) return path.resolve(fromEnv);
  for (const start of [__dirname, process.cwd()]) {
    let dir = path.resolve(start);
    for (;;) {
      const candidate = path.join(dir, 'data');
      if (fs.existsSync(path.join(candidate, MARKER))) return candidate;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return path.resolve('data');
}
