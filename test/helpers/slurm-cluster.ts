/**
 * A throwaway Slurm cluster on this machine, for tests: one munged, one
 * slurmctld and N slurmd (all on 127.0.0.1, each slurmd with its own port),
 * configured in a fresh temp dir and started as child processes of the test
 * so that stop() can end exactly them, by PID.
 *
 * Needs Debian's `slurmctld slurmd slurm-client munge` (CI installs them in
 * .ci/run) and root: slurmd has to run jobs as the submitting user and
 * munged has to be started as the munge user, who owns /etc/munge/munge.key.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface SlurmCluster {
  /** Temp dir holding slurm.conf, state, spools, logs. Removed by stop(). */
  dir: string;
  /** Path of slurm.conf. */
  conf: string;
  /** process.env plus SLURM_CONF: what any client (sbatch, squeue, scontrol, scancel, sinfo) call needs. */
  env: NodeJS.ProcessEnv;
  /** Node names, e.g. ['n1', 'n2']. */
  nodes: string[];
  /** PIDs of the daemons this helper started (munged, slurmctld, slurmd...), for tests that check cleanup. */
  pids: number[];
  /**
   * Cancels any job still in the cluster (so no slurmstepd is left running a
   * job script), then stops only the daemons this helper started, by PID
   * (SIGTERM, wait, then SIGKILL), waits for them to exit and removes `dir`.
   * Idempotent.
   */
  stop(): Promise<void>;
}

const KEY_FILE = '/etc/munge/munge.key';
const DAEMONS = ['munged', 'slurmctld', 'slurmd'] as const;
const CLIENTS = ['sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo'] as const;

/** Finds an executable on PATH or in the sbin dirs (a non-login root PATH may lack them). */
function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** uid and gid of a local user, or undefined when there is no such user. */
function userIds(name: string): { uid: number; gid: number } | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  const f = r.status === 0 ? r.stdout.trim().split(':') : [];
  return f.length >= 4 ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

/** Whether the Slurm and munge binaries are installed and we can run them (root), with the reason if not. */
export function slurmAvailable(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `Slurm test cluster needs Linux, not ${process.platform}` };
  const missing = [...DAEMONS, ...CLIENTS].filter((b) => !which(b));
  if (missing.length > 0) {
    return { ok: false, why: `missing ${missing.join(', ')} (apt-get install slurmctld slurmd slurm-client munge)` };
  }
  if (!which('setpriv')) return { ok: false, why: 'missing setpriv (util-linux)' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'the Slurm test cluster must run as root (slurmd runs jobs as their user, munged as munge)' };
  if (!userIds('munge')) return { ok: false, why: 'no munge user (is the munge package installed?)' };
  if (!fs.existsSync(KEY_FILE)) return { ok: false, why: `no munge key at ${KEY_FILE}` };
  return { ok: true };
}

/** `n` distinct TCP ports that were free a moment ago (all held open together so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      // No host: the daemons bind the wildcard address, so check that one.
      ports.push(
        await new Promise<number>((resolve, reject) => {
          srv.on('error', reject);
          srv.listen(0, () => resolve((srv.address() as net.AddressInfo).port));
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  running: boolean;
}

/**
 * PIDs of the processes that belong to the cluster of `conf`, found by the
 * SLURM_CONF=<conf> in their initial environment (/proc/<pid>/environ): the
 * daemons (started with it), the slurmstepd that slurmd forks for each job
 * (they inherit slurmd's environment and are not our children), and job
 * scripts submitted with `cluster.env`. The conf path contains the random
 * mkdtemp name, so this never matches another cluster or anything else.
 */
