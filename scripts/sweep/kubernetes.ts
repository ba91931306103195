/**
 * The same sweep as a Kubernetes Indexed Job: `completions` pods, each
 * given its shard by the Job controller in JOB_COMPLETION_INDEX, which
 * `sweep --shard auto/n` reads. The run store is a ReadWriteMany volume
 * (NFS, CephFS, …) mounted in every pod, as the shared filesystem is under
 * Slurm. Written as JSON, which kubectl applies like YAML.
 */
import { HUGE_PAGES_TUNABLE } from '../../lib/src/backend/huge-pages';

export interface KubernetesOptions {
  /** An image with this project at `workdir`, `npm ci` and `npm run setup` done. */
  image: string;
  workdir: string;
  /** The PersistentVolumeClaim (ReadWriteMany) holding the run store, mounted at /runs. */
  claim: string;
  shards: number;
  /** Pods at once (the Job's parallelism). */
  parallelism: number;
  cpus: number;
  memory?: string;
  /** Retries per index before that index counts as failed (backoffLimitPerIndex). */
  retriesPerIndex: number;
}

export const STORE_MOUNT = '/runs';

export function indexedJobManifest(o: KubernetesOptions & { name: string; gridArg: string; profile: string }): Record<string, unknown> {
  const resources = { cpu: String(o.cpus), ...(o.memory ? { memory: o.memory } : {}) };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: o.name, labels: { app: 'bnlab-sweep' } },
    spec: {
      completionMode: 'Indexed',
      completions: o.shards,
      parallelism: o.parallelism,
      // Per-index retries (Kubernetes ≥ 1.29): a failed shard is retried on
      // its own without failing the others; a retry skips its finished runs.
      backoffLimitPerIndex: o.retriesPerIndex,
      template: {
        metadata: { labels: { app: 'bnlab-sweep' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'shard',
              image: o.image,
              workingDir: o.workdir,
              command: ['node', '--import', 'tsx', 'scripts/sweep.ts', o.gridArg, '--profile', o.profile, '--shard', `auto/${o.shards}`],
              env: [
                { name: 'BNLAB_RUNS_DIR', value: STORE_MOUNT },
                { name: 'BNLAB_PROFILE', value: o.profile },
                // A pod sees every core of its node; size TensorFlow to its CPU limit instead.
                { name: 'BNLAB_THREADS', value: String(o.cpus) },
                { name: 'TF_CPP_MIN_LOG_LEVEL', value: '2' },
                // TensorFlow's buffers in transparent huge pages (lib/src/backend/huge-pages.ts).
                { name: 'GLIBC_TUNABLES', value: HUGE_PAGES_TUNABLE },
              ],
              resources: { requests: resources, limits: resources },
              volumeMounts: [{ name: 'runs', mountPath: STORE_MOUNT }],
            },
          ],
          volumes: [{ name: 'runs', persistentVolumeClaim: { claimName: o.claim } }],
        },
      },
    },
  };
}
