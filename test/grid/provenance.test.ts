import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runProvenance } from '../../lib/src/grid';
import type { RunEnvironment, RunRecord } from '../../lib/src/store';

const env = (extra: Partial<RunEnvironment>): RunEnvironment => ({ backend: 'tensorflow', libtensorflow: '2.21.0', tfjs: '4.22.0', node: '20', platform: 'linux-x64', cpus: 2, hostname: 'login1', ...extra });
const rec = (seconds: number, environment: RunEnvironment) => ({ seconds, environment }) as RunRecord;

describe('runProvenance', () => {
  it('groups runs by who computed them and where, with their summed training time', () => {
    const rows = runProvenance([
      rec(2, env({ hostname: 'n1', scheduler: { system: 'slurm', jobId: '13', arrayJobId: '12', arrayTaskId: 0, node: 'n1' } })),
      rec(3, env({ hostname: 'n2', scheduler: { system: 'slurm', jobId: '14', arrayJobId: '12', arrayTaskId: 1, node: 'n2' } })),
      rec(4, env({ hostname: 'n1', scheduler: { system: 'slurm', jobId: '15', arrayJobId: '12', arrayTaskId: 2, node: 'n1' } })),
      rec(1.25, env({})),
    ]);
    assert.deepEqual(rows, [
      { computedBy: 'Slurm job 12', host: 'n1', backend: 'tensorflow (libtensorflow 2.21.0)', runs: 2, seconds: 6 },
      { computedBy: 'Slurm job 12', host: 'n2', backend: 'tensorflow (libtensorflow 2.21.0)', runs: 1, seconds: 3 },
      { computedBy: 'no scheduler', host: 'login1', backend: 'tensorflow (libtensorflow 2.21.0)', runs: 1, seconds: 1.3 },
    ]);
  });
});