function clusterPids(conf: string): number[] {
  const needle = Buffer.from(`\0SLURM_CONF=${conf}\0`);
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${name}/environ`), Buffer.from([0])]);
      if (env.includes(needle)) pids.push(Number(name));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return pids;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Daemons, and the conf of each cluster, of this process that are still
 * running. If the test process exits without stop() (an uncaught error,
 * process.exit), the 'exit' handler SIGKILLs them and whatever else belongs
 * to those clusters. A process killed outright runs no handler: for that each
 * daemon is started through `setpriv --pdeathsig=KILL`, so the kernel kills
 * it when we die, and a watchdog (below) cleans up the job steps.
 */
const live = new Set<Daemon>();
const liveConfs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    killAll([...live].map((d) => d.child.pid!));
    for (const conf of liveConfs) killAll(clusterPids(conf));
  });
}

/**
 * A detached shell that outlives a test process killed outright (SIGKILL, or
 * a runner's SIGTERM, which skips 'exit' handlers) and then SIGKILLs what is
 * left of the cluster. pdeathsig already takes the daemons down, but
 * slurmstepd processes are forked by slurmd, not by us: without their
 * slurmd and slurmctld they would keep retrying "job complete" RPCs for over
 * an hour (240 retries). stop() kills the watchdog when it is no longer
 * needed. It has no SLURM_CONF itself, so it never matches its own search.
 */
function startWatchdog(conf: string): ChildProcess {
  const script = `
    while kill -0 "$1" 2>/dev/null; do sleep 1; done
    for e in /proc/[0-9]*/environ; do
      if tr '\\0' '\\n' < "$e" 2>/dev/null | grep -qxF "SLURM_CONF=$2"; then
        p=\${e#/proc/}; kill -KILL "\${p%/environ}" 2>/dev/null
      fi
    done`;
  const w = spawn('/bin/sh', ['-c', script, 'bnlab-slurm-watchdog', String(process.pid), conf], { detached: true, stdio: 'ignore' });
  w.unref();
  return w;
}

function startDaemon(name: string, argv: string[], logFile: string, env: NodeJS.ProcessEnv, setprivArgs: string[] = []): Daemon {
  const out = fs.openSync(logFile, 'a');
  // setpriv execs the daemon (same PID, so stop() signals the daemon itself);
  // --pdeathsig makes the kernel SIGKILL it if this test process dies.
  const child = spawn(which('setpriv')!, [...setprivArgs, '--pdeathsig=KILL', '--', ...argv], {
    stdio: ['ignore', out, out],
    env,
  });
  fs.closeSync(out);
  const d: Daemon = { name, child, running: true, exited: Promise.resolve() };
  d.exited = new Promise<void>((resolve) => {
    const done = () => {
      d.running = false;
      live.delete(d);
      resolve();
    };
    child.once('exit', done);
    child.once('error', done); // could not spawn at all
  });
  if (child.pid !== undefined) live.add(d);
  return d;
}

async function stopDaemons(daemons: Daemon[], graceMs = 5000): Promise<void> {
  const running = daemons.filter((d) => d.running);
  for (const d of running) d.child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  await Promise.race([Promise.all(running.map((d) => d.exited)), timer]);
  for (const d of running) if (d.running) d.child.kill('SIGKILL');
  await Promise.all(running.map((d) => d.exited));
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(which(cmd) ?? cmd, args, { env, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const code = typeof err.code === 'number' ? err.code : -1;
      const why = err.killed ? `${cmd} timed out after ${timeoutMs} ms` : code === -1 ? err.message : '';
      resolve({ code, stdout, stderr: [stderr.trim(), why].filter(Boolean).join('\n') });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd();
    return text ? text.split('\n').slice(-lines).join('\n') : '(empty)';
  } catch (e) {
    return `(unreadable: ${(e as Error).message})`;
  }
}

function slurmConf(o: {
  dir: string;
  host: string;
  ctldPort: number;
  mungeSocket: string;
  nodes: { name: string; port: number }[];
  cpusPerNode: number;
}): string {
  const { dir } = o;
  return `# Written by test/helpers/slurm-cluster.ts for one test run; thrown away afterwards.
ClusterName=bnlab-test
# The address in parentheses means slurmctld and the clients never need this
# hostname to resolve; the name itself must be the short hostname or
# slurmctld refuses to act as the controller.
SlurmctldHost=${o.host}(127.0.0.1)
SlurmctldPort=${o.ctldPort}
# Everything as root: no slurm user, directory ownership or setuid concerns.
SlurmUser=root
SlurmdUser=root

AuthType=auth/munge
CredType=cred/munge
# socket=: our own munged (see munge/ in this dir), not the system one, so a
# munged the machine may already run is never used or disturbed. Both
# auth/munge and cred/munge read it. cred_expire=5 (default 120 s): a
# requeued job may only start again once its old credential expired, so this
# brings a requeue down from ~2 min to ~6 s.
AuthInfo=socket=${o.mungeSocket},cred_expire=5

StateSaveLocation=${dir}/state
SlurmctldPidFile=${dir}/run/slurmctld.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
# %n is the node name: several slurmd on one host (Debian builds Slurm with
# multiple-slurmd support), each with its own spool, pid and log.
SlurmdSpoolDir=${dir}/spool/%n
SlurmdPidFile=${dir}/run/slurmd-%n.pid
SlurmdLogFile=${dir}/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info

# No cgroups here (containers, no systemd): track job processes through
# /proc, and bind no tasks to CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: sacct does not work, clients use squeue and scontrol.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none

# Schedule by CPU only, so a 1-CPU node runs one 1-CPU task at a time.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# The defaults are tuned for big clusters and make a test wait seconds to
# minutes: batch jobs may be held back up to batch_sched_delay=3 s, the full
# main and backfill passes run every sched_interval=60 s and bf_interval=30 s.
# With these (and sched_min_interval=0: no minimum gap at all between the
# passes a submission or job end triggers) a submitted job starts in well
# under a second and a freed CPU is refilled at once.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
# Short grace between SIGTERM and SIGKILL when a job is cancelled or times out
# (default 30 s), so scancel/timeouts settle quickly.
KillWait=3
# Keep finished jobs in slurmctld's memory (default 300 s) so scontrol show
# job still reports their state and exit code when a test looks.
MinJobAge=600
# A node that was down (a killed slurmd) returns to service as soon as it
# registers again, instead of needing scontrol update.
ReturnToService=2
# Trust the node lines below over the hardware slurmd detects, so CPUs= can
# differ from this machine's core count without the node being drained.
SlurmdParameters=config_overrides

${o.nodes.map((n) => `NodeName=${n.name} NodeAddr=127.0.0.1 Port=${n.port} CPUs=${o.cpusPerNode} State=UNKNOWN`).join('\n')}
PartitionName=debug Nodes=${o.nodes.map((n) => n.name).join(',')} Default=YES MaxTime=INFINITE State=UP
`;
}

/**
 * Starts munged, slurmctld and `nodes` slurmd daemons; resolves when `sinfo`
 * shows every node idle. On failure, stops what it started and throws an
 * error including the tail of the daemons' logs (the dir is then kept).
 */
export async function startSlurmCluster(opts: { nodes?: number; cpusPerNode?: number; timeoutMs?: number } = {}): Promise<SlurmCluster> {
  const nNodes = opts.nodes ?? 2;
  const cpusPerNode = opts.cpusPerNode ?? 1;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  if (!(Number.isInteger(nNodes) && nNodes >= 1 && Number.isInteger(cpusPerNode) && cpusPerNode >= 1)) {
    throw new Error(`startSlurmCluster: nodes and cpusPerNode must be positive integers, not ${nNodes} and ${cpusPerNode}`);
  }
  const avail = slurmAvailable();
  if (!avail.ok) throw new Error(`cannot start a Slurm test cluster: ${avail.why}`);
  installExitHook();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-slurm-'));
  // munged runs as the munge user, who must be able to reach munge/ (mkdtemp
  // makes 0700); and munged refuses a socket dir that is not searchable by
  // all ("Socket is inaccessible: execute permissions for all required").
  fs.chmodSync(dir, 0o755);
  for (const sub of ['state', 'run', 'log', 'spool', 'munge']) fs.mkdirSync(path.join(dir, sub));
  const munge = userIds('munge')!;
  const mungeDir = path.join(dir, 'munge');
  fs.chownSync(mungeDir, munge.uid, munge.gid);
  fs.chmodSync(mungeDir, 0o755);
  const conf = path.join(dir, 'slurm.conf');
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };
  const nodeNames = Array.from({ length: nNodes }, (_, i) => `n${i + 1}`);
  const daemons: Daemon[] = [];
  const logDir = path.join(dir, 'log');
  liveConfs.add(conf);
  const watchdog = startWatchdog(conf);

  let stopped: Promise<void> | undefined;
  const stop = (cancelJobs: boolean): Promise<void> =>
    (stopped ??= (async () => {
      const ctld = daemons.find((d) => d.name === 'slurmctld');
      if (cancelJobs && ctld?.running) await cancelAll(env);
      // The Slurm daemons together (a wedged one costs the grace period only
      // once), munged last: the others authenticate through it until gone.
      await stopDaemons(daemons.filter((d) => d.name !== 'munged'));
      await stopDaemons(daemons.filter((d) => d.name === 'munged'));
      // Whatever cancelAll could not end (say slurmctld was wedged): job
      // steps and scripts of this cluster only.
      killAll(clusterPids(conf));
      liveConfs.delete(conf);
      watchdog.kill('SIGKILL');
    })());

  const fail = async (why: string): Promise<never> => {
    await stop(false); // no job was submitted yet, and slurmctld may not answer
    // In the foreground the Slurm daemons log to stderr (*.out) as well as
    // to their log file; show the log file, or the .out when there is none
    // (a daemon that died before opening it, or munged, which has only that).
    const files = fs.readdirSync(logDir).sort();
    const logs = files
      .filter((f) => !(f.endsWith('.out') && files.includes(f.replace(/\.out$/, '.log')) && fs.statSync(path.join(logDir, f.replace(/\.out$/, '.log'))).size > 0))
      .map((f) => `--- ${path.join(logDir, f)} (tail)\n${tail(path.join(logDir, f))}`)
      .join('\n');
    throw new Error(`Slurm test cluster did not start: ${why}\n(${dir} is kept for a look)\n${logs}`);
  };

  try {
    // Our own munged, with socket, pid, seed and log in this dir: a munged
    // the machine may already run (on /run/munge) is neither used nor
    // disturbed, and nothing outside the dir is written. -F keeps it in the
    // foreground so its PID is the one we hold. It uses Debian's key (any
    // key works, as everything here talks to this one munged).
    const mungeSocket = path.join(mungeDir, 'munge.socket');
    daemons.push(
      startDaemon(
        'munged',
        [which('munged')!, '-F', `--socket=${mungeSocket}`, `--pid-file=${mungeDir}/munged.pid`, `--log-file=${mungeDir}/munged.log`, `--seed-file=${mungeDir}/munged.seed`, `--key-file=${KEY_FILE}`],
        path.join(logDir, 'munged.out'),
        env,
        [`--reuid=${munge.uid}`, `--regid=${munge.gid}`, '--init-groups'],
      ),
    );
    const deadline = Date.now() + timeoutMs;
    while (!fs.existsSync(mungeSocket)) {
      if (!daemons[0].running) return await fail('munged exited');
      if (Date.now() > deadline) return await fail(`munged made no socket at ${mungeSocket}`);
      await sleep(50);
    }

    const ports = await freePorts(1 + nNodes);
    const host = os.hostname().split('.')[0];
    fs.writeFileSync(
      conf,
      slurmConf({ dir, host, ctldPort: ports[0], mungeSocket, cpusPerNode, nodes: nodeNames.map((name, i) => ({ name, port: ports[1 + i] })) }),
    );
    for (const n of nodeNames) fs.mkdirSync(path.join(dir, 'spool', n));

    // -D: foreground, so the PID we hold is the daemon itself. Their stderr
    // goes to *.out next to their own logs, for messages from before the log
    // file is open. (slurmctld's complaints about missing state files are
    // normal on a first start.)
    daemons.push(startDaemon('slurmctld', [which('slurmctld')!, '-D', '-f', conf], path.join(logDir, 'slurmctld.out'), env));
    for (const n of nodeNames) {
      daemons.push(startDaemon(`slurmd-${n}`, [which('slurmd')!, '-D', '-N', n, '-f', conf], path.join(logDir, `slurmd-${n}.out`), env));
    }

    let last = '';
    for (;;) {
      const dead = daemons.find((d) => !d.running);
      if (dead) return await fail(`${dead.name} exited (code ${dead.child.exitCode}, signal ${dead.child.signalCode})`);
      const r = await run('sinfo', ['-h', '-N', '-o', '%N %T'], env, Math.max(1000, Math.min(5000, deadline - Date.now())));
      last = (r.stdout + r.stderr).trim();
      if (r.code === 0) {
        const state = new Map(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/) as [string, string]));
        if (nodeNames.every((n) => state.get(n) === 'idle')) break;
      }
      if (Date.now() > deadline) return await fail(`not every node idle after ${timeoutMs} ms; last sinfo: ${last}`);
      await sleep(200);
    }
  } catch (e) {
    if ((e as Error).message.startsWith('Slurm test cluster did not start')) throw e;
    return await fail((e as Error).stack ?? String(e));
  }

  const cluster: SlurmCluster = {
    dir,
    conf,
    env,
    nodes: nodeNames,
    pids: daemons.map((d) => d.child.pid!),
    stop: async () => {
      await stop(true);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/**
 * Cancels every job of this (private) cluster and waits briefly for them to
 * leave squeue, so that no slurmstepd keeps running a job script once the
 * daemons are gone. Best effort: stop() goes on regardless.
 */
async function cancelAll(env: NodeJS.ProcessEnv): Promise<void> {
  const q = await run('squeue', ['-h', '-o', '%i'], env, 5000);
  if (q.code !== 0 || q.stdout.trim() === '') return;
  const ids = [...new Set(q.stdout.trim().split(/\s+/).map((id) => id.split('_')[0]))];
  await run('scancel', ids, env, 5000);
  // KillWait=3 plus a little: by then the steps are gone.
  const deadline = Date.now() + 6000;
  while (Date.now() < deadline) {
    const r = await run('squeue', ['-h', '-o', '%i'], env, 5000);
    if (r.code !== 0 || r.stdout.trim() === '') return;
    await sleep(200);
  }
}
