import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { slurmAvailable, startSlurmCluster, type SlurmCluster } from '../helpers/slurm-cluster';

const exec = promisify(execFile);

/**
 * The throwaway Slurm cluster the sweep tests run against. Without Slurm
 * (or root) it skips on a workstation; CI installs Debian's packages in
 * .ci/run and sets BNLAB_REQUIRE_SLURM=1, and then it fails instead.
 */
const avail = slurmAvailable();
const skip = !avail.ok && !process.env.BNLAB_REQUIRE_SLURM ? `${avail.why}; CI sets BNLAB_REQUIRE_SLURM=1 and fails instead` : false;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('test Slurm cluster', () => {
  let cluster: SlurmCluster | undefined;
  after(() => cluster?.stop());

  it('runs an array job across both nodes, then stops every daemon it started', { skip, timeout: 60_000 }, async () => {
    assert.ok(avail.ok, `Slurm required by BNLAB_REQUIRE_SLURM but unavailable: ${avail.ok ? '' : avail.why}`);
    cluster = await startSlurmCluster({ nodes: 2, cpusPerNode: 1 });
    const c = cluster;
    assert.deepEqual(c.nodes, ['n1', 'n2']);
    assert.match(fs.readFileSync(c.conf, 'utf8'), /^AuthInfo=socket=/m);

    const { stdout } = await exec(
      'sbatch',
      ['--parsable', '--array=0-3', '--cpus-per-task=1', `--output=${c.dir}/job-%A_%a.out`, '--wrap', 'echo "$SLURM_ARRAY_TASK_ID $SLURMD_NODENAME"; sleep 1'],
      { env: c.env },
    );
    const jobId = stdout.trim().split(';')[0];
    assert.match(jobId, /^\d+$/);

    // Done when squeue no longer lists any task of the array (finished jobs
    // leave squeue's default view but stay in scontrol's, MinJobAge=600).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const q = await exec('squeue', ['-h', '-j', jobId, '-o', '%i %T'], { env: c.env });
      if (q.stdout.trim() === '') break;
      assert.ok(Date.now() < deadline, `job ${jobId} still queued after 20 s:\n${q.stdout}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const show = await exec('scontrol', ['-o', 'show', 'job', jobId], { env: c.env });
    const states = show.stdout.trim().split('\n').map((l) => `${/ArrayTaskId=(\S+)/.exec(l)?.[1]} ${/JobState=(\S+)/.exec(l)?.[1]} ${/ExitCode=(\S+)/.exec(l)?.[1]}`);
    assert.deepEqual(states.sort(), ['0 COMPLETED 0:0', '1 COMPLETED 0:0', '2 COMPLETED 0:0', '3 COMPLETED 0:0']);

    const ran = new Map<string, string>();
    for (let i = 0; i < 4; i++) {
      const out = fs.readFileSync(path.join(c.dir, `job-${jobId}_${i}.out`), 'utf8').trim();
      const [task, node] = out.split(' ');
      assert.equal(task, String(i), `output of task ${i}: ${out}`);
      ran.set(task, node);
    }
    assert.deepEqual([...new Set(ran.values())].sort(), ['n1', 'n2'], `tasks ran on ${JSON.stringify([...ran])}`);

    // munged, slurmctld and one slurmd per node, all ours and all gone after stop().
    assert.equal(c.pids.length, 4);
    assert.ok(c.pids.every(alive), 'every daemon is running before stop()');
    await c.stop();
    assert.deepEqual(c.pids.filter(alive), [], 'daemons still alive after stop()');
    assert.equal(fs.existsSync(c.dir), false);
    await c.stop(); // idempotent
  });
});
