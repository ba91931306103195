/**
 * Downloading CIFAR-10: a checked HTTP(S) download and an idempotent
 * "make sure data/cifar-10-batches-bin is there" step, used by
 * `npm run data -- cifar10`. Nothing is left half-written: the download goes
 * to a .part file renamed only once its MD5 matches, and the archive is
 * extracted into a temporary folder renamed into place only once complete.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { CIFAR10_DIR_NAME, cifar10Complete } from './cifar10';
import { dataDir } from './paths';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
const CIFAR10_ARCHIVE = 'cifar-10-binary.tar.gz';

export interface DownloadOptions {
  /** Expected MD5 (hex) of the whole file; checked before the file is kept. */
  md5?: string;
  /** Called as bytes arrive; total is null when the server sends no length. */
  onProgress?: (received: number, total: number | null) => void;
  /** Give up after this many redirects. Default 5. */
  maxRedirects?: number;
  /** Abort when the connection is idle this long. Default 60 s. */
  timeoutMs?: number;
}

export function md5File(file: string): string {
  const h = createHash('md5');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function get(url: URL, timeoutMs: number): Promise<http.IncomingMessage> {
  const mod = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
  if (!mod) return Promise.reject(new Error(`${url.href}: only http and https URLs can be downloaded`));
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { headers: { 'user-agent': 'bnlab-data' } }, resolve);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data for ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

/**
 * Downloads `url` to `dest`, following redirects. The bytes go to
 * `dest + '.part'`, which is renamed to `dest` only when the transfer is
 * complete and the MD5 (if given) matches; on any failure it is deleted and
 * the Error names the URL and the problem.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<void> {
  const { md5, onProgress, maxRedirects = 5, timeoutMs = 60_000 } = opts;
  const part = dest + '.part';
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  let current = new URL(url);
  let res: http.IncomingMessage;
  for (let hops = 0; ; hops++) {
    try {
      res = await get(current, timeoutMs);
    } catch (err) {
      throw new Error(`${current.href}: download failed (${(err as Error).message})`);
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hops >= maxRedirects) throw new Error(`${url}: more than ${maxRedirects} redirects`);
      current = new URL(res.headers.location, current);
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new Error(`${current.href}: HTTP ${status} ${res.statusMessage ?? ''}`.trim());
    }
    break;
  }

  const lengthHeader = res.headers['content-length'];
  const total = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
  const hash = createHash('md5');
  let received = 0;
  const response = res;
  try {
    await new Promise<void>((resolve, reject) => {
      const out = fs.createWriteStream(part);
      // The .part file is opened asynchronously, so it may appear after a
      // failure; reject only once the stream has closed, or the cleanup
      // below could run first and leave the .part behind.
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        response.destroy();
        if (out.closed) reject(err);
        else {
          out.once('close', () => reject(err));
          out.destroy();
        }
      };
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        hash.update(chunk);
        onProgress?.(received, total);
      });
      response.on('error', fail);
      response.on('aborted', () => fail(new Error('connection closed early')));
      out.on('error', fail);
      out.on('finish', resolve);
      response.pipe(out);
    });
    if (total !== null && received !== total) {
      throw new Error(`got ${received} bytes, the server announced ${total}`);
    }
    const got = hash.digest('hex');
    if (md5 && got !== md5.toLowerCase()) {
      throw new Error(`MD5 mismatch: expected ${md5}, got ${got}`);
    }
  } catch (err) {
    fs.rmSync(part, { force: true });
    throw new Error(`${current.href}: ${(err as Error).message}; nothing was kept`);
  }
  fs.renameSync(part, dest);
}

export interface EnsureCifar10Options {
  /** The data directory; default the repository's data/. */
  dir?: string;
  url?: string;
  md5?: string;
  /** Require the official 10,000 records per file. Default true; tests turn it off. */
  exact?: boolean;
  /** Keep the downloaded archive after extracting it. Default false. */
  keepArchive?: boolean;
  log?: (msg: string) => void;
  onProgress?: DownloadOptions['onProgress'];
}

/**
 * Makes sure `<dir>/cifar-10-batches-bin` holds a complete CIFAR-10,
 * downloading and extracting the official archive when it does not.
 * Idempotent: returns at once (downloaded: false) when the data is there.
 */
export async function ensureCifar10(opts: EnsureCifar10Options = {}): Promise<{ dir: string; downloaded: boolean }> {
  const root = opts.dir ?? dataDir();
  const url = opts.url ?? CIFAR10_URL;
  const md5 = opts.md5 ?? CIFAR10_MD5;
  const exact = opts.exact ?? true;
  const log = opts.log ?? (() => {});
  const target = path.join(root, CIFAR10_DIR_NAME);
  if (cifar10Complete(target, exact)) {
    log(`CIFAR-10 is already in ${target}`);
    return { dir: target, downloaded: false };
  }

  fs.mkdirSync(root, { recursive: true });
  const archive = path.join(root, CIFAR10_ARCHIVE);
  // An archive left by an earlier run (kept, or extraction interrupted) is
  // reused if it is the right one.
  if (fs.existsSync(archive) && md5File(archive) === md5) {
    log(`using the archive already in ${archive}`);
  } else {
    fs.rmSync(archive, { force: true });
    log(`downloading ${url}`);
    await downloadFile(url, archive, { md5, onProgress: opts.onProgress });
  }

  log(`extracting ${archive}`);
  const tmp = fs.mkdtempSync(path.join(root, '.cifar10-extract-'));
  try {
    const r = spawnSync('tar', ['-xzf', archive, '-C', tmp], { encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run tar to extract ${archive} (${r.error.message})`);
    if (r.status !== 0) throw new Error(`tar could not extract ${archive}: ${(r.stderr || '').trim() || `exit ${r.status}`}`);
    const extracted = path.join(tmp, CIFAR10_DIR_NAME);
    if (!cifar10Complete(extracted, exact)) {
      throw new Error(
        `${archive} does not contain a complete ${CIFAR10_DIR_NAME}/ (data_batch_1..5.bin, test_batch.bin, batches.meta.txt)`,
      );
    }
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(extracted, target);
  } catch (err) {
    // The archive passed its checksum, so it stays for the next run rather
    // than be downloaded again.
    throw new Error(`${(err as Error).message} (the verified archive stays in ${archive})`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!opts.keepArchive) fs.rmSync(archive, { force: true });
  log(`CIFAR-10 is in ${target}`);
  return { dir: target, downloaded: true };
}
