// The scaling chart of `npm run bench` as plain SVG text (no dependency): two small line plots,
// tokens/s against d_sae and against batch size, log₂ x axes and a log₁₀ y axis, one line per series.

export interface Series {
  label: string;
  points: { x: number; y: number }[];
  color: string;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  series: Series[];
}

const W = 460, H = 330;
const M = { left: 70, right: 16, top: 34, bottom: 52 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmtTick = (v: number) => (v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}k` : String(v));

function panel(p: Panel, ox: number, yRange: [number, number]): string {
  const xs = p.series.flatMap((s) => s.points.map((q) => q.x));
  if (xs.length === 0) return '';
  const x0 = Math.log2(Math.min(...xs)), x1 = Math.log2(Math.max(...xs));
  const [y0, y1] = yRange;
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const sx = (x: number) => ox + M.left + (x1 === x0 ? pw / 2 : ((Math.log2(x) - x0) / (x1 - x0)) * pw);
  const sy = (y: number) => M.top + ph - ((Math.log10(y) - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(`<text x="${ox + M.left + pw / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${esc(p.title)}</text>`);
  // Grid and y ticks: 1, 2, 5 per decade (labels on 1 and 5 only when crowded).
  for (let d = Math.floor(y0); d <= Math.ceil(y1); d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      const lv = Math.log10(v);
      if (lv < y0 - 1e-9 || lv > y1 + 1e-9) continue;
      const y = sy(v);
      out.push(`<line x1="${ox + M.left}" x2="${ox + M.left + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`);
      out.push(`<text x="${ox + M.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#444">${fmtTick(v)}</text>`);
    }
  }
  const ticks = [...new Set(xs)].sort((a, b) => a - b);
  for (const t of ticks) {
    const x = sx(t);
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11" fill="#444">${t}</text>`);
  }
  out.push(`<rect x="${ox + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${ox + M.left + pw / 2}" y="${H - 12}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`);
  out.push(`<text transform="translate(${ox + 16} ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">tokens/s (log scale)</text>`);
  for (const s of p.series) {
    const pts = s.points.filter((q) => q.y > 0).sort((a, b) => a.x - b.x);
    if (pts.length === 0) continue;
    const d = pts.map((q, i) => `${i ? 'L' : 'M'}${sx(q.x).toFixed(1)},${sy(q.y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const q of pts) out.push(`<circle cx="${sx(q.x).toFixed(1)}" cy="${sy(q.y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.label)}: ${q.x} → ${Math.round(q.y).toLocaleString('en-US')} tokens/s</title></circle>`);
  }
  return out.join('\n');
}

/** Two panels side by side sharing one y range, a legend and a caption line underneath. */
export function scalingSvg(panels: [Panel, Panel], caption: string): string {
  const ys = panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q.y))).filter((y) => y > 0);
  const lo = ys.length ? Math.log10(Math.min(...ys)) : 2, hi = ys.length ? Math.log10(Math.max(...ys)) : 5;
  const yRange: [number, number] = [Math.floor(lo * 2) / 2 - 0.05, Math.ceil(hi * 2) / 2 + 0.05];
  const legendSeries = panels[0].series.length >= panels[1].series.length ? panels[0].series : panels[1].series;
  const totalH = H + 24 + 18 * legendSeries.length;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${totalH}" viewBox="0 0 ${2 * W} ${totalH}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    `<rect width="${2 * W}" height="${totalH}" fill="#fff"/>`,
    panel(panels[0], 0, yRange),
    panel(panels[1], W, yRange),
  ];
  legendSeries.forEach((s, i) => {
    const y = H + 8 + 18 * i;
    parts.push(`<line x1="${M.left}" x2="${M.left + 28}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${M.left + 36}" y="${y + 4}" font-size="12">${esc(s.label)}</text>`);
  });
  parts.push(`<text x="${2 * W - M.right}" y="${totalH - 8}" text-anchor="end" font-size="10" fill="#666">${esc(caption)}</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
