// What each live chart plots: its traces, its layout, and how appended metric rows become points.
// A stream is created fresh for every run (and for a chart that appears mid-run, fed the rows so
// far first), so every method only ever appends.
import { SPARSITY_KIND, type Architecture, type SparsityMode } from '../../engine/config';
import { CONVERGED_CV_PERCENT } from '../../engine/metrics';
import { targetTolerance } from '../../store/sparsityTarget';
import type { MetricRow } from '../../engine/types';
import { LogRange, logAxis, type LogTicks } from './logAxis';
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
  /** A log y axis: its ticks when the points appended so far changed them, else null. */
  yTicks?(): LogTicks | null;
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
    // Room on the right for the last step label (the step axis ends at a round step count).
    margin: { l: 56, r: 24, t: 32, b: 36 },
    xaxis: { title: axisTitle('step'), zeroline: false },
    yaxis: { title: axisTitle(yTitle), zeroline: false },
    legend: { orientation: 'h', y: -0.22, font: { size: 10 } },
    // Shown until the first points arrive (removed then), so an empty chart explains itself.
    annotations: [{ text: 'Curves appear with the first training steps', showarrow: false, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, font: { size: 12, color: '#9aa1ab' } }],
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

/** A log y axis titled `title`, with the ticks of logAxis.ts (powers of ten until data arrive). */
const logYAxis = (title: string): Layout => logAxis([[1e-3, 1e3]], { title: axisTitle(title), zeroline: false });

/**
 * Losses raw and smoothed; `window` fixes the smoothing window in logged rows (0 = automatic).
 * Without `withSparsity` (variants whose sparsity is set by k) there is no sparsity loss: it is 0 by
 * construction there, and a log axis cannot show it anyway.
 */
export function lossStream(window = 0, withSparsity = true): Stream {
  const builder = new SeriesBuilder(window);
  const keys = LOSS_KEYS.filter((k) => withSparsity || k !== 'sparsity_loss');
  const range = new LogRange();
  return {
    traces: keys.flatMap((k) => [
      { x: [], y: [], name: `${LOSS_LABELS[k]} (raw)`, mode: 'lines', line: { color: LOSS_COLORS[k], width: 1 }, opacity: 0.3, showlegend: false, hoverinfo: 'skip' },
      line(LOSS_LABELS[k], LOSS_COLORS[k]),
    ]),
    layout: baseLayout('Loss', 'loss (log scale)', { yaxis: logYAxis('loss (log scale)') }),
    extend(rows) {
      if (!rows.length) return null;
      const p = builder.append(rows);
      const y = keys.flatMap((k) => [p.raw[k].map(positiveOrNull), p.smooth[k].map(positiveOrNull)]);
      for (const values of y) range.add(values);
      return { x: keys.flatMap(() => [p.step, p.step]), y, indices: y.map((_, i) => i) };
    },
    count: () => builder.length,
    yTicks: () => range.changedTicks(),
  };
}

export interface L0Chart {
  /**
   * The run steers towards a target L0 (sparsity_mode 'target_l0'): a band around the target in
   * effect at each logged step (a slider may move it). Runs with manual k or λ have none.
   */
  target: boolean;
  /** d_sae of a variant whose sparsity is set by k (k / d_sae is drawn), or null for penalty variants. */
  kOver: number | null;
}

const TARGET_COLOR = '#2e8b57';

