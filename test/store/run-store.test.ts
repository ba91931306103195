import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { canonicalJson, codeVersion, RunStore } from '../../lib/src/store';
import { cpuVectorExtension } from '../../lib/src/util/cpu';

before(async () => {
  await initBackend({ quiet: true });
});

const tmpStore = () => new RunStore(fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-store-')));
const spec = (config: unknown) => ({ kind: 'train', config });

describe('RunStore', () => {
  it('derives the key from the whole config, whatever its key order', () => {
    const s = tmpStore();
    const a = s.key(spec({ model: { depth: 20, norm: 'batch' }, seed: 1, profile: 'smoke' }));
    assert.equal(a, s.key(spec({ profile: 'smoke', seed: 1, model: { norm: 'batch', depth: 20 } })));
    assert.notEqual(a, s.key(spec({ model: { depth: 20, norm: 'batch' }, seed: 2, profile: 'smoke' })));
    assert.notEqual(a, s.key(spec({ model: { depth: 20, norm: 'batch' }, seed: 1, profile: 'quick' })));
    assert.notEqual(a, s.key({ kind: 'probe', config: { model: { depth: 20, norm: 'batch' }, seed: 1, profile: 'smoke' } }));
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
  });

  it('the code version is a hash of lib and can be pinned', () => {
    assert.match(codeVersion(), /^[0-9a-f]{12}$/);
    const s = tmpStore();
    const before = s.key(spec({ x: 1 }));
    process.env.BNLAB_CODE_VERSION = 'pinned';
    try {
      assert.notEqual(s.key(spec({ x: 1 })), before);
    } finally {
      delete process.env.BNLAB_CODE_VERSION;
    }
  });

  it('runs once, then reuses the stored record; the record is readable JSON with config and environment', async () => {
    const s = tmpStore();
    let calls = 0;
    const compute = async () => {
      calls += 1;
      return { result: { accuracy: 0.5 + calls } };
    };
    const first = await s.getOrRun(spec({ lr: 0.1 }), compute);
    let cachedSeen = false;
    const second = await s.getOrRun(spec({ lr: 0.1 }), compute, { onCached: () => (cachedSeen = true) });
    assert.equal(calls, 1);
    assert.ok(cachedSeen);
    assert.deepEqual(second, first);
    const file = path.join(s.dir, 'train', `${first.key}.json`);
    const onDisk = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.deepEqual(onDisk.config, { lr: 0.1 });
    assert.equal(onDisk.environment.backend, tf.getBackend());
    assert.equal(onDisk.environment.vectorExtension, cpuVectorExtension(), 'the record names the CPU vector extension that computed it');
    assert.equal(onDisk.codeVersion, codeVersion());
    assert.match(fs.readFileSync(file, 'utf8'), /\n  "config": \{\n/, 'pretty-printed, so it diffs line by line');
    // A changed config trains only what changed.
    await s.getOrRun(spec({ lr: 0.03 }), compute);
    assert.equal(calls, 2);
    assert.equal(s.list('train').length, 2);
  });

  it('an interrupted run leaves no record that looks complete, and runs again next time', async () => {
    const s = tmpStore();
    const key = s.key(spec({ lr: 1 }));
    // What a crash mid-write leaves: a temporary file beside where the record goes.
    fs.mkdirSync(path.join(s.dir, 'train'), { recursive: true });
    fs.writeFileSync(path.join(s.dir, 'train', `${key}.json.tmp-999-abc`), '{"key": "trunc');
    assert.equal(s.get(spec({ lr: 1 })), null);
    assert.equal(s.list().length, 0);
    const r = await s.getOrRun(spec({ lr: 1 }), async () => ({ result: 42 }));
    assert.equal(r.result, 42);
  });

  it('records a failure without a complete record, and a diverged run as a result', async () => {
    const s = tmpStore();
    await assert.rejects(s.getOrRun(spec({ bad: true }), async () => {
      throw new Error('out of memory');
    }), /out of memory/);
    assert.equal(s.get(spec({ bad: true })), null);
    assert.match(s.failure(spec({ bad: true }))!.error, /out of memory/);
    const d = await s.getOrRun(spec({ lr: 10 }), async () => ({ result: { loss: Infinity }, diverged: true }));
    assert.equal(d.status, 'diverged');
    assert.equal(s.get<{ loss: unknown }>(spec({ lr: 10 }))!.result.loss, Infinity, 'non-finite numbers survive the JSON round trip');
  });

  it('names a corrupt record and how to recover', async () => {
    const s = tmpStore();
    const key = s.key(spec({ z: 1 }));
    fs.mkdirSync(path.join(s.dir, 'train'), { recursive: true });
    fs.writeFileSync(path.join(s.dir, 'train', `${key}.json`), '{not json');
    assert.throws(() => s.get(spec({ z: 1 })), new RegExp(`${key}\\.json is not valid JSON .*delete it to recompute`));
  });
});
