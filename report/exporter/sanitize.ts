/**
 * Everything a notebook puts into the report passes through here: text is
 * escaped, HTML and SVG are cut down to an allow-list (sanitize-html), and
 * URLs are kept only when they cannot run code or reach the network.
 * The report's only scripts are its own (see ./page); nothing here lets a
 * notebook add one.
 */
import sanitizeHtmlLib from 'sanitize-html';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text into HTML text or an attribute value. */
export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** JSON inside <script type="application/json">: no `<` can close the element or open a comment. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value ?? null)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** ANSI colour and cursor codes (kernel tracebacks carry them). */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]/g, '');
}

/** data: URIs of raster images (inlined, so the page needs no network). */
const DATA_IMAGE = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$/i;

export function isDataImage(url: string): boolean {
  return DATA_IMAGE.test(url.trim());
}

/**
 * A link target the report keeps: http(s), mailto, an anchor, or a relative
 * path without a scheme. Everything else (javascript:, data:, vbscript:,
 * file:, …) is dropped. Control characters and whitespace that browsers
 * ignore inside a scheme are taken out before the check.
 */
export function safeHref(url: string): string | null {
  // eslint-disable-next-line no-control-regex
  const u = url.replace(/[\u0000-\u001F\u007F\s]+/g, '');
  if (!u) return null;
  if (u.startsWith('#')) return url.trim();
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(u);
  if (!scheme) return /^[/\\]{2}/.test(u) ? null : url.trim(); // protocol-relative URLs reach the network
  return ['http', 'https', 'mailto'].includes(scheme[1].toLowerCase()) ? url.trim() : null;
}

/** A style declaration list without url()s (other than #fragment refs), expressions, imports or escapes. */
export function safeStyle(style: string, allowFragmentUrls = true): string {
  return style
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d && /^[a-zA-Z-]+\s*:/.test(d))
    .filter((d) => !/expression|javascript:|behavior|binding|@import|\\|<|>/i.test(d))
    .filter((d) => {
      const urls = d.match(/url\s*\(([^)]*)\)/gi) ?? [];
      return urls.every((u) => allowFragmentUrls && /^url\s*\(\s*['"]?#[A-Za-z0-9_.:-]+['"]?\s*\)$/i.test(u));
    })
    .join('; ');
}

// ---------------------------------------------------------------------------
// HTML outputs (text/html) and rendered markdown

const HTML_TAGS = [
  'a', 'abbr', 'b', 'blockquote', 'br', 'caption', 'cite', 'code', 'col', 'colgroup', 'dd', 'del', 'details', 'dfn', 'div', 'dl', 'dt',
  'em', 'figcaption', 'figure', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'input', 'ins', 'kbd', 'li', 'mark', 'ol', 'p', 'pre', 'q',
  's', 'samp', 'small', 'span', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'u', 'ul', 'var',
];

const STYLE_VALUE = /^[#\w\s.,%()'"+-]*$/;
const STYLE_PROPS = [
  'color', 'background-color', 'font-family', 'font-size', 'font-weight', 'font-style', 'line-height', 'text-align', 'text-decoration',
  'white-space', 'vertical-align', 'padding', 'padding-left', 'padding-right', 'padding-top', 'padding-bottom', 'margin', 'margin-left',
  'margin-right', 'margin-top', 'margin-bottom', 'border', 'border-collapse', 'border-left', 'border-right', 'border-top', 'border-bottom',
  'width', 'min-width', 'max-width', 'display',
];
const ALLOWED_STYLES = Object.fromEntries(STYLE_PROPS.map((p) => [p, [STYLE_VALUE]]));

// Typeset math (KaTeX's output, ./math): MathML, and the few SVG shapes KaTeX draws (radicals, arrows,
// braces, \cancel) with geometry attributes only; spans positioned with lengths and colours.
const MATHML_TAGS = [
  'math', 'semantics', 'annotation', 'mrow', 'mi', 'mn', 'mo', 'ms', 'mtext', 'mspace', 'msup', 'msub', 'msubsup', 'mfrac', 'msqrt', 'mroot',
  'mover', 'munder', 'munderover', 'mtable', 'mtr', 'mtd', 'mlabeledtr', 'mstyle', 'mpadded', 'mphantom', 'menclose',
];
const MATHML_ATTRS = [
  'xmlns', 'display', 'encoding', 'mathvariant', 'mathcolor', 'mathbackground', 'mathsize', 'stretchy', 'fence', 'separator', 'lspace', 'rspace',
  'accent', 'accentunder', 'columnalign', 'columnlines', 'columnspacing', 'rowalign', 'rowlines', 'rowspacing', 'displaystyle', 'scriptlevel',
  'linethickness', 'largeop', 'movablelimits', 'symmetric', 'minsize', 'maxsize', 'width', 'height', 'depth', 'voffset', 'notation', 'linebreak',
];
const MATH_SVG_ATTRS: Record<string, string[]> = {
  // Names as the parser gives them (lower case); browsers restore viewBox / preserveAspectRatio inside <svg>.
  svg: ['xmlns', 'width', 'height', 'viewbox', 'preserveaspectratio'],
  path: ['d'],
  line: ['x1', 'y1', 'x2', 'y2', 'stroke-width'],
};
const MATH_STYLE_PROPS = [
  'height', 'top', 'bottom', 'left', 'margin-left', 'margin-right', 'margin-top', 'min-width', 'padding-left', 'border-width', 'border-style',
  'border-color', 'border-top-width', 'border-bottom-width', 'border-right-width', 'border-right-style', 'background-color',
];
const MATH_STYLES = { ...ALLOWED_STYLES, ...Object.fromEntries(MATH_STYLE_PROPS.map((p) => [p, [STYLE_VALUE]])) };

function htmlOptions(opts: { ids?: boolean; math?: boolean }): sanitizeHtmlLib.IOptions {
  const math: { tags: string[]; attributes: Record<string, string[]>; styles: Record<string, Record<string, RegExp[]>> } = opts.math
    ? {
        tags: [...MATHML_TAGS, ...Object.keys(MATH_SVG_ATTRS)],
        attributes: { ...Object.fromEntries(MATHML_TAGS.map((t) => [t, MATHML_ATTRS])), ...MATH_SVG_ATTRS },
        styles: { span: MATH_STYLES, svg: { width: [STYLE_VALUE], height: [STYLE_VALUE], 'min-width': [STYLE_VALUE] } },
      }
    : { tags: [], attributes: {}, styles: {} };
  return {
    allowedTags: [...HTML_TAGS, ...math.tags],
    allowedAttributes: {
      ...math.attributes,
      '*': ['class', 'title', 'style', 'align', 'lang', 'dir', 'aria-label', 'aria-hidden', ...(opts.ids ? ['id'] : [])],
      a: ['href', 'rel'],
      img: ['src', 'alt', 'width', 'height'],
      td: ['colspan', 'rowspan'],
      th: ['colspan', 'rowspan', 'scope'],
      ol: ['start'],
      input: ['type', 'checked', 'disabled'],
      details: ['open'],
    },
    allowedStyles: { '*': ALLOWED_STYLES, ...math.styles },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['data'] },
    allowedSchemesAppliedToAttributes: ['href', 'src', 'cite'],
    allowProtocolRelative: false,
    disallowedTagsMode: 'escape',
    nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'template', 'iframe', 'object', 'embed', 'xmp', 'title'],
    transformTags: {
      a: (tagName, attribs) => {
        const href = attribs.href !== undefined ? safeHref(attribs.href) : null;
        const { href: _drop, ...rest } = attribs;
        return { tagName, attribs: href === null ? rest : { ...rest, href, ...(/^(https?|mailto):/i.test(href) ? { rel: 'noopener noreferrer' } : {}) } };
      },
      img: (tagName, attribs): sanitizeHtmlLib.Tag => {
        // Only inlined images: the report opens without network.
        const { src, ...rest } = attribs;
        if (src !== undefined && isDataImage(src)) return { tagName, attribs: { ...rest, src: src.replace(/\s+/g, '') } };
        return { tagName: 'span', attribs: { class: 'img-omitted', title: 'external image omitted' }, text: `[image${rest.alt ? `: ${rest.alt}` : ''}]` };
      },
      input: (tagName, attribs) => (attribs.type === 'checkbox' ? { tagName, attribs: { type: 'checkbox', disabled: '', ...(attribs.checked !== undefined ? { checked: '' } : {}) } } : { tagName: 'span', attribs: {} }),
    },
  };
}

