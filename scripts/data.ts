// Fetches the datasets that do not ship with the repository.
//
//   npm run data -- cifar10         downloads CIFAR-10's binary version into
//                                   data/cifar-10-batches-bin (MD5-checked;
//                                   BNLAB_CIFAR10_URL names a mirror)
//   npm run data -- fashion-mnist   makes sure the full Fashion-MNIST is in
//                                   /usr/share/datasets/fashion-mnist (Debian
//                                   package dataset-fashion-mnist)
//
// Both are idempotent: a dataset already in place is checked and left alone.
// (The compact Fashion-MNIST subset the notebooks use by default ships in
// data/fashion-mnist and needs neither.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureCifar10 } from '../lib/src/data/download';
import { FASHION_MNIST_FILES, FASHION_MNIST_SYSTEM_DIR } from '../lib/src/data/fashion-mnist';
import { dataDir } from '../lib/src/data/paths';

const TARGETS = ['cifar10', 'fashion-mnist'] as const;
type Target = (typeof TARGETS)[number];

function log(msg: string): void {
  console.error(`[data] ${msg}`);
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** A progress reporter for stderr: one rewritten line on a terminal, a line per 10% otherwise. */
function progressPrinter(): (received: number, total: number | null) => void {
  const tty = process.stderr.isTTY;
  let lastShown = -1;
  let lastTime = 0;
  return (received, total) => {
    const now = Date.now();
    if (total) {
      const pct = Math.floor((100 * received) / total);
      // Chunks jump several percent at once: show each time a step is crossed.
      const step = Math.floor(pct / (tty ? 1 : 10));
      if (step === lastShown) return;
      lastShown = step;
      const line = `[data] ${pct}%  ${mib(received)} / ${mib(total)} MiB`;
      if (tty) process.stderr.write(`\r${line}${received === total ? '\n' : ''}`);
      else process.stderr.write(`${line}\n`);
    } else if (now - lastTime > 1000) {
      lastTime = now;
      process.stderr.write(tty ? `\r[data] ${mib(received)} MiB` : `[data] ${mib(received)} MiB\n`);
    }
  };
}

async function cifar10(): Promise<void> {
  // A mirror may be named with BNLAB_CIFAR10_URL; the official MD5 is checked all the same.
  const url = process.env.BNLAB_CIFAR10_URL || undefined;
  const { dir } = await ensureCifar10({ dir: dataDir(), url, log, onProgress: progressPrinter() });
  log(`load it with loadCifar10({ split: 'train' }) (reads ${path.relative(process.cwd(), dir) || dir})`);
}

function fashionMnistPresent(): boolean {
  return Object.values(FASHION_MNIST_FILES).every((f) =>
    [f.images, f.labels].every((name) => fs.existsSync(path.join(FASHION_MNIST_SYSTEM_DIR, name))),
  );
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function aptGet(args: string[]): boolean {
  log(`apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

function fashionMnist(): void {
  if (fashionMnistPresent()) {
    log(`the full Fashion-MNIST is in ${FASHION_MNIST_SYSTEM_DIR}; load it with loadFashionMnist({ split: 'train', dir: 'system' })`);
    return;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !hasCommand('apt-get')) {
    log(`the full Fashion-MNIST is not in ${FASHION_MNIST_SYSTEM_DIR}.`);
    log('On Debian or Ubuntu, install it as root with:');
    log('  apt-get update && apt-get install -y --no-install-recommends dataset-fashion-mnist');
    log('Elsewhere, download the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist');
    log("into a folder and pass it: loadFashionMnist({ split: 'train', dir: '/that/folder' }).");
    log('The subset in data/fashion-mnist works without any of this.');
    process.exitCode = 1;
    return;
  }
  const install = ['install', '-y', '--no-install-recommends', 'dataset-fashion-mnist'];
  // A fresh container often has no package lists yet: update once and retry.
  if (!aptGet(install) && !(aptGet(['update']) && aptGet(install))) {
    throw new Error('apt-get could not install dataset-fashion-mnist (see its output above)');
  }
  if (!fashionMnistPresent()) throw new Error(`dataset-fashion-mnist is installed but ${FASHION_MNIST_SYSTEM_DIR} lacks its files`);
  log(`installed: the full Fashion-MNIST is in ${FASHION_MNIST_SYSTEM_DIR}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.length === 0 || args.some((a) => a === '-h' || a === '--help')) {
    console.error(`usage: npm run data -- <${TARGETS.join('|')}>...`);
    process.exitCode = args.length === 0 ? 1 : 0;
    return;
  }
  const unknown = args.filter((a) => !(TARGETS as readonly string[]).includes(a));
  if (unknown.length > 0) throw new Error(`unknown dataset ${unknown.join(', ')}; choose from ${TARGETS.join(', ')}`);
  for (const target of args as Target[]) {
    if (target === 'cifar10') await cifar10();
    else fashionMnist();
  }
}

main().catch((err: Error) => {
  console.error(`[data] error: ${err.message}`);
  process.exit(1);
});
