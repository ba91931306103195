/**
 * A benchmark child process prints one JSON result line on stdout. The
 * libraries it runs may print there too: with ONEDNN_VERBOSE=1, oneDNN logs
 * each primitive it runs (its version, implementation and time), which is
 * how one sees which convolution kernels TensorFlow and PyTorch pick.
 */

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
