import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../lib/src/backend';
import { claimMarker, markerIsLive, RunningMarker, RunStore } from '../../lib/src/store';
import { tempDir } from '../data/helpers';

const root = path.resolve(__dirname, '..', '..');

before(async () => {
  await initBackend({ quiet: true });
});

const marker = (over: Partial<RunningMarker> = {}): RunningMarker => ({
  key: 'k',
  kind: 'train',
  hostname: os.hostname(),
  pid: process.pid,
  startedAt: new Date().toISOString(),
  ...over,
});

/** A pid no process has: one that just exited. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => c.on('close', resolve));
  return c.pid!;
}

describe('a run another process is computing', () => {
  it('is claimed once: a live process of this host holds it; a dead one, another host or this process does not', async () => {
    const { dir, cleanup } = tempDir('claim');
    const file = path.join(dir, 'train', 'k.running.json');
    const sleeper = spawn('sleep', ['30']);
    try {
      const live = marker({ pid: sleeper.pid!, startedAt: new Date(Date.now() + 1000).toISOString() });
      assert.equal(markerIsLive(live), true);
      assert.equal(claimMarker(file, live), null, 'an empty slot is claimed');
      assert.deepEqual(claimMarker(file, marker()), live, 'a live holder is reported, not overwritten');
      assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), live);

      for (const stale of [marker({ pid: await deadPid() }), marker({ pid: sleeper.pid!, hostname: `${os.hostname()}-elsewhere` }), marker()]) {
        fs.writeFileSync(file, JSON.stringify(stale));
        assert.equal(markerIsLive(stale), false);
        assert.equal(claimMarker(file, marker({ startedAt: 'mine' })), null);
        assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).startedAt, 'mine');
      }
      // A pid the system gave to a later process: the marker is older than the process.
      assert.equal(markerIsLive(marker({ pid: sleeper.pid!, startedAt: new Date(Date.now() - 3_600_000).toISOString() })), false);
      assert.deepEqual(fs.readdirSync(path.dirname(file)), ['k.running.json'], 'no temporary file is left');
    } finally {
      sleeper.kill();
      cleanup();
    }
  });

  it('is waited for, not computed twice: the second process gets the first one\'s record', async () => {
    const { dir, cleanup } = tempDir('wait');
    const spec = { kind: 'measure', config: { name: 'slow', x: 1 } };
    const first = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { initBackend } = require('./lib/src/backend');
         const { RunStore } = require('./lib/src/store');
         initBackend({ quiet: true }).then(() => new RunStore(${JSON.stringify(dir)}).getOrRun(${JSON.stringify(spec)},
           () => new Promise((resolve) => setTimeout(() => resolve({ result: { by: process.pid } }), 2500))));`,
      ],
      { cwd: root, stdio: 'ignore', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } },
    );
    const firstDone = new Promise<number | null>((resolve) => first.on('close', resolve));
    try {
      const store = new RunStore(dir);
      const deadline = Date.now() + 60_000;
      while (!store.running(spec) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(store.running(spec), 'the first process marks the run as its own');
      let computed = false;
      let waitedFor: number | null = null;
      const rec = await store.getOrRun(
        spec,
        async () => {
          computed = true;
          return { result: { by: process.pid } };
        },
        { onWaiting: (other) => (waitedFor = other.pid) },
      );
      assert.equal(computed, false);
      assert.equal(waitedFor, first.pid);
      assert.deepEqual(rec.result, { by: first.pid });
      assert.equal(await firstDone, 0);
      assert.equal(store.running(spec), null);
    } finally {
      first.kill();
      cleanup();
    }
  });

  it('is computed after all when the process that held it dies', async () => {
    const { dir, cleanup } = tempDir('wait-dead');
    const store = new RunStore(dir);
    const spec = { kind: 'measure', config: { name: 'orphan' } };
    const holder = spawn('sleep', ['30']);
    try {
      const key = store.key(spec);
      fs.mkdirSync(path.join(dir, 'measure'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'measure', `${key}.running.json`), JSON.stringify(marker({ key, kind: 'measure', pid: holder.pid!, startedAt: new Date(Date.now() + 1000).toISOString() })));
      setTimeout(() => holder.kill('SIGKILL'), 1500);
      const t0 = Date.now();
      const rec = await store.getOrRun(spec, async () => ({ result: 7 }));
      assert.equal(rec.result, 7);
      assert.ok(Date.now() - t0 >= 1400, 'it waited while the holder lived');
      assert.equal(store.running(spec), null);
    } finally {
      holder.kill();
      cleanup();
    }
  });
});
