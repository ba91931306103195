/**
 * Executed notebooks (nbformat 4) as the exporter reads them: the cells,
 * their outputs with multi-line strings joined, and the run metadata that
 * scripts/execute_notebooks.py writes (metadata.bnlab).
 */
import fs from 'node:fs';
import path from 'node:path';
// The MIME types come from lib, where the notebooks' displays take them: one
// definition for writer and reader. lib/src/display/mime has no dependency
// (it does not pull in Vega or tfjs), and the bundle type is a type only.
import { FINDING_MIME, PROGRESS_MIME, SVG_MIME, VEGALITE_MIME } from '../../lib/src/display/mime';
import type { MimeBundle } from '../../lib/src/display/kernel';

export { FINDING_MIME, PROGRESS_MIME, SVG_MIME, VEGALITE_MIME, type MimeBundle };

export interface StreamOutput { output_type: 'stream'; name: string; text: string }
export interface DataOutput { output_type: 'display_data' | 'execute_result'; data: MimeBundle; metadata: Record<string, unknown>; execution_count?: number | null }
export interface ErrorOutput { output_type: 'error'; ename: string; evalue: string; traceback: string[] }
export type Output = StreamOutput | DataOutput | ErrorOutput;

export interface Cell {
  cell_type: 'markdown' | 'code' | 'raw';
  source: string;
  metadata: Record<string, unknown> & { tags?: string[] };
  outputs: Output[];
  execution_count: number | null;
  attachments?: Record<string, MimeBundle>;
}

/** What scripts/execute_notebooks.py records about the run. */
export interface RunMetadata {
  profile?: string;
  seconds?: number;
  executedAt?: string;
  source?: string;
  error?: string | null;
  /** Not written by the executor today; shown when present. */
  seeds?: unknown;
}

export interface Notebook {
  /** The file name without .ipynb. */
  name: string;
  file: string;
  cells: Cell[];
  metadata: Record<string, unknown> & { bnlab?: RunMetadata };
  /** The language of the code cells, for highlighting. */
  language: string;
}

/** nbformat stores multi-line strings either whole or as a list of lines. */
export function joinText(v: unknown): string {
  if (Array.isArray(v)) return v.map((x) => String(x)).join('');
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * A JSON MIME type's value as an object: nbformat keeps it as one, an older
 * writer may have left its JSON text. null for anything else.
 */
export function jsonObject(data: unknown): Record<string, unknown> | null {
  let d = data;
  if (typeof d === 'string') {
    try {
      d = JSON.parse(d);
    } catch {
      return null;
    }
  }
  return d && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : null;
}

/**
 * JSON.parse that also reads the bare NaN / Infinity / -Infinity Python's
 * json module writes for non-finite floats (nbformat keeps them), as null.
 */
export function parseJsonTolerant(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    let out = '';
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        out += c;
        if (c === '\\') out += text[++i] ?? '';
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') { inString = true; out += c; continue; }
      const rest = text.slice(i, i + 9);
      const m = /^(-?Infinity|NaN)/.exec(rest);
      if (m) { out += 'null'; i += m[1].length - 1; continue; }
      out += c;
    }
    try {
      return JSON.parse(out);
    } catch {
      throw err;
    }
  }
}

function normalizeBundle(data: unknown): MimeBundle {
  const out: MimeBundle = {};
  if (!data || typeof data !== 'object') return out;
  for (const [mime, v] of Object.entries(data as Record<string, unknown>)) {
    // JSON MIME types hold objects (nbformat stores them as JSON, not text); text types may be split into lines.
    out[mime] = /[/+]json$/.test(mime) && typeof v === 'object' && v !== null && !(Array.isArray(v) && v.every((x) => typeof x === 'string')) ? v : joinText(v);
  }
  return out;
}

