// Small static charts of what is loaded: per-dimension mean ± std, the row-norm histogram with the
// outlier threshold, and an imported SAE's log10 feature-density histogram. Plotted once per
// dataset (memoised on the stats object), not on every re-render of the panel.
import { useEffect, useMemo, useRef } from 'react';
import { loadPlotly } from './plotly';
import { plotlyText, unclippedTickLabels } from './streams';
import { measureDraw, redrawTurn } from './redrawQueue';
import { logAxis } from './logAxis';
import type { DatasetStats } from '../../data/types';

export type Trace = Record<string, unknown>;
export type Layout = Record<string, unknown>;

const HEIGHT = 140;
const ACCENT = '#1f4e79';
const WARN = '#b26a00';
const MUTED = '#9aa1ab';

// Every chart gets Plotly's bar on hover: PNG download, zoom, pan, reset.
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

export function layout(title: string, xTitle: string, extra: Layout = {}): Layout {
  return unclippedTickLabels({
    title: { text: plotlyText(title), font: { size: 11, color: '#1d2330' }, x: 0.01, xanchor: 'left', y: 0.97, yanchor: 'top' },
    height: HEIGHT,
    margin: { l: 40, r: 8, t: 22, b: 28 },
    xaxis: { title: { text: xTitle, font: { size: 10 }, standoff: 2 }, automargin: true, zeroline: false, gridcolor: '#eef0f3' },
    yaxis: { automargin: true, gridcolor: '#eef0f3', zerolinecolor: '#dde1e7' },
    showlegend: false,
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    font: { family: 'system-ui, sans-serif', size: 10, color: '#6b7280' },
    ...extra,
  });
}

/** A chart drawn from props. */
export function StaticPlot({ traces, layout: l, testId, label, height = HEIGHT }: { traces: Trace[]; layout: Layout; testId: string; label: string; height?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let cancelled = false;
    // On its own frame, like the live charts (the analysis panel refreshes two of these each second).
    void loadPlotly().then(async (P) => {
      await redrawTurn();
      if (cancelled || !ref.current) return;
      const t = performance.now();
      await P.react(ref.current, traces as never, l as never, CONFIG);
      measureDraw(testId, 'draw', t);
    }).catch((e) => console.warn('chart update failed', e));
    return () => { cancelled = true; };
  }, [traces, l, testId]);
  useEffect(() => () => { const el = ref.current; if (el) void loadPlotly().then((P) => P.purge(el)); }, []);
  return <div ref={ref} className="data-chart" data-testid={testId} role="img" aria-label={label} style={{ minHeight: height }} />;
}

/** Per-dimension mean with a ±1 std band; dashed lines at the layer boundaries of multi-layer rows. */
export function PerDimChart({ stats, dIn, nLayers }: { stats: DatasetStats; dIn: number; nLayers: number }) {
  const { traces, l } = useMemo(() => {
    const x = stats.perDimMean.map((_, j) => j);
    const upper = stats.perDimMean.map((m, j) => m + stats.perDimStd[j]);
    const lower = stats.perDimMean.map((m, j) => m - stats.perDimStd[j]);
    const traces: Trace[] = [
      { x, y: upper, mode: 'lines', line: { width: 0 }, hoverinfo: 'skip' },
      { x, y: lower, mode: 'lines', line: { width: 0 }, fill: 'tonexty', fillcolor: 'rgba(31,78,121,0.18)', hoverinfo: 'skip' },
      { x, y: stats.perDimMean, mode: 'lines', line: { color: ACCENT, width: 1.2 }, name: 'mean', customdata: stats.perDimStd, hovertemplate: 'dim %{x}: mean %{y:.3g} ± %{customdata:.3g}<extra></extra>' },
    ];
    const shapes = Array.from({ length: Math.max(0, nLayers - 1) }, (_, i) => ({
      type: 'line', x0: (i + 1) * dIn - 0.5, x1: (i + 1) * dIn - 0.5, yref: 'paper', y0: 0, y1: 1, line: { color: MUTED, dash: 'dash', width: 1 },
    }));
    const xTitle = nLayers > 1 ? `dimension (${nLayers} layers of ${dIn}, dashed: layer boundaries)` : 'dimension';
    return { traces, l: layout('Per-dimension mean ± std', xTitle, { shapes, xaxis: { ...(layout('', xTitle).xaxis as Layout), range: [0, Math.max(1, x.length - 1)] } }) };
  }, [stats, dIn, nLayers]);
  return <StaticPlot testId="per-dim-chart" label="Per-dimension mean with a band of ± one standard deviation" traces={traces} layout={l} />;
}

