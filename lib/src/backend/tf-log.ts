/**
 * TensorFlow's C++ log on the native backend. By default bnlab keeps only
 * TensorFlow's errors (TF_CPP_MIN_LOG_LEVEL=2, unless the user set it), so
 * that a CLI command or a notebook does not start with TF's start-up notes
 * (oneDNN, AVX). BNLAB_TF_LOG brings them back:
 *
 *   unset, 0, off   quiet: TF_CPP_MIN_LOG_LEVEL as the user set it, else 2
 *   1, on, all      TF's own logging: bnlab changes nothing
 *   info, warning,  that severity and above (TF_CPP_MIN_LOG_LEVEL 0, 1, 2, 3)
 *   error, fatal
 *
 * TF applies TF_CPP_MIN_LOG_LEVEL only once it has loaded: what its static
 * initialisers log while the library loads ("oneDNN custom operations are
 * on", absl's notice) reaches stderr at any level. So bnlab opens tfjs-node's
 * addon (which loads the library) with file descriptor 2 redirected to a
 * temporary file (lib/native's stderr-redirect addon, built by `npm run
 * setup`) and writes back the lines at the chosen level; without that addon
 * it opens it unredirected.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What BNLAB_TF_LOG asks for: TF's own logging, or this minimum level (TF_CPP_MIN_LOG_LEVEL's scale). */
export type TfLogChoice = { own: true } | { own: false; minLevel: number };

const LEVELS: Record<string, number> = { info: 0, warning: 1, error: 2, fatal: 3 };
const SEVERITY: Record<string, number> = { I: 0, W: 1, E: 2, F: 3 };
const DEFAULT_LEVEL = 2;

export function tfLogChoice(env: NodeJS.ProcessEnv = process.env): TfLogChoice {
  const v = (env.BNLAB_TF_LOG ?? '').trim().toLowerCase();
  if (['1', 'on', 'true', 'all'].includes(v)) return { own: true };
  if (v in LEVELS) return { own: false, minLevel: LEVELS[v] };
  if (!['', '0', 'off', 'false'].includes(v)) {
    throw new Error(
      `BNLAB_TF_LOG=${env.BNLAB_TF_LOG} is not a choice bnlab knows; use 1 (TF's own logging), 0 (quiet), or one of ${Object.keys(LEVELS).join(', ')}`,
    );
  }
  const user = env.TF_CPP_MIN_LOG_LEVEL?.trim();
  // TF reads a value it cannot parse as 0.
  return { own: false, minLevel: user ? Number.parseInt(user, 10) || 0 : DEFAULT_LEVEL };
}

/**
 * The lines of TF's log at severity minLevel or above (I, W, E, F = 0…3; a
 * FATAL line is always kept, as TF does). A line without TF's prefix
 * continues the one before it; text before the first prefixed line is kept.
 */
export function filterTfLog(text: string, minLevel: number): string {
  let keep = true;
  let out = '';
  for (const line of text.split(/(?<=\n)/)) {
    // absl: "I0000 00:00:1796393784.338345   15469 port.cc:153] …"; TF's own: "2025-01-30 22:44:42.456316: I tensorflow/… ] …".
    const m =
      /^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] /.exec(line) ??
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) \S+:\d+\] /.exec(line);
    if (m) keep = SEVERITY[m[1]] >= Math.min(minLevel, SEVERITY.F);
    // absl's note on where those lines go: information, not a warning about TF.
    else if (line.startsWith('WARNING: All log messages before absl::InitializeLog() is called are written to STDERR'))
      keep = minLevel <= SEVERITY.I;
    if (keep) out += line;
  }
  return out;
}

interface StderrRedirect {
  redirect(file: string): number;
  restore(saved: number): void;
}

function stderrRedirect(): StderrRedirect | null {
  // lib/native/build, from lib/src/backend (tsx) and lib/dist/backend alike.
  const addon = path.resolve(__dirname, '..', '..', 'native', 'build', 'stderr_redirect.node');
  if (!fs.existsSync(addon)) return null;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require(addon) as StderrRedirect;
}

/**
 * Runs load() (the opening of tfjs-node's addon) with TF's log at the level
 * BNLAB_TF_LOG chooses: sets TF_CPP_MIN_LOG_LEVEL first, and filters what is
 * written to stderr while load() runs.
 */
export function withTfLog<T>(load: () => T): T {
  const choice = tfLogChoice();
  if (choice.own) return load();
  process.env.TF_CPP_MIN_LOG_LEVEL = String(choice.minLevel);
  const redirect = choice.minLevel > 0 ? stderrRedirect() : null;
  if (!redirect) return load();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-tf-log-'));
  const file = path.join(dir, 'stderr');
  const saved = redirect.redirect(file);
  try {
    return load();
  } finally {
    redirect.restore(saved);
    const kept = filterTfLog(fs.readFileSync(file, 'utf8'), choice.minLevel);
    fs.rmSync(dir, { recursive: true, force: true });
    if (kept) process.stderr.write(kept);
  }
}