/**
 * Sanitises HTML from a notebook output (or rendered markdown): an
 * allow-list of formatting tags; no scripts, styles, frames, forms or event
 * handlers; links only to http(s)/mailto/anchors; images only inlined.
 * Tags outside the list are shown escaped, so nothing silently vanishes.
 * `ids` keeps id attributes (only for our own rendered markdown, whose
 * heading ids the table of contents links to). `math` keeps what KaTeX
 * writes (only for our own rendered markdown, where raw HTML is already
 * escaped): MathML and KaTeX's SVG shapes, with no link or URL attribute.
 */
export function sanitizeHtml(html: string, opts: { ids?: boolean; math?: boolean } = {}): string {
  return sanitizeHtmlLib(html, htmlOptions(opts));
}

// ---------------------------------------------------------------------------
// SVG

const SVG_TAGS = [
  'svg', 'g', 'defs', 'symbol', 'use', 'path', 'rect', 'circle', 'ellipse', 'line', 'polyline', 'polygon', 'text', 'tspan', 'textPath',
  'title', 'desc', 'clipPath', 'mask', 'pattern', 'marker', 'linearGradient', 'radialGradient', 'stop', 'image', 'a',
];

const SVG_ATTRS = [
  'xmlns', 'xmlns:xlink', 'version', 'class', 'id', 'style', 'role', 'aria-label', 'aria-hidden', 'aria-roledescription', 'aria-describedby',
  'aria-labelledby', 'focusable', 'tabindex', 'lang',
  'x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'rx', 'ry', 'fx', 'fy', 'dx', 'dy', 'd', 'points', 'width', 'height', 'viewBox',
  'preserveAspectRatio', 'transform', 'gradientTransform', 'gradientUnits', 'patternUnits', 'patternContentUnits', 'patternTransform',
  'clipPathUnits', 'maskUnits', 'maskContentUnits', 'markerWidth', 'markerHeight', 'markerUnits', 'refX', 'refY', 'orient', 'offset',
  'stop-color', 'stop-opacity', 'fill', 'fill-opacity', 'fill-rule', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-dasharray',
  'stroke-dashoffset', 'stroke-linecap', 'stroke-linejoin', 'stroke-miterlimit', 'opacity', 'clip-path', 'clip-rule', 'mask',
  'marker-start', 'marker-mid', 'marker-end', 'display', 'visibility', 'pointer-events', 'cursor', 'color', 'shape-rendering',
  'text-rendering', 'image-rendering', 'vector-effect', 'font-family', 'font-size', 'font-weight', 'font-style', 'font-variant',
  'text-anchor', 'dominant-baseline', 'alignment-baseline', 'baseline-shift', 'letter-spacing', 'word-spacing', 'text-decoration',
  'writing-mode', 'textLength', 'lengthAdjust', 'startOffset', 'href', 'xlink:href', 'xml:space',
];

