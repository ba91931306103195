/**
 * `npm run bench:env`: what a setting of the environment buys bnlab's
 * ResNet-20 training step (batch 128, as `npm run bench`): one that a
 * process reads once as it starts, such as TensorFlow's and oneDNN's
 * variables (`TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD`,
 * `TF_ONEDNN_USE_SYSTEM_ALLOCATOR`, `TF_NUM_INTRAOP_THREADS`, …), bnlab's
 * `BNLAB_TF_THREAD_SPINNING=off` (TF's idle threads sleep at once), or glibc's
 * tunables (`GLIBC_TUNABLES`).
 *
 *   npm run bench:env -- --set NAME=value [--set NAME=value …] [--norms batch,none] [--rounds 6] [--steps 20] [--warmup 4]
 *
 * Each round runs, per model, one process with the settings on top of this
 * environment and one in this environment as it is, in an order that flips
 * every round (bench/process-ab.ts). Both sides start with transparent huge
 * pages, as every bnlab process does; a `GLIBC_TUNABLES` among the settings
 * keeps them unless it sets `glibc.malloc.hugetlb` itself. The ratio is the
 * median over rounds of without / with: above 1 means the settings help.
 * One JSON line per process, then one per model with the ratios.
 */
import { runBnlabChild } from './child-output';
import { AB_OPTIONS, alternateProcesses, parseAbArgs } from './process-ab';

/** `NAME=value` as [NAME, value]; NAME as a shell variable's (letters, digits, _; not a digit first). */
export function parseSetting(text: string): [string, string] {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(text);
  if (!m) throw new Error(`--set takes NAME=value (an environment variable's name, then =), got ${JSON.stringify(text)}`);
  return [m[1], m[2]];
}

/** The options: the common ones (process-ab.ts) and the settings, at least one, each name once. */
export function parseEnvAbArgs(argv: readonly string[]): ReturnType<typeof parseAbArgs> & { settings: Record<string, string> } {
  const settings: Record<string, string> = {};
  const a = parseAbArgs(
    argv,
    (k, v) => {
      if (k !== '--set') return false;
      const [name, value] = parseSetting(v());
      if (name in settings) throw new Error(`--set ${name} is given twice`);
      settings[name] = value;
      return true;
    },
    `--set, ${AB_OPTIONS}`,
  );
  if (Object.keys(settings).length === 0) throw new Error('give the settings to measure: --set NAME=value (one or more)');
  return { ...a, settings };
}

async function main() {
  const a = parseEnvAbArgs(process.argv.slice(2));
  const steps = ['--steps', String(a.steps), '--warmup', String(a.warmup)];
  const shown = Object.entries(a.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  console.error(
    `[bench:env] ${a.rounds} rounds; per round and model, one bnlab process with ${shown} and one without (${a.warmup} warm-up + ${a.steps} timed steps each)`,
  );
  const summaries = await alternateProcesses(
    [{ framework: 'bnlab', run: (norm, on) => runBnlabChild(norm, steps, true, on ? a.settings : {}) }],
    a.norms,
    a.rounds,
    (r, round, on) => console.log(JSON.stringify({ ...r, round, settingsApplied: on })),
    (round) => console.error(`[bench:env] round ${round} of ${a.rounds}`),
  );
  for (const s of summaries) console.log(JSON.stringify({ compare: 'without / with the settings', settings: a.settings, ...s }));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`[bench:env] ${err.message}`);
    process.exit(1);
  });
}
