// What each live chart plots: its traces, its layout, and how appended metric rows become points.
// A stream is created fresh for every run (and for a chart that appears mid-run, fed the rows so
// far first), so every method only ever appends.
import { CONVERGED_CV_PERCENT, L0_TARGET_FRACTION, L0_TARGET_TOLERANCE } from '../../engine/metrics';
import type { MetricRow } from '../../worker/protocol';
import { LOSS_KEYS, SeriesBuilder } from './series';

type Trace = Record<string, unknown>;
type Layout = Record<string, unknown>;
type Point = number | null;

export interface Extension {
  x: Point[][];
  y: Point[][];
  indices: number[];
}

export interface Stream {
  traces: Trace[];
  layout: Layout;
  /** Points for appended rows, or null when they add none. */
  extend(rows: readonly MetricRow[]): Extension | null;
  /** Points so far (the chart's data-points attribute). */
  count(): number;
}

const axisTitle = (text: string) => ({ text, font: { size: 11 } });

/**
 * `l` with tick labels that are not clipped at the chart's edge, on every axis it has (whatever
 * an `extra` replaced). Plotly's default for numeric axes ('hide past div') measures each tick
 * label's box on every redraw, a forced layout per label — 20 ms of a 60 ms first draw here; the
 * margins leave room for the labels. Every chart layout of the page goes through this.
 */
export function unclippedTickLabels(l: Layout): Layout {
  for (const axis of ['xaxis', 'yaxis', 'yaxis2']) if (l[axis]) l[axis] = { ticklabeloverflow: 'allow', ...(l[axis] as Layout) };
  return l;
}

/**
 * A string shown by Plotly as it is. Plotly reads a subset of HTML in titles and labels (<b>, <a
 * href>, entities), and titles carry user text (a guidance target's token, regex or labels file).
 */
