import type { Readable } from 'node:stream';

/** Calls `fn` with each whole line a child's stream writes (a partial last line waits for the rest). */
export function onLines(stream: Readable, fn: (line: string) => void): void {
  stream.setEncoding('utf8');
  let buffered = '';
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) fn(line);
  });
  stream.on('end', () => {
    if (buffered) fn(buffered);
  });
}
