/**
 * Markdown cells (and text/markdown outputs) to HTML with marked: GitHub
 * flavour (tables, task lists), headings with ids for the table of
 * contents, fenced code highlighted, TeX between $…$ / $$…$$ typeset with
 * KaTeX (./math; found as tokens of its own, so emphasis and escapes do not
 * mangle it). Raw HTML in the markdown is shown escaped,
 * links and images are kept only when safe (./sanitize), and the result
 * goes through the HTML allow-list once more.
 */
import { Marked, Tokenizer, type Tokens } from 'marked';
import { highlight, knownLanguage } from './highlight';
import { renderTex } from './math';
import { escapeHtml, isDataImage, safeHref, sanitizeHtml } from './sanitize';
import { pageName, type MimeBundle } from './notebook';

export interface Heading {
  level: number;
  id: string;
  /** The heading's text, as HTML-escaped text (no tags). */
  html: string;
}

export interface MarkdownContext {
  /** Ids already used on the page; headings add theirs. */
  ids: Set<string>;
  /** Headings found, in order (for the table of contents). */
  headings: Heading[];
  /** Set when a formula was typeset (the page then links the KaTeX stylesheet). */
  math?: boolean;
}

/** A URL fragment from heading text: lower case, letters and digits joined by dashes. */
export function slugify(text: string): string {
  const s = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s || 'section';
}

/** An id not yet used on the page (slug, slug-2, slug-3, …), recorded as used. */
export function uniqueId(base: string, ids: Set<string>): string {
  let id = base;
  for (let i = 2; ids.has(id); i++) id = `${base}-${i}`;
  ids.add(id);
  return id;
}

const stripTags = (html: string) => html.replace(/<[^>]*>/g, '');
/** Typeset math carries its TeX in a comment (dropped by the sanitiser): heading text shows the source. */
const TEX_SOURCE = /<!--tex:([^>]*)-->[\s\S]*?<!--\/tex-->/g;
const plainText = (html: string) => stripTags(html.replace(TEX_SOURCE, '$1'));
const decodeEntities = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? '');

/** Links to a sibling notebook (rq2-….ipynb) point to its page in the report. */
function rewriteNotebookLink(href: string): string {
  const m = /^(?:\.\/)?([A-Za-z0-9._-]+)\.ipynb(#.*)?$/.exec(href);
  return m ? `${pageName(m[1])}.html${m[2] ?? ''}` : href;
}

function imageFromAttachment(href: string, attachments: Record<string, MimeBundle> | undefined): string | null {
  const m = /^attachment:(.+)$/.exec(href);
  if (!m || !attachments) return null;
  const bundle = attachments[decodeURIComponent(m[1])];
  if (!bundle) return null;
  for (const mime of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) {
    const data = bundle[mime];
    if (typeof data === 'string' || Array.isArray(data)) {
      const uri = `data:${mime};base64,${(Array.isArray(data) ? data.join('') : data).replace(/\s+/g, '')}`;
      if (isDataImage(uri)) return uri;
    }
  }
  return null;
}

/** Display math as a block: $$ at the start of a line, to the next $$ that ends a line. */
const BLOCK = /^\$\$((?:[^$]|\$(?!\$))+?)\$\$[^\S\n]*(?:\n|$)/;
const BLOCK_START = new RegExp(`(^|\\n)${BLOCK.source.slice(1)}`);
/** Inline math: $$…$$, or $…$ with no space just inside the dollars and no digit right after (Pandoc's rule). */
const DISPLAY_INLINE = /^\$\$([^$`]+?)\$\$/;
const INLINE = /^\$(?![\s$])((?:\\\$|[^$`])+?)(?<![\s\\])\$(?!\d)/;
const ANY_MATH = new RegExp(`${DISPLAY_INLINE.source.slice(1)}|${INLINE.source.slice(1)}`, 'g');

/**
 * Math hidden from marked's search for closing * and _ (as it hides code
 * spans): `*a $x*y$ b*` keeps its formula whole. The text comes with code
 * spans and escapes already masked, and keeps its length.
 */
function maskMath(masked: string): string {
  return masked.replace(ANY_MATH, (m) => `[${'a'.repeat(m.length - 2)}]`);
}

