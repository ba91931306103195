/**
 * TeX to HTML with KaTeX, at export time: HTML for the eye (styled by
 * assets/katex.min.css and its woff2 fonts) plus MathML for screen readers
 * and copy/paste. No script runs when the page is viewed.
 *
 * KaTeX runs with trust off (no \href, \url, \includegraphics, \htmlClass,
 * \htmlStyle, … : they render as red source text) and bounded sizes and
 * macro expansion. A formula that does not parse is shown as its escaped
 * source in <code class="math-error">, with KaTeX's message as the title.
 * The result still goes through the HTML allow-list (./sanitize, `math`).
 */
import fs from 'node:fs';
import path from 'node:path';
import katex from 'katex';
import { escapeHtml } from './sanitize';

const OPTIONS = {
  output: 'htmlAndMathml',
  throwOnError: true,
  trust: false,
  strict: 'ignore',
  maxSize: 50,
  maxExpand: 1000,
} as const;

export interface TexResult {
  html: string;
  /** False when KaTeX could not parse the formula (html is then the escaped source). */
  ok: boolean;
}

/** One formula; `display` for a centred block (\[…\], $$…$$). */
export function renderTex(tex: string, display: boolean): TexResult {
  try {
    return { html: katex.renderToString(tex, { ...OPTIONS, displayMode: display }), ok: true };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const src = display ? `$$${tex}$$` : `$${tex}$`;
    return { html: `<code class="math-error" title="${escapeHtml(message)}">${escapeHtml(src)}</code>`, ok: false };
  }
}

/** A text/latex output: TeX, usually inside $…$, $$…$$, \[…\] or \(…\). */
export function renderLatexOutput(latex: string): TexResult {
  const s = latex.trim();
  const m = /^\$\$([\s\S]*)\$\$$/.exec(s) ?? /^\\\[([\s\S]*)\\\]$/.exec(s) ?? /^\$([\s\S]*)\$$/.exec(s) ?? /^\\\(([\s\S]*)\\\)$/.exec(s);
  return renderTex(m ? m[1].trim() : s, true);
}

/** The KaTeX package directory (dist/), looked up from `root` first, then from here. */
function katexDist(root: string): string | null {
  for (const dir of [root, __dirname]) {
    try {
      return path.dirname(require.resolve('katex', { paths: [dir] }));
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * The stylesheet and fonts for assets/: katex.min.css with its @font-face
 * rules cut down to the woff2 files (every browser that runs the report
 * reads woff2), and those files, for assets/fonts/.
 */
export function katexAssets(root: string): { css: string; fonts: { name: string; file: string }[] } | null {
  const dist = katexDist(root);
  if (!dist || !fs.existsSync(path.join(dist, 'katex.min.css'))) return null;
  const version = (() => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(dist, '..', 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return katex.version;
    }
  })();
  const fonts = new Map<string, string>();
  const css = fs
    .readFileSync(path.join(dist, 'katex.min.css'), 'utf8')
    .replace(/\/\*# sourceMappingURL=\S+\s*\*\/\s*$/, '')
    .replace(/src:([^;}]*)/g, (decl, list: string) => {
      const woff2 = list
        .split(',')
        .map((s) => s.trim())
        .filter((s) => /^url\(\s*['"]?fonts\/[A-Za-z0-9_-]+\.woff2['"]?\s*\)\s*format\(\s*['"]woff2['"]\s*\)$/.test(s));
      if (!woff2.length) return decl;
      for (const s of woff2) {
        const name = /fonts\/([A-Za-z0-9_-]+\.woff2)/.exec(s)![1];
        fonts.set(name, path.join(dist, 'fonts', name));
      }
      return `src:${woff2.join(',')}`;
    });
  const present = [...fonts].filter(([, file]) => fs.existsSync(file)).map(([name, file]) => ({ name, file }));
  return { css: `/* KaTeX ${version} (MIT), dist/katex.min.css, fonts: woff2 only */\n${css}`, fonts: present };
}