function normalizeOutput(o: Record<string, unknown>): Output | null {
  switch (o.output_type) {
    case 'stream':
      return { output_type: 'stream', name: o.name === 'stderr' ? 'stderr' : 'stdout', text: joinText(o.text) };
    case 'display_data':
    case 'execute_result':
      return {
        output_type: o.output_type,
        data: normalizeBundle(o.data),
        metadata: (o.metadata as Record<string, unknown>) ?? {},
        execution_count: (o.execution_count as number | null | undefined) ?? null,
      };
    case 'error':
      return {
        output_type: 'error',
        ename: String(o.ename ?? 'Error'),
        evalue: String(o.evalue ?? ''),
        traceback: Array.isArray(o.traceback) ? o.traceback.map(String) : [],
      };
    default:
      return null;
  }
}

const PRIMARY = [FINDING_MIME, VEGALITE_MIME, PROGRESS_MIME];

/**
 * When tslab lacks the private function bnlab's display uses, every MIME
 * type of a bundle goes out as its own output (see lib/src/display/kernel):
 * a chart arrives as a Vega-Lite output, then an SVG one, then a text one.
 * This puts such runs back into one bundle, so the report shows one chart
 * (or one finding, or one run's progress), not three representations of it.
 */
export function mergeSplitBundles(outputs: Output[]): Output[] {
  const out: Output[] = [];
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i];
    if (o.output_type !== 'display_data' || Object.keys(o.data).length !== 1 || !PRIMARY.includes(Object.keys(o.data)[0])) {
      out.push(o);
      continue;
    }
    const data: MimeBundle = { ...o.data };
    let j = i + 1;
    for (; j < outputs.length; j++) {
      const n = outputs[j];
      if (n.output_type !== 'display_data') break;
      const keys = Object.keys(n.data);
      if (keys.length !== 1 || keys[0] in data || PRIMARY.includes(keys[0])) break;
      data[keys[0]] = n.data[keys[0]];
    }
    out.push({ ...o, data });
    i = j - 1;
  }
  return out;
}

/** A safe page name for a notebook: letters, digits, dot, dash and underscore. */
export function pageName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '');
  return safe || 'notebook';
}

export function readNotebook(file: string): Notebook {
  const raw = parseJsonTolerant(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (!raw || typeof raw !== 'object' || !Array.isArray(raw.cells)) throw new Error(`${file}: not a notebook (no cells)`);
  if (typeof raw.nbformat === 'number' && raw.nbformat !== 4) throw new Error(`${file}: nbformat ${raw.nbformat}, expected 4`);
  const metadata = (raw.metadata && typeof raw.metadata === 'object' ? raw.metadata : {}) as Notebook['metadata'];
  const cells: Cell[] = (raw.cells as Record<string, unknown>[]).map((c) => {
    const type = c.cell_type === 'markdown' || c.cell_type === 'code' ? c.cell_type : 'raw';
    const outputs = Array.isArray(c.outputs) ? (c.outputs as Record<string, unknown>[]).map(normalizeOutput).filter((o): o is Output => o !== null) : [];
    return {
      cell_type: type,
      source: joinText(c.source),
      metadata: (c.metadata as Cell['metadata']) ?? {},
      outputs: mergeSplitBundles(outputs),
      execution_count: typeof c.execution_count === 'number' ? c.execution_count : null,
      attachments: c.attachments && typeof c.attachments === 'object' ? (c.attachments as Cell['attachments']) : undefined,
    };
  });
  const li = metadata.language_info as { name?: string } | undefined;
  const ks = metadata.kernelspec as { language?: string } | undefined;
  return {
    name: path.basename(file).replace(/\.ipynb$/, ''),
    file,
    cells,
    metadata,
    language: String(li?.name ?? ks?.language ?? 'typescript').toLowerCase(),
  };
}

/** The executed notebooks in a folder, in file-name order (rq1-…, rq2-…). */
export function readNotebooks(dir: string): Notebook[] {
  if (!fs.existsSync(dir)) throw new Error(`no folder ${dir} (run the notebooks first: npm run notebooks)`);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb') && !f.startsWith('.'))
    .sort()
    .map((f) => readNotebook(path.join(dir, f)));
}