export const plotlyText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function baseLayout(title: string, yTitle: string, extra: Layout = {}): Layout {
  return unclippedTickLabels({
    title: { text: plotlyText(title), font: { size: 13 }, x: 0.02 },
    margin: { l: 56, r: 12, t: 32, b: 36 },
    xaxis: { title: axisTitle('step'), zeroline: false },
    yaxis: { title: axisTitle(yTitle), zeroline: false },
    legend: { orientation: 'h', y: -0.22, font: { size: 10 } },
    // Shown until the first points arrive (removed then), so an empty chart explains itself.
    annotations: [{ text: 'Press Train to see live curves', showarrow: false, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, font: { size: 12, color: '#9aa1ab' } }],
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    font: { family: 'system-ui, sans-serif', size: 11, color: '#333' },
    ...extra,
  });
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const positiveOrNull = (v: unknown): Point => (finite(v) && v > 0 ? v : null);
const line = (name: string, color: string, extra: Trace = {}): Trace => ({ x: [], y: [], name, mode: 'lines', line: { color, width: 2 }, ...extra });

/** A stream of one column per trace, a point per row where `value` is not null. */
function columnStream(traces: Trace[], layout: Layout, columns: ((r: MetricRow) => Point)[], skipNull = true): Stream {
  let n = 0;
  return {
    traces,
    layout,
    extend(rows) {
      const x: Point[][] = columns.map(() => []);
      const y: Point[][] = columns.map(() => []);
      let added = 0;
      for (const r of rows) {
        columns.forEach((col, i) => {
          const v = col(r);
          if (v === null && skipNull) return;
          x[i].push(r.step);
          y[i].push(v);
          added++;
        });
      }
      if (!added) return null;
      n += rows.length;
      return { x, y, indices: columns.map((_, i) => i) };
    },
    count: () => n,
  };
}

const LOSS_COLORS = { total_loss: '#1f4e79', recon_loss: '#2e8b57', sparsity_loss: '#c0392b' };
const LOSS_LABELS = { total_loss: 'total', recon_loss: 'reconstruction', sparsity_loss: 'sparsity' };

/** Losses raw and smoothed; `window` fixes the smoothing window in logged rows (0 = automatic). */
export function lossStream(window = 0): Stream {
  const builder = new SeriesBuilder(window);
  return {
    traces: LOSS_KEYS.flatMap((k) => [
      { x: [], y: [], name: `${LOSS_LABELS[k]} (raw)`, mode: 'lines', line: { color: LOSS_COLORS[k], width: 1 }, opacity: 0.3, showlegend: false, hoverinfo: 'skip' },
      line(LOSS_LABELS[k], LOSS_COLORS[k]),
    ]),
    layout: baseLayout('Loss', 'loss (log scale)', { yaxis: { type: 'log', title: axisTitle('loss (log scale)'), zeroline: false } }),
    extend(rows) {
      if (!rows.length) return null;
      const p = builder.append(rows);
      return {
        x: LOSS_KEYS.flatMap(() => [p.step, p.step]),
        y: LOSS_KEYS.flatMap((k) => [p.raw[k].map(positiveOrNull), p.smooth[k].map(positiveOrNull)]),
        indices: [0, 1, 2, 3, 4, 5],
      };
    },
    count: () => builder.length,
  };
}

/** L0 fraction against the 5% ± 1% reference band; in target-L0 mode also the target in effect. */
export function l0Stream(targetMode: boolean): Stream {
  const band = [
    { type: 'rect', xref: 'paper', x0: 0, x1: 1, y0: L0_TARGET_FRACTION - L0_TARGET_TOLERANCE, y1: L0_TARGET_FRACTION + L0_TARGET_TOLERANCE, fillcolor: '#2e8b57', opacity: 0.12, line: { width: 0 } },
    { type: 'line', xref: 'paper', x0: 0, x1: 1, y0: L0_TARGET_FRACTION, y1: L0_TARGET_FRACTION, line: { color: '#2e8b57', dash: 'dash', width: 1.5 } },
  ];
  const traces = [line('L0 fraction', '#6c3483')];
  const columns: ((r: MetricRow) => Point)[] = [(r) => (finite(r.sparsity_l0) ? r.sparsity_l0 : null)];
  if (targetMode) {
    traces.push(line('target L0 (controller)', '#b26a00', { line: { color: '#b26a00', width: 1.5, dash: 'dot', shape: 'hv' } }));
    columns.push((r) => (finite(r.target_l0) ? r.target_l0 : null));
  }
  return columnStream(traces, baseLayout(targetMode ? 'L0 fraction (band: 5% ± 1%; dotted: target)' : 'L0 fraction (target 5% ± 1%)', 'active latents / d_sae', { shapes: band }), columns);
}

export function cvStream(): Stream {
  const builder = new SeriesBuilder();
  return {
    traces: [line('CV %', '#1f4e79', { connectgaps: false })],
    layout: baseLayout('Convergence: CV of total loss over the last min(100, n/5) logs', 'CV %', {
      shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: CONVERGED_CV_PERCENT, y1: CONVERGED_CV_PERCENT, line: { color: '#c0392b', dash: 'dash', width: 1.5 } }],
    }),
    extend(rows) {
      if (!rows.length) return null;
      const p = builder.append(rows);
      return { x: [p.step], y: [p.cv], indices: [0] };
    },
    count: () => builder.length,
  };
}

/** λ as the controller (or the slider) sets it, and as it enters the loss after warm-up. */
export function lambdaStream(targetMode: boolean): Stream {
  return columnStream(
    [line('λ', '#c0392b'), line('λ in effect (after warm-up)', '#1f4e79', { line: { color: '#1f4e79', width: 1.5, dash: 'dash' } })],
    baseLayout(targetMode ? 'λ trajectory (steered towards the target L0)' : 'λ trajectory', 'λ (log scale)', { yaxis: { type: 'log', tickformat: '.2~g', title: axisTitle('λ (log scale)'), zeroline: false } }),
    [(r) => positiveOrNull(r.lambda), (r) => positiveOrNull(r.lambda_effective)],
  );
}

