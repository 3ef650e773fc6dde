// Number formatting shared by the page's messages (src/app) and panels (src/ui).
/** Compact display of a metric or parameter: 4 significant digits, exponent form when tiny or huge. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}
