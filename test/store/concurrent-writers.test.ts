import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../data/helpers';

const root = path.resolve(__dirname, '..', '..');

/**
 * Shards on different nodes write into one store at once. Four processes
 * rewrite the same eight records (large ones, so a write takes a while)
 * while this process reads them in a loop: every read must parse and be
 * whole, whoever wrote last. Then a writer is SIGKILLed mid-stream: what it
 * leaves is at most a temporary file, never a record that looks complete.
 */
describe('the run store under concurrent writers', () => {
  it('never shows a partial record, and a killed writer leaves only a temporary file', async () => {
    const { dir, cleanup } = tempDir('store-concurrent');
    const writer = (id: number, rounds: number) =>
      spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          `const { writeFileAtomic } = require('./lib/src/store');
           const path = require('node:path');
           const payload = 'x'.repeat(400_000);
           for (let r = 0; r < ${rounds}; r++)
             for (let k = 0; k < 8; k++)
               writeFileAtomic(path.join(${JSON.stringify(dir)}, 'train', k.toString(16).padStart(16, '0') + '.json'), JSON.stringify({ writer: ${id}, round: r, payload }));`,
        ],
        { cwd: root, stdio: 'ignore' },
      );
    const done = (c: ReturnType<typeof spawn>) => new Promise<number | null>((resolve) => c.on('close', (code) => resolve(code)));
    const writers = [0, 1, 2, 3].map((id) => writer(id, 40));
    const finished = Promise.all(writers.map(done));
    let ended = false;
    void finished.then(() => (ended = true));
    let reads = 0;
    const trainDir = path.join(dir, 'train');
    while (!ended) {
      if (fs.existsSync(trainDir)) {
        for (const f of fs.readdirSync(trainDir).filter((x) => /^[0-9a-f]{16}\.json$/.test(x))) {
          let text: string;
          try {
            text = fs.readFileSync(path.join(trainDir, f), 'utf8');
          } catch {
            continue; // renamed over between the listing and the read: the next listing has it
          }
          const rec = JSON.parse(text); // throws on a partial record
          assert.equal(rec.payload.length, 400_000);
          reads++;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await finished, [0, 0, 0, 0]);
    assert.ok(reads > 20, `read ${reads} records while they were being written`);

    // A writer killed mid-stream.
    const victim = writer(9, 1000);
    await new Promise((r) => setTimeout(r, 1500));
    victim.kill('SIGKILL');
    await done(victim);
    for (const f of fs.readdirSync(trainDir)) {
      if (/^[0-9a-f]{16}\.json$/.test(f)) assert.equal(JSON.parse(fs.readFileSync(path.join(trainDir, f), 'utf8')).payload.length, 400_000);
      else assert.match(f, /\.json\.tmp-\d+-[a-z0-9]+$/, `only temporary files besides records, got ${f}`);
    }
    cleanup();
  });
});
