/**
 * Syntax highlighting with highlight.js (core plus the languages a notebook
 * of this project holds). Its output is escaped code wrapped in
 * <span class="hljs-…">; its theme is in assets/report.css.
 *
 * Loaded with require and typed here: highlight.js's own typings pull the
 * DOM library into the whole program (`/// <reference lib="dom" />`), which
 * would let Node-only code in lib/ typecheck against browser globals.
 */
import { escapeHtml } from './sanitize';

interface HljsResult { value: string; language?: string }
interface Hljs {
  registerLanguage(name: string, fn: unknown): void;
  registerAliases(aliases: string[], opts: { languageName: string }): void;
  getLanguage(name: string): unknown;
  highlight(code: string, opts: { language: string; ignoreIllegals?: boolean }): HljsResult;
}

let instance: Hljs | null = null;

function hljs(): Hljs {
  if (instance) return instance;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const core = require('highlight.js/lib/core') as Hljs;
  for (const lang of ['typescript', 'javascript', 'json', 'bash', 'shell', 'python', 'xml', 'css', 'yaml', 'diff', 'markdown', 'plaintext']) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    core.registerLanguage(lang, require(`highlight.js/lib/languages/${lang}`));
  }
  core.registerAliases(['ts', 'tsx', 'tslab'], { languageName: 'typescript' });
  core.registerAliases(['js', 'node'], { languageName: 'javascript' });
  core.registerAliases(['sh', 'console'], { languageName: 'bash' });
  instance = core;
  return core;
}

/** The language highlight.js will use for `lang`, or null when it has none (the code is then only escaped). */
export function knownLanguage(lang: string | undefined): string | null {
  const l = (lang ?? '').trim().toLowerCase().split(/\s+/)[0];
  return l && hljs().getLanguage(l) ? l : null;
}

/** Highlighted HTML for code (escaped; spans only). */
export function highlight(code: string, lang: string | undefined): string {
  const l = knownLanguage(lang);
  if (!l) return escapeHtml(code);
  try {
    return hljs().highlight(code, { language: l, ignoreIllegals: true }).value;
  } catch {
    return escapeHtml(code);
  }
}
