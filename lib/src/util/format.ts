/**
 * How bnlab writes a number for a reader: in sentences, findings and table
 * cells. One rule, so a value reads the same in a notebook's prose, its
 * finding and the report.
 */

/**
 * `digits` significant digits, trailing zeros dropped (0.1, not 0.100); in
 * exponent notation with 3 significant digits when it is tiny (|v| < 1e-3)
 * or huge (|v| ≥ 1e5), where more digits are noise to a reader. NaN and
 * ±Infinity as JavaScript writes them.
 */
export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(+v.toPrecision(digits));
}

/** A fraction as a percentage with one decimal (0.776 → "77.6%"); a missing one as —. */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`;
}
