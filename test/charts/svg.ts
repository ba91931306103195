/**
 * Reading rendered charts back: Vega's SVG puts each mark's items (paths,
 * lines, texts) directly inside a <g class="mark-TYPE role-mark NAME_marks">
 * group, one group per series for lines and areas. The charts name their
 * layers, so a test counts exactly the items of one layer.
 */

/** The contents of the named layer's mark groups (an empty group is written self-closing). */
function markGroups(svg: string, layer: string, type = '\\w+'): string[] {
  const open = new RegExp(`<g class="mark-${type} role-mark ${layer}_marks"[^>]*?(/?)>`, 'g');
  const out: string[] = [];
  for (const m of svg.matchAll(open)) {
    if (m[1] === '/') continue;
    const start = m.index! + m[0].length;
    out.push(svg.slice(start, svg.indexOf('</g>', start)));
  }
  return out;
}

/** The item elements of the named layer's marks, across all its groups (series, panels). */
export function markItems(svg: string, layer: string): string[] {
  return markGroups(svg, layer).flatMap((g) => g.match(/<(path|line|text)\b[^>]*>/g) ?? []);
}

export function countMarks(svg: string, layer: string): number {
  return markItems(svg, layer).length;
}

/** The points of the first path of a layer, from its d attribute (M/L commands only). */
export function pathPoints(svg: string, layer: string, index = 0): [number, number][] {
  const d = /\bd="([^"]*)"/.exec(markItems(svg, layer)[index] ?? '')?.[1] ?? '';
  return [...d.matchAll(/[ML]\s*(-?[\d.e+-]+)[ ,](-?[\d.e+-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

/** The texts of a layer's text marks. */
export function markTexts(svg: string, layer: string): string[] {
  return markGroups(svg, layer, 'text').flatMap((g) => [...g.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]));
}
