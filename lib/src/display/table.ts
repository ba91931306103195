/**
 * A table of tidy rows as a notebook output: markdown, which JupyterLab and
 * the report both render as a real table (console.table's box drawing stays
 * text in both), with a plain-text copy for terminals.
 */
import { kernelChannel, sendWhenFree } from './kernel';

type Cell = string | number | boolean | null | undefined;

function cellText(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
  // A pipe would end the cell early, and a newline the row.
  return String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The markdown of a table: one column per key of the rows, in order of appearance; numbers to 4 significant digits. */
export function markdownTable(records: readonly object[], caption?: string): string {
  const rows = records as readonly Record<string, Cell>[];
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  if (columns.length === 0) return caption ? `${caption}\n\n(no rows)` : '(no rows)';
  const lines = [`| ${columns.map((c) => cellText(c)).join(' | ')} |`, `| ${columns.map((c) => (rows.every((r) => r[c] === undefined || r[c] === null || typeof r[c] === 'number') ? '---:' : '---')).join(' | ')} |`];
  for (const r of rows) lines.push(`| ${columns.map((c) => cellText(r[c])).join(' | ')} |`);
  return [caption ? `**${caption}**\n` : '', ...lines].filter((l) => l !== '').join('\n');
}

/** Shows rows as a table in the notebook; outside a kernel, prints them. Await it, like show(). */
export async function showTable(rows: readonly object[], opts: { caption?: string } = {}): Promise<void> {
  const md = markdownTable(rows, opts.caption);
  const channel = kernelChannel({ pin: true });
  if (!channel) {
    console.log(md);
    return;
  }
  if (!(await sendWhenFree(channel, { 'text/markdown': md, 'text/plain': md }))) process.stderr.write("bnlab showTable(): the kernel's output socket stayed busy; the table was not sent\n");
}