function makeMarked(ctx: MarkdownContext, attachments?: Record<string, MimeBundle>): Marked {
  const m = new Marked({ gfm: true, breaks: false });
  const math = (tex: string, display: boolean, tag: 'div' | 'span') => {
    const { html, ok } = renderTex(tex, display);
    if (ok) ctx.math = true;
    const cls = `math ${display ? 'display' : 'inline'}${ok ? '' : ' error'}`;
    return `<${tag} class="${cls}"><!--tex:${escapeHtml(tex)}-->${html}<!--/tex--></${tag}>`;
  };
  m.use({
    extensions: [
      {
        name: 'mathBlock',
        level: 'block',
        start: (src: string) => {
          // Display math starts a line; $$…$$ inside a paragraph is inline.
          const m = BLOCK_START.exec(src);
          return m ? m.index + m[1].length : undefined;
        },
        tokenizer(src: string) {
          const match = BLOCK.exec(src);
          if (match) return { type: 'mathBlock', raw: match[0], text: match[1].trim() };
          return undefined;
        },
        renderer: (token: Tokens.Generic) => `${math(token.text, true, 'div')}\n`,
      },
      {
        name: 'mathInline',
        level: 'inline',
        start: (src: string) => src.indexOf('$'),
        tokenizer(src: string) {
          // $$…$$ inside a paragraph (typeset as display math, as JupyterLab does), or $…$ with no space
          // just inside the dollars (so prices stay text: "$5 and $6"). No backtick inside: a code span
          // that follows keeps its dollars. `\$` before a dollar is marked's escape, taken before this.
          const display = DISPLAY_INLINE.exec(src);
          if (display) return { type: 'mathInline', raw: display[0], text: display[1].trim(), display: true };
          const match = INLINE.exec(src);
          if (match) return { type: 'mathInline', raw: match[0], text: match[1], display: false };
          return undefined;
        },
        renderer: (token: Tokens.Generic) => math(token.text, token.display === true, 'span'),
      },
    ],
    tokenizer: {
      emStrong(src, maskedSrc, prevChar) {
        return Tokenizer.prototype.emStrong.call(this, src, maskMath(maskedSrc), prevChar);
      },
    },
    renderer: {
      // Raw HTML in markdown is shown as text, never interpreted.
      html({ text }) {
        return escapeHtml(text);
      },
      heading({ tokens, depth }) {
        const inner = this.parser.parseInline(tokens);
        const plain = plainText(inner).trim();
        const id = uniqueId(slugify(decodeEntities(plain)), ctx.ids);
        ctx.headings.push({ level: depth, id, html: plain });
        return `<h${depth} id="${id}">${inner} <a class="anchor" href="#${id}" aria-label="link to this section">¶</a></h${depth}>\n`;
      },
      code({ text, lang }) {
        const l = knownLanguage(lang);
        return `<pre class="code"><code class="hljs${l ? ` language-${l}` : ''}">${highlight(text.replace(/\n$/, ''), lang)}</code></pre>\n`;
      },
      link({ href, title, tokens }) {
        const text = this.parser.parseInline(tokens);
        const safe = safeHref(rewriteNotebookLink(href));
        if (safe === null) return text;
        const external = /^(https?|mailto):/i.test(safe);
        return `<a href="${escapeHtml(safe)}"${title ? ` title="${escapeHtml(title)}"` : ''}${external ? ' rel="noopener noreferrer"' : ''}>${text}</a>`;
      },
      image({ href, title, text }) {
        const src = imageFromAttachment(href, attachments) ?? (isDataImage(href) ? href.replace(/\s+/g, '') : null);
        if (src) return `<img src="${escapeHtml(src)}" alt="${escapeHtml(text)}"${title ? ` title="${escapeHtml(title)}"` : ''}>`;
        // External images are not fetched: the report opens without network.
        const safe = safeHref(href);
        const label = `[image${text ? `: ${escapeHtml(text)}` : ''}]`;
        return safe ? `<a class="img-omitted" href="${escapeHtml(safe)}" rel="noopener noreferrer">${label}</a>` : `<span class="img-omitted">${label}</span>`;
      },
    },
  });
  return m;
}

/** Markdown to sanitised HTML; headings are recorded in ctx (pass a throwaway context to ignore them). */
export function renderMarkdown(src: string, ctx: MarkdownContext, attachments?: Record<string, MimeBundle>): string {
  const html = makeMarked(ctx, attachments).parse(src, { async: false });
  return sanitizeHtml(html, { ids: true, math: true });
}