export function deadStream(): Stream {
  return columnStream(
    [line('dead (no firing in the window)', '#6b7280'), line('dense (fires on > 10% of tokens)', '#c0392b')],
    baseLayout('Dead and dense latents', 'fraction of latents', { yaxis: { title: axisTitle('fraction of latents'), rangemode: 'tozero', zeroline: false } }),
    [(r) => (finite(r.dead_fraction) ? r.dead_fraction : null), (r) => (finite(r.dense_fraction) ? r.dense_fraction : null)],
  );
}

/** Mean activation of a guided latent on positive vs negative rows, and the validation AUROC. */
export function guidanceStream(id: string, title: string): Stream {
  const pos = `guidance_${id}_pos`, neg = `guidance_${id}_neg`, au = `guidance_${id}_auroc`;
  let n = 0;
  return {
    traces: [
      line('positive rows', '#2e8b57'),
      line('negative rows', '#6b7280'),
      { x: [], y: [], name: 'validation AUROC', mode: 'lines+markers', yaxis: 'y2', line: { color: '#6c3483', width: 1.5 }, marker: { size: 5 } },
    ],
    layout: baseLayout(title, 'mean activation', {
      margin: { l: 56, r: 48, t: 32, b: 36 },
      yaxis2: { title: axisTitle('AUROC'), overlaying: 'y', side: 'right', range: [0, 1.02], tickmode: 'linear', tick0: 0, dtick: 0.25, showgrid: false, zeroline: false },
      shapes: [{ type: 'line', xref: 'paper', yref: 'y2', x0: 0, x1: 1, y0: 0.5, y1: 0.5, line: { color: '#6c3483', dash: 'dot', width: 1 } }],
    }),
    extend(rows) {
      const x: Point[][] = [[], [], []];
      const y: Point[][] = [[], [], []];
      for (const r of rows) {
        if (finite(r[pos])) { x[0].push(r.step); y[0].push(r[pos]); n++; }
        if (finite(r[neg])) { x[1].push(r.step); y[1].push(r[neg]); }
        if (finite(r[au])) { x[2].push(r.step); y[2].push(r[au]); }
      }
      return x.some((a) => a.length) ? { x, y, indices: [0, 1, 2] } : null;
    },
    count: () => n,
  };
}

export interface LayerChart {
  /** Column prefix: `<prefix>_<i>` for i in 0..layers-1. */
  prefix: string;
  title: string;
  yTitle: string;
  stacked: boolean;
}

const LAYER_COLORS = ['#1f4e79', '#2e8b57', '#c0392b', '#b26a00', '#6c3483', '#17838f', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

/** One trace per layer: stacked areas for shares (they sum to 1), lines otherwise. */
export function layerStream(spec: LayerChart, layers: number, firstLayer: number): Stream {
  const traces = Array.from({ length: layers }, (_, i) => {
    const color = LAYER_COLORS[i % LAYER_COLORS.length];
    return spec.stacked
      ? { x: [], y: [], name: `layer ${firstLayer + i}`, mode: 'lines', stackgroup: 'layers', line: { color, width: 0.5 }, fillcolor: color }
      : line(`layer ${firstLayer + i}`, color);
  });
  const yaxis = spec.stacked ? { title: axisTitle(spec.yTitle), range: [0, 1], zeroline: false } : { title: axisTitle(spec.yTitle), rangemode: 'tozero', zeroline: false };
  return columnStream(
    traces,
    baseLayout(spec.title, spec.yTitle, { yaxis, legend: { orientation: 'h', y: -0.22, font: { size: 10 }, traceorder: 'normal' } }),
    Array.from({ length: layers }, (_, i) => (r: MetricRow) => (finite(r[`${spec.prefix}_${i}`]) ? r[`${spec.prefix}_${i}`] : null)),
  );
}
