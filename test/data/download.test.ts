// The CIFAR-10 download, against a local HTTP server on 127.0.0.1 that
// serves a small archive in the official layout (no internet needed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCifar10 } from '../../lib/src/data/cifar10';
import { downloadFile, ensureCifar10, md5File } from '../../lib/src/data/download';
import { tempDir, writeCifarDir } from './helpers';

const { dir: tmp, cleanup } = tempDir('download');
let server: http.Server;
let base = '';
let archive: Buffer;
let archiveMd5 = '';
const hits: string[] = [];

before(async () => {
  const src = path.join(tmp, 'src');
  writeCifarDir(path.join(src, 'cifar-10-batches-bin'), 2);
  const tarball = path.join(tmp, 'fixture.tar.gz');
  const r = spawnSync('tar', ['-czf', tarball, '-C', src, 'cifar-10-batches-bin'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  archive = fs.readFileSync(tarball);
  archiveMd5 = createHash('md5').update(archive).digest('hex');

  server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/cifar.tar.gz') {
      res.writeHead(200, { 'content-length': archive.length });
      res.end(archive);
    } else if (req.url === '/redirect') {
      res.writeHead(302, { location: '/cifar.tar.gz' });
      res.end();
    } else if (req.url === '/loop') {
      res.writeHead(301, { location: '/loop' });
      res.end();
    } else if (req.url === '/cut') {
      // Announces the whole archive, sends half, then hangs up.
      res.writeHead(200, { 'content-length': archive.length });
      res.write(archive.subarray(0, archive.length >> 1), () => res.socket?.destroy());
    } else {
      res.writeHead(404);
      res.end('no');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  cleanup();
});

/** The names in a directory, so a test can assert nothing was left behind. */
const ls = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);

describe('downloadFile', () => {
  it('downloads, follows a redirect, checks the MD5 and reports progress', async () => {
    const out = path.join(tmp, 'dl1');
    fs.mkdirSync(out);
    const dest = path.join(out, 'a.tar.gz');
    let last: [number, number | null] = [0, null];
    await downloadFile(`${base}/redirect`, dest, { md5: archiveMd5, onProgress: (r, t) => (last = [r, t]) });
    assert.deepEqual(fs.readFileSync(dest), archive);
    assert.deepEqual(last, [archive.length, archive.length]);
    assert.deepEqual(ls(out), ['a.tar.gz']);
  });

  it('deletes the download and says so on an MD5 mismatch', async () => {
    const out = path.join(tmp, 'dl2');
    fs.mkdirSync(out);
    const dest = path.join(out, 'a.tar.gz');
    await assert.rejects(downloadFile(`${base}/cifar.tar.gz`, dest, { md5: '0'.repeat(32) }), (err: Error) => {
      assert.match(err.message, new RegExp(`/cifar.tar.gz: MD5 mismatch: expected 0{32}, got ${archiveMd5}; nothing was kept`));
      return true;
    });
    assert.deepEqual(ls(out), []);
  });

  it('reports HTTP errors, redirect loops and cut connections, keeping nothing', async () => {
    const out = path.join(tmp, 'dl3');
    fs.mkdirSync(out);
    const dest = path.join(out, 'a.tar.gz');
    await assert.rejects(downloadFile(`${base}/missing`, dest), /\/missing: HTTP 404/);
    await assert.rejects(downloadFile(`${base}/loop`, dest), /more than 5 redirects/);
    // Repeated because the .part file is opened asynchronously: a cleanup that
    // raced its opening left it behind only now and then.
    for (let i = 0; i < 20; i++) {
      await assert.rejects(downloadFile(`${base}/cut`, dest), /\/cut: .*nothing was kept/);
      assert.deepEqual(ls(out), [], `after cut connection ${i + 1}`);
    }
    await assert.rejects(downloadFile('http://127.0.0.1:1/x', dest), /127\.0\.0\.1:1\/x: download failed/);
    assert.deepEqual(ls(out), []);
  });
});

describe('ensureCifar10', () => {
  it('downloads and extracts once, then finds the data in place', async () => {
    const root = path.join(tmp, 'data1');
    const opts = { dir: root, url: `${base}/cifar.tar.gz`, md5: archiveMd5, exact: false };
    hits.length = 0;
    const first = await ensureCifar10(opts);
    assert.equal(first.downloaded, true);
    assert.equal(first.dir, path.join(root, 'cifar-10-batches-bin'));
    assert.deepEqual(ls(root), ['cifar-10-batches-bin'], 'no archive, .part or temporary folder left');
    const ds = loadCifar10({ split: 'train', dir: first.dir });
    assert.equal(ds.count, 10);

    const second = await ensureCifar10(opts);
    assert.equal(second.downloaded, false);
    assert.deepEqual(hits, ['/cifar.tar.gz'], 'the second call made no request');
  });

  it('reuses a valid archive left by an earlier run', async () => {
    const root = path.join(tmp, 'data2');
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, 'cifar-10-binary.tar.gz'), archive);
    assert.equal(md5File(path.join(root, 'cifar-10-binary.tar.gz')), archiveMd5);
    hits.length = 0;
    const r = await ensureCifar10({ dir: root, url: `${base}/cifar.tar.gz`, md5: archiveMd5, exact: false, keepArchive: true });
    assert.equal(r.downloaded, true);
    assert.deepEqual(hits, []);
    assert.deepEqual(ls(root), ['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
  });

  it('fails clearly on a checksum mismatch and leaves no data behind', async () => {
    const root = path.join(tmp, 'data3');
    await assert.rejects(ensureCifar10({ dir: root, url: `${base}/cifar.tar.gz`, md5: 'f'.repeat(32), exact: false }), /MD5 mismatch/);
    assert.deepEqual(ls(root), []);
  });

  it('rejects an archive without the expected files, keeping only the checked archive', async () => {
    const root = path.join(tmp, 'data4');
    // With exact: true the fixture's 2-record files are not a complete CIFAR-10.
    await assert.rejects(
      ensureCifar10({ dir: root, url: `${base}/cifar.tar.gz`, md5: archiveMd5 }),
      /does not contain a complete cifar-10-batches-bin.*the verified archive stays/,
    );
    assert.deepEqual(ls(root), ['cifar-10-binary.tar.gz'], 'no partial folder, no temporary folder; only the checked archive');
  });
});
