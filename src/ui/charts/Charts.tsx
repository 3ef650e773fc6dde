// Live Plotly charts (DESIGN.md §5): losses raw + smoothed, L0 fraction against the 5% target with
// a ±1% band, convergence CV against 5%. Rows arrive from metricsBuffer (not React state) and are
// appended with extendTraces at most ~10 times a second.
import { useEffect, useRef } from 'react';
import type PlotlyType from 'plotly.js-basic-dist-min';
import { CONVERGED_CV_PERCENT, L0_TARGET_FRACTION, L0_TARGET_TOLERANCE } from '../../engine/metrics';
import { metricsBuffer } from '../../store/metricsBuffer';
import type { MetricRow } from '../../worker/protocol';
import { LOSS_KEYS, SeriesBuilder } from './series';

const COLORS = { total_loss: '#1f4e79', recon_loss: '#2e8b57', sparsity_loss: '#c0392b' };
const LABELS = { total_loss: 'total', recon_loss: 'reconstruction', sparsity_loss: 'sparsity' };
const MIN_REDRAW_MS = 100;

const baseLayout = (title: string, yTitle: string, extra: Record<string, unknown> = {}) => ({
  title: { text: title, font: { size: 13 }, x: 0.02 },
  margin: { l: 56, r: 12, t: 32, b: 36 },
  xaxis: { title: { text: 'step', font: { size: 11 } }, zeroline: false },
  yaxis: { title: { text: yTitle, font: { size: 11 } }, zeroline: false },
  legend: { orientation: 'h', y: -0.22, font: { size: 10 } },
  // Shown until the first points arrive (removed then), so an empty chart explains itself.
  annotations: [{ text: 'Press Train to see live curves', showarrow: false, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, font: { size: 12, color: '#9aa1ab' } }],
  paper_bgcolor: '#fff',
  plot_bgcolor: '#fff',
  font: { family: 'system-ui, sans-serif', size: 11, color: '#333' },
  ...extra,
});

function lossTraces() {
  return LOSS_KEYS.flatMap((k) => [
    { x: [], y: [], name: `${LABELS[k]} (raw)`, mode: 'lines', line: { color: COLORS[k], width: 1 }, opacity: 0.3, showlegend: false, hoverinfo: 'skip' },
    { x: [], y: [], name: LABELS[k], mode: 'lines', line: { color: COLORS[k], width: 2 } },
  ]);
}

const l0Layout = () => baseLayout('L0 fraction (target 5% ± 1%)', 'active latents / d_sae', {
  shapes: [
    { type: 'rect', xref: 'paper', x0: 0, x1: 1, y0: L0_TARGET_FRACTION - L0_TARGET_TOLERANCE, y1: L0_TARGET_FRACTION + L0_TARGET_TOLERANCE, fillcolor: '#2e8b57', opacity: 0.12, line: { width: 0 } },
    { type: 'line', xref: 'paper', x0: 0, x1: 1, y0: L0_TARGET_FRACTION, y1: L0_TARGET_FRACTION, line: { color: '#2e8b57', dash: 'dash', width: 1.5 } },
  ],
});

const cvLayout = () => baseLayout('Convergence: CV of total loss over the last min(100, n/5) logs', 'CV %', {
  shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: CONVERGED_CV_PERCENT, y1: CONVERGED_CV_PERCENT, line: { color: '#c0392b', dash: 'dash', width: 1.5 } }],
});

const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

export function Charts() {
  const lossRef = useRef<HTMLDivElement>(null);
  const l0Ref = useRef<HTMLDivElement>(null);
  const cvRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let Plotly: typeof PlotlyType | null = null;
    let disposed = false;
    const builder = new SeriesBuilder();
    let queue: MetricRow[] = [];
    let frame = 0;
    let lastDraw = 0;
    const els = () => [lossRef.current, l0Ref.current, cvRef.current] as const;

    const setPoints = (n: number) => els().forEach((el) => el?.setAttribute('data-points', String(n)));

    const init = async () => {
      if (!Plotly) return;
      const [loss, l0, cv] = els();
      if (!loss || !l0 || !cv) return;
      builder.reset();
      await Plotly.react(loss, lossTraces(), baseLayout('Loss', 'loss (log scale)', { yaxis: { type: 'log', dtick: 1, title: { text: 'loss (log scale)', font: { size: 11 } } } }), CONFIG);
      await Plotly.react(l0, [{ x: [], y: [], name: 'L0 fraction', mode: 'lines', line: { color: '#6c3483', width: 2 } }], l0Layout(), CONFIG);
      await Plotly.react(cv, [{ x: [], y: [], name: 'CV %', mode: 'lines', line: { color: '#1f4e79', width: 2 }, connectgaps: false }], cvLayout(), CONFIG);
      setPoints(0);
    };

    const flush = () => {
      frame = 0;
      if (!Plotly || disposed || queue.length === 0) return;
      const now = performance.now();
      if (now - lastDraw < MIN_REDRAW_MS) { frame = requestAnimationFrame(flush); return; }
      lastDraw = now;
      const rows = queue;
      queue = [];
      const first = builder.length === 0;
      const p = builder.append(rows);
      const [loss, l0, cv] = els();
      if (!loss || !l0 || !cv) return;
      if (first) for (const el of [loss, l0, cv]) void Plotly.relayout(el, { annotations: [] });
      const xs = LOSS_KEYS.flatMap(() => [p.step, p.step]);
      const ys = LOSS_KEYS.flatMap((k) => [p.raw[k].map((v) => (v > 0 ? v : null)), p.smooth[k].map((v) => (v > 0 ? v : null))]);
      void Plotly.extendTraces(loss, { x: xs, y: ys }, [0, 1, 2, 3, 4, 5]);
      void Plotly.extendTraces(l0, { x: [p.step], y: [p.l0Fraction] }, [0]);
      void Plotly.extendTraces(cv, { x: [p.step], y: [p.cv] }, [0]);
      setPoints(builder.length);
    };

    const unsubscribe = metricsBuffer.subscribe(
      (appended) => {
        queue.push(...appended);
        if (!frame) frame = requestAnimationFrame(flush);
      },
      () => { queue = []; void init(); },
    );

    void import('plotly.js-basic-dist-min').then(async (m) => {
      if (disposed) return;
      Plotly = m.default;
      await init();
      queue = [...metricsBuffer.rows];
      if (queue.length) frame = requestAnimationFrame(flush);
    });

    return () => {
      disposed = true;
      unsubscribe();
      if (frame) cancelAnimationFrame(frame);
      els().forEach((el) => el && Plotly?.purge(el));
    };
  }, []);

  return (
    <section className="charts" aria-label="Charts">
      <div ref={lossRef} className="chart" data-testid="chart-loss" data-points="0" />
      <div ref={l0Ref} className="chart" data-testid="chart-l0" data-points="0" />
      <div ref={cvRef} className="chart" data-testid="chart-cv" data-points="0" />
    </section>
  );
}