/** Histogram of row norms; outlier bins in the warning colour. */
export function NormHistogram({ stats }: { stats: DatasetStats }) {
  const { traces, l } = useMemo(() => {
    const { edges, counts } = stats.normHistogram;
    const centers = counts.map((_, i) => (edges[i] + edges[i + 1]) / 2);
    const t = stats.outliers.thresholdNorm;
    const shown = Number.isFinite(t) && t <= edges[edges.length - 1] * 1.05;
    const shapes = shown ? [{ type: 'line', x0: t, x1: t, yref: 'paper', y0: 0, y1: 1, line: { color: WARN, dash: 'dash', width: 1.5 } }] : [];
    const colors = centers.map((c) => (shown && c > t ? WARN : ACCENT));
    const traces: Trace[] = [{ type: 'bar', x: centers, y: counts, width: edges[1] - edges[0], marker: { color: colors }, hovertemplate: '‖x‖ ≈ %{x:.3g}: %{y} rows<extra></extra>' }];
    const xTitle = shown ? `‖x‖ (dashed: outlier threshold ${t.toPrecision(3)})` : '‖x‖';
    // Log counts when the tails (or outliers) are orders of magnitude below the bulk; x from just
    // below the smallest norm, so the bulk is not squeezed against the right edge.
    const nonzero = counts.filter((c) => c > 0);
    const log = nonzero.length > 0 && Math.max(...nonzero) / Math.min(...nonzero) >= 100;
    const first = Math.max(0, counts.findIndex((c) => c > 0));
    const binWidth = edges[1] - edges[0];
    const x0 = Math.max(0, edges[first] - 2 * binWidth);
    const yaxis = { ...(log ? logAxis([counts]) : { type: 'linear' }), automargin: true, gridcolor: '#eef0f3', title: { text: 'rows', font: { size: 10 }, standoff: 2 } };
    const xaxis = { ...(layout('', xTitle).xaxis as Layout), range: [x0, Math.max(edges[edges.length - 1], shown ? t + binWidth : 0)] };
    return { traces, l: layout('Row norms', xTitle, { shapes, xaxis, yaxis, bargap: 0 }) };
  }, [stats]);
  return <StaticPlot testId="norm-histogram" label="Histogram of row norms with the outlier threshold" traces={traces} layout={l} />;
}

/** log10 feature density of an imported SAE (sparsity.safetensors). */
export function DensityHistogram({ density }: { density: { edges: number[]; counts: number[] } }) {
  const { traces, l } = useMemo(() => {
    const centers = density.counts.map((_, i) => (density.edges[i] + density.edges[i + 1]) / 2);
    const traces: Trace[] = [{ type: 'bar', x: centers, y: density.counts, width: density.edges[1] - density.edges[0], marker: { color: '#2e7d32' }, hovertemplate: 'log10 density ≈ %{x:.2f}: %{y} latents<extra></extra>' }];
    return { traces, l: layout('Feature density (log10)', 'log10 fraction of tokens a latent fires on', { bargap: 0, yaxis: { automargin: true, gridcolor: '#eef0f3', title: { text: 'latents', font: { size: 10 }, standoff: 2 } } }) };
  }, [density]);
  return <StaticPlot testId="density-histogram" label="Histogram of log10 feature density" traces={traces} layout={l} />;
}

/** Histogram of one latent's activations where it fired. */
export function ActivationHistogram({ hist, latent }: { hist: { edges: number[]; counts: number[] }; latent: number }) {
  const { traces, l } = useMemo(() => {
    const centers = hist.counts.map((_, i) => (hist.edges[i] + hist.edges[i + 1]) / 2);
    const traces: Trace[] = [{ type: 'bar', x: centers, y: hist.counts, width: (hist.edges[1] ?? 1) - (hist.edges[0] ?? 0), marker: { color: ACCENT }, hovertemplate: 'activation ≈ %{x:.3g}: %{y} tokens<extra></extra>' }];
    return { traces, l: layout(`Latent ${latent}: activations where it fires`, 'activation', { bargap: 0, yaxis: { ...logAxis([hist.counts]), automargin: true, gridcolor: '#eef0f3', title: { text: 'tokens', font: { size: 10 }, standoff: 2 } } }) };
  }, [hist, latent]);
  return <StaticPlot testId="activation-histogram" label={`Histogram of latent ${latent}'s activations`} traces={traces} layout={l} />;
}
