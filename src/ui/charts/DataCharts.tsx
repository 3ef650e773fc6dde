// Small static charts of what is loaded: per-dimension mean ± std, the row-norm histogram with the
// outlier threshold, and an imported SAE's log10 feature-density histogram.
import { useEffect, useRef } from 'react';
import type PlotlyType from 'plotly.js-basic-dist-min';
import type { DatasetStats } from '../../worker/protocol';

type Trace = Record<string, unknown>;
type Layout = Record<string, unknown>;

let plotly: Promise<typeof PlotlyType> | null = null;
const loadPlotly = () => (plotly ??= import('plotly.js-basic-dist-min').then((m) => m.default));
const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };

function layout(title: string, xTitle: string, extra: Layout = {}): Layout {
  return {
    title: { text: title, font: { size: 12 }, x: 0.02 },
    height: 150,
    margin: { l: 44, r: 8, t: 26, b: 30 },
    xaxis: { title: { text: xTitle, font: { size: 10 } }, automargin: true },
    yaxis: { automargin: true },
    showlegend: false,
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    font: { family: 'system-ui, sans-serif', size: 10, color: '#333' },
    ...extra,
  };
}

function StaticPlot({ traces, layout: l, testId }: { traces: Trace[]; layout: Layout; testId: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let cancelled = false;
    void loadPlotly().then((P) => {
      if (!cancelled && ref.current) void P.react(ref.current, traces as never, l as never, CONFIG);
    });
    return () => { cancelled = true; };
  }, [traces, l]);
  return <div ref={ref} className="data-chart" data-testid={testId} />;
}

/** Per-dimension mean with a ±1 std band; dashed lines between layers of multi-layer rows. */
export function PerDimChart({ stats, dIn, nLayers }: { stats: DatasetStats; dIn: number; nLayers: number }) {
  const x = stats.perDimMean.map((_, j) => j);
  const upper = stats.perDimMean.map((m, j) => m + stats.perDimStd[j]);
  const lower = stats.perDimMean.map((m, j) => m - stats.perDimStd[j]);
  const traces: Trace[] = [
    { x, y: upper, mode: 'lines', line: { width: 0 }, hoverinfo: 'skip' },
    { x, y: lower, mode: 'lines', line: { width: 0 }, fill: 'tonexty', fillcolor: 'rgba(31,78,121,0.18)', hoverinfo: 'skip' },
    { x, y: stats.perDimMean, mode: 'lines', line: { color: '#1f4e79', width: 1.5 }, name: 'mean', customdata: stats.perDimStd, hovertemplate: 'dim %{x}: mean %{y:.3g} ± %{customdata:.3g}<extra></extra>' },
  ];
  const shapes = Array.from({ length: nLayers - 1 }, (_, l) => ({ type: 'line', x0: (l + 1) * dIn - 0.5, x1: (l + 1) * dIn - 0.5, yref: 'paper', y0: 0, y1: 1, line: { color: '#9aa1ab', dash: 'dash', width: 1 } }));
  return <StaticPlot testId="per-dim-chart" traces={traces} layout={layout('Per dimension: mean ± std', nLayers > 1 ? `dimension (${nLayers} layers of ${dIn})` : 'dimension', { shapes })} />;
}

/** Histogram of row norms (log count axis: a few outliers stay visible next to the bulk). */
export function NormHistogram({ stats }: { stats: DatasetStats }) {
  const { edges, counts } = stats.normHistogram;
  const centers = counts.map((_, i) => (edges[i] + edges[i + 1]) / 2);
  const t = stats.outliers.thresholdNorm;
  const shapes = Number.isFinite(t) && t <= edges[edges.length - 1] * 1.05
    ? [{ type: 'line', x0: t, x1: t, yref: 'paper', y0: 0, y1: 1, line: { color: '#b26a00', dash: 'dash', width: 1.5 } }]
    : [];
  const traces: Trace[] = [{ type: 'bar', x: centers, y: counts, width: edges[1] - edges[0], marker: { color: '#1f4e79' }, hovertemplate: '‖x‖ ≈ %{x:.3g}: %{y} rows<extra></extra>' }];
  return <StaticPlot testId="norm-histogram" traces={traces} layout={layout('Row norms ‖x‖', shapes.length ? '‖x‖ (dashed: outlier threshold)' : '‖x‖', { shapes, yaxis: { type: 'log', automargin: true, title: { text: 'rows', font: { size: 10 } } }, bargap: 0 })} />;
}

/** log10 feature density of an imported SAE (sparsity.safetensors). */
export function DensityHistogram({ density }: { density: { edges: number[]; counts: number[] } }) {
  const centers = density.counts.map((_, i) => (density.edges[i] + density.edges[i + 1]) / 2);
  const traces: Trace[] = [{ type: 'bar', x: centers, y: density.counts, width: density.edges[1] - density.edges[0], marker: { color: '#2e7d32' }, hovertemplate: 'log10 density ≈ %{x:.2f}: %{y} latents<extra></extra>' }];
  return <StaticPlot testId="density-histogram" traces={traces} layout={layout('Feature density (log10)', 'log10 fraction of tokens a latent fires on', { bargap: 0 })} />;
}