/** Elements dropped with everything inside them. */
const SVG_DROP_WITH_CONTENT = new Set(['script', 'style', 'foreignobject', 'textarea', 'noscript', 'iframe', 'object', 'embed', 'template', 'animate', 'set', 'animatetransform', 'animatemotion', 'handler', 'listener']);

/** Attributes whose value may hold url(#id) references. */
const URL_ATTRS = ['fill', 'stroke', 'clip-path', 'mask', 'marker-start', 'marker-mid', 'marker-end', 'filter'];

function svgOptions(idPrefix: string): sanitizeHtmlLib.IOptions {
  const prefixId = (id: string) => `${idPrefix}${id}`;
  const fragment = (v: string): string | null => {
    const m = /^\s*#([A-Za-z0-9_.:-]+)\s*$/.exec(v);
    return m ? `#${prefixId(m[1])}` : null;
  };
  const rewriteUrls = (v: string): string | null => {
    // url(#id) → url(#prefix-id); any other url() (external) drops the attribute.
    let ok = true;
    const out = v.replace(/url\s*\(\s*(['"]?)([^)'"]*)\1\s*\)/gi, (_m, _q, ref: string) => {
      const f = fragment(ref);
      if (!f) ok = false;
      return `url(${f ?? ''})`;
    });
    return ok ? out : null;
  };
  return {
    allowedTags: SVG_TAGS,
    allowedAttributes: { '*': SVG_ATTRS },
    allowedSchemes: [],
    allowedSchemesAppliedToAttributes: [],
    allowProtocolRelative: false,
    disallowedTagsMode: 'discard',
    // Dropped with their content (sanitizeSvg lower-cases these names first: tag names keep their case here).
    nonTextTags: [...SVG_DROP_WITH_CONTENT],
    parser: { lowerCaseTags: false, lowerCaseAttributeNames: false },
    transformTags: {
      '*': (tagName, attribs) => {
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(attribs)) {
          const name = k.toLowerCase();
          if (name.startsWith('on')) continue;
          if (name === 'id') out[k] = prefixId(v);
          else if (name === 'href' || name === 'xlink:href') {
            // References inside the picture only; an <image> may carry an inlined raster.
            const f = fragment(v);
            if (f) out[k] = f;
            else if (tagName === 'image' && isDataImage(v)) out[k] = v.replace(/\s+/g, '');
          } else if (name === 'style') {
            const s = safeStyle(v);
            const r = s && rewriteUrls(s);
            if (r) out[k] = r;
          } else if (URL_ATTRS.includes(name) && /url\s*\(/i.test(v)) {
            const r = rewriteUrls(v);
            if (r !== null) out[k] = r;
          } else out[k] = v;
        }
        return { tagName, attribs: out };
      },
    },
  };
}

/**
 * Sanitises an SVG picture for inlining: SVG drawing elements only (no
 * script, style, foreignObject or animation elements), no event handlers,
 * no references outside the picture (href and url() only to #ids, images
 * only inlined). Its ids get `idPrefix`, so several charts on one page
 * (Vega names gradients gradient_0, gradient_1, … in each) do not take
 * each other's gradients and clip paths.
 */
export function sanitizeSvg(svg: string, idPrefix: string): string {
  const start = svg.search(/<svg[\s>]/i);
  // Names keep their case in the parse (clipPath, linearGradient); the elements dropped with their
  // content are matched in any case (<SCRIPT>, <foreignobject>) by lower-casing them first.
  const body = (start > 0 ? svg.slice(start) : svg).replace(/<(\/?)([a-zA-Z]+)/g, (m, slash: string, name: string) => (SVG_DROP_WITH_CONTENT.has(name.toLowerCase()) ? `<${slash}${name.toLowerCase()}` : m));
  const clean = sanitizeHtmlLib(body, svgOptions(idPrefix)).trim();
  return clean.startsWith('<svg') ? clean : '';
}
