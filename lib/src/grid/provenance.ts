/**
 * Where the runs a notebook shows were computed: a sweep's shards on
 * cluster nodes, local workers, or the notebook's own kernel. Read from
 * each record's environment, so a notebook can say which of its results
 * came from a cluster, and the report shows it.
 */
import type { RunRecord } from '../store';

export interface ProvenanceRow {
  /** 'Slurm job 12', 'Kubernetes Indexed Job', or 'no scheduler'. */
  computedBy: string;
  host: string;
  backend: string;
  runs: number;
  /** Training time of those runs, summed. */
  seconds: number;
}

export function runProvenance(records: readonly RunRecord[]): ProvenanceRow[] {
  const rows = new Map<string, ProvenanceRow>();
  for (const r of records) {
    const s = r.environment.scheduler;
    const computedBy =
      s?.system === 'slurm'
        ? `Slurm job ${s.arrayJobId ?? s.jobId}`
        : s?.system === 'kubernetes'
          ? 'Kubernetes Indexed Job'
          : 'no scheduler';
    const host = s?.system === 'slurm' && s.node ? s.node : r.environment.hostname;
    const backend = `${r.environment.backend}${r.environment.libtensorflow ? ` (libtensorflow ${r.environment.libtensorflow})` : ''}`;
    const id = `${computedBy}\0${host}\0${backend}`;
    const row = rows.get(id) ?? { computedBy, host, backend, runs: 0, seconds: 0 };
    row.runs += 1;
    row.seconds += r.seconds;
    rows.set(id, row);
  }
  return [...rows.values()].map((r) => ({ ...r, seconds: Math.round(r.seconds * 10) / 10 }));
}
