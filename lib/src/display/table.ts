/**
 * A table of tidy rows as a notebook output: markdown, which JupyterLab and
 * the report both render as a real table (console.table's box drawing stays
 * text in both), with a plain-text copy for terminals. The one table path of
 * the notebooks: every table they show goes through showTable.
 */
import { kernelChannel, sendWhenFree } from './kernel';

type Cell = string | number | boolean | null | undefined;

export interface TableOptions {
  /** A bold line above the table. */
  caption?: string;
  /**
   * The columns, in order, as [key, title]: a table that names its columns
   * in words (Table 1's "mean |Σd|") rather than by its rows' keys. Default:
   * every key of the rows in order of appearance, titled by the key.
   */
  columns?: readonly (readonly [key: string, title: string])[];
  /** How a number is written. Default: an integer as it is, any other to 4 significant digits. */
  format?: (v: number) => string;
}

/** The default number format: integers whole (a step count, a seed), others to 4 significant digits. */
function defaultNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
}

/** Text for a cell: pipes and line breaks would end the cell or the row. */
function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function cellText(v: Cell, format: (v: number) => string): string {
  if (v === null || v === undefined) return '';
  return escapeCell(typeof v === 'number' ? format(v) : String(v));
}

/** The markdown of a table; numeric columns are right-aligned. */
export function markdownTable(records: readonly object[], opts: TableOptions = {}): string {
  const rows = records as readonly Record<string, Cell>[];
  const columns = opts.columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))].map((k) => [k, k] as const);
  const caption = opts.caption;
  if (columns.length === 0) return caption ? `${caption}\n\n(no rows)` : '(no rows)';
  const format = opts.format ?? defaultNumber;
  const numeric = (key: string) => rows.every((r) => r[key] === undefined || r[key] === null || typeof r[key] === 'number');
  const lines = [
    `| ${columns.map(([, title]) => escapeCell(title)).join(' | ')} |`,
    `| ${columns.map(([key]) => (numeric(key) ? '---:' : '---')).join(' | ')} |`,
  ];
  for (const r of rows) lines.push(`| ${columns.map(([key]) => cellText(r[key], format)).join(' | ')} |`);
  return [caption ? `**${caption}**\n` : '', ...lines].filter((l) => l !== '').join('\n');
}

/** Shows rows as a table in the notebook; outside a kernel, prints them. Await it, like show(). */
export async function showTable(rows: readonly object[], opts: TableOptions = {}): Promise<void> {
  const md = markdownTable(rows, opts);
  const channel = kernelChannel({ pin: true });
  if (!channel) {
    console.log(md);
    return;
  }
  if (!(await sendWhenFree(channel, { 'text/markdown': md, 'text/plain': md })))
    process.stderr.write("bnlab showTable(): the kernel's output socket stayed busy; the table was not sent\n");
}
