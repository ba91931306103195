/**
 * A benchmark child process prints one JSON result line on stdout. The
 * libraries it runs may print there too: with ONEDNN_VERBOSE=1, oneDNN logs
 * each primitive it runs (its version, implementation and time), which is
 * how one sees which convolution kernels TensorFlow and PyTorch pick.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { withHugePages, withoutHugePages } from '../lib/src/backend/huge-pages';

/**
 * The child's result (its last line that parses as a JSON object); every
 * other non-empty line is passed on, to stderr by default, so that such
 * logs reach the person running the benchmark instead of being dropped.
 */
export function resultLine(
  stdout: string,
  passOn: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Record<string, unknown> | null {
  const lines = stdout.split('\n').map((l) => l.trim());
  let result: Record<string, unknown> | null = null;
  let at = -1;
  for (let i = lines.length - 1; i >= 0 && result === null; i--) {
    if (!lines[i].startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(lines[i]);
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        result = v as Record<string, unknown>;
        at = i;
      }
    } catch {
      // not the result line
    }
  }
  lines.forEach((line, i) => {
    if (i !== at && line !== '') passOn(line);
  });
  return result;
}

/**
 * The environment of a bnlab benchmark child: this process's, with `settings`
 * (e.g. `npm run bench:env`'s) on top, then with or without transparent
 * huge pages (lib/src/backend/huge-pages.ts). A `GLIBC_TUNABLES` among the
 * settings keeps its tunables; huge pages are added to them or taken out.
 */
export function bnlabChildEnv(
  hugePages: boolean,
  settings: Readonly<Record<string, string>> = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env = { TF_CPP_MIN_LOG_LEVEL: '2', ...base, ...settings };
  return hugePages ? withHugePages(env) : withoutHugePages(env);
}

/**
 * Runs one bnlab benchmark child (`bench/train-throughput.ts --one <norm>`,
 * with `argv`'s options) in a fresh process, in bnlabChildEnv(hugePages,
 * settings), and returns its result line.
 */
export function runBnlabChild(
  norm: string,
  argv: readonly string[],
  hugePages: boolean,
  settings: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'train-throughput.ts'), ...argv, '--one', norm], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: bnlabChildEnv(hugePages, settings),
    cwd: path.resolve(__dirname, '..'),
  });
  if (r.status !== 0) throw new Error(`the bnlab ${norm} benchmark process exited with ${r.status ?? r.signal}`);
  const result = resultLine(r.stdout.toString());
  if (result === null) throw new Error(`the bnlab ${norm} benchmark process printed no result line`);
  return result;
}