/** The L0 fraction; the target band of target-L0 runs; k / d_sae of k variants. */
export function l0Stream({ target, kOver }: L0Chart): Stream {
  const percentBand = `±${Number((targetTolerance(1) * 100).toPrecision(3))}%`;
  const traces: Trace[] = [];
  const columns: ((r: MetricRow) => Point)[] = [];
  const rowTarget = (r: MetricRow): Point => (finite(r.target_l0) && r.target_l0 > 0 ? r.target_l0 : null);
  if (target) {
    // A band drawn as two step-shaped traces (the upper filled down to the lower) and the target
    // itself between them, one legend entry for the three.
    const band = { mode: 'lines', legendgroup: 'target', showlegend: false, hoverinfo: 'skip', line: { width: 0, shape: 'hv', color: TARGET_COLOR } };
    traces.push(
      { x: [], y: [], name: 'target − tolerance', ...band },
      { x: [], y: [], name: 'target + tolerance', ...band, fill: 'tonexty', fillcolor: 'rgba(46,139,87,0.14)' },
      line(`target L0 ${percentBand}`, TARGET_COLOR, { legendgroup: 'target', line: { color: TARGET_COLOR, width: 1.5, dash: 'dash', shape: 'hv' } }),
    );
    const offset = (sign: number) => (r: MetricRow): Point => { const t = rowTarget(r); return t === null ? null : t + sign * targetTolerance(t); };
    columns.push(offset(-1), offset(1), rowTarget);
  }
  traces.push(line('L0 fraction', '#6c3483'));
  columns.push((r) => (finite(r.sparsity_l0) ? r.sparsity_l0 : null));
  if (kOver !== null) {
    // Short names: the legend of a half-width chart fits one row.
    traces.push(line(target ? 'k / d_sae (from the target)' : 'k / d_sae', '#b26a00', { line: { color: '#b26a00', width: 1.5, dash: 'dot', shape: 'hv' } }));
    columns.push((r) => (finite(r.k) && r.k > 0 ? r.k / kOver : null));
  }
  const title = target ? `L0 fraction against the target (band: ${percentBand} of the target)` : 'L0 fraction';
  const stream = columnStream(traces, baseLayout(title, 'active latents / d_sae'), columns);
  if (!target) return stream;
  // The target in effect from step 0: the band starts at the left edge, not at the first log.
  let started = false;
  return {
    ...stream,
    extend(rows) {
      const ext = stream.extend(rows);
      if (ext && !started) {
        started = true;
        for (let i = 0; i < 3; i++) if (ext.x[i].length && ext.x[i][0] !== 0) { ext.x[i].unshift(0); ext.y[i].unshift(ext.y[i][0]); }
      }
      return ext;
    },
  };
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

/** What the sparsity-related charts draw for a run (or the form's next run). */
export interface SparsityCharts {
  /** The loss chart has a sparsity-loss line (not for k variants: it is 0 there). */
  lossWithSparsity: boolean;
  l0: L0Chart;
  /** The λ chart, and whether a controller moves λ; null for k variants (they have no λ). */
  lambda: { target: boolean } | null;
}

export function sparsityCharts(architecture: Architecture, mode: SparsityMode, dSae: number): SparsityCharts {
  const penalty = SPARSITY_KIND[architecture] === 'penalty';
  const target = mode === 'target_l0';
  return { lossWithSparsity: penalty, l0: { target, kOver: penalty ? null : dSae }, lambda: penalty ? { target } : null };
}

/** λ as the controller (or the slider) sets it, and as it enters the loss after warm-up. */
export function lambdaStream(targetMode: boolean): Stream {
  const stream = columnStream(
    [line(targetMode ? 'λ (controller)' : 'λ (set by hand)', '#c0392b'), line('λ in effect (after warm-up)', '#1f4e79', { line: { color: '#1f4e79', width: 1.5, dash: 'dash' } })],
    baseLayout(targetMode ? 'λ trajectory (steered towards the target L0)' : 'λ trajectory', 'λ (log scale)', { yaxis: logYAxis('λ (log scale)') }),
    [(r) => positiveOrNull(r.lambda), (r) => positiveOrNull(r.lambda_effective)],
  );
  const range = new LogRange();
  return {
    ...stream,
    extend(rows) {
      const ext = stream.extend(rows);
      if (ext) for (const values of ext.y) range.add(values);
      return ext;
    },
    yTicks: () => range.changedTicks(),
  };
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
