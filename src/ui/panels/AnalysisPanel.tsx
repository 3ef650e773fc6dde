// The training analysis (docs/analysis.md), live: the statistics table (downloadable as CSV), the
// convergence verdict per loss and the sparsity-target verdict in words and colours, the smoothed
// loss rate of change, and the histogram of the L0 fraction over steps with its mean and the target.
import { useEffect, useMemo, useState } from 'react';
import { columnValues, convergenceVerdicts, lossRateOfChange, histogram, sparsityVerdict, statisticsCsv, statisticsTable } from '../../engine/analysis';
import { smoothingWindow } from '../../engine/metrics';
import { metricsBuffer } from '../../store/metricsBuffer';
import { useStore } from '../../store/store';
import { describeTarget, targetHistory, targetInEffect, targetTolerance } from '../../store/sparsityTarget';
import { layout, StaticPlot, type Trace } from '../charts/DataCharts';
import { download } from '../../app/download';
import { formatNumber } from '../../app/format';
import type { MetricLog } from '../../engine/metricLog';
import { m4Indices } from '../charts/decimate';

const COLUMNS = ['total_loss', 'recon_loss', 'sparsity_loss', 'sparsity_l0', 'l0', 'nmse', 'fve', 'dead_fraction'];

/**
 * The log (by column, never copied into row objects) and a version that changes when it does,
 * re-read at most once a second while a run is active (not on every metrics message).
 */
function useLog(): { log: MetricLog; version: number } {
  const runState = useStore((s) => s.runState);
  const runId = useStore((s) => s.runId);
  const [version, setVersion] = useState(-1);
  useEffect(() => {
    const tick = () => setVersion(metricsBuffer.version);
    tick();
    if (runState !== 'running') return;
    const id = setInterval(tick, 1000);
    return () => clearInterval(id);
  }, [runState, runId]);
  return { log: metricsBuffer.log, version };
}

/** A line trace thinned to about `buckets` M4 buckets (the chart is a few hundred pixels wide). */
function thinned(x: number[], y: number[], buckets = 400): { x: number[]; y: number[] } {
  const keep = m4Indices(x, y, buckets);
  return { x: keep.map((i) => x[i]), y: keep.map((i) => y[i]) };
}

export function AnalysisPanel() {
  const { log: rows, version } = useLog();
  const resolved = useStore((s) => s.resolved);
  const [windowText, setWindowText] = useState('');
  // `version` stands for the log's contents (the log object itself stays the same).
  // Only a target-L0 run has a target: the one in effect at the last logged step.
  const history = useMemo(() => targetHistory(resolved, rows.column('step'), rows.column('target_l0')), [rows, version, resolved]);
  const target = targetInEffect(history);
  const table = useMemo(() => statisticsTable(rows, COLUMNS), [rows, version]);
  const verdicts = useMemo(() => convergenceVerdicts(rows), [rows, version]);
  const sparsity = useMemo(() => (target === null ? null : sparsityVerdict(rows, target, targetTolerance(target))), [rows, version, target]);
  const defaultWindow = smoothingWindow(rows.length);
  const window = Math.max(1, Math.round(Number(windowText) || defaultWindow));
  const rate = useMemo(() => {
    const r = lossRateOfChange(rows, 'total_loss', window);
    const traces: Trace[] = [
      { ...thinned(r.step, r.rate), name: 'raw', mode: 'lines', line: { color: 'rgba(214,96,0,0.25)', width: 1 } },
      { ...thinned(r.step, r.smoothed), name: `smoothed (window ${window})`, mode: 'lines', line: { color: '#d66000', width: 2 } },
    ];
    return { traces, l: layout('Loss rate of change (numeric gradient of total loss per logged step)', 'step', { height: 220, showlegend: true, legend: { orientation: 'h', y: -0.3 }, shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: 0, y1: 0, line: { color: '#9aa1ab', dash: 'dot', width: 1 } }] }) };
  }, [rows, version, window]);
  const l0 = useMemo(() => {
    const v = columnValues(rows, 'sparsity_l0');
    // The range takes in the target; a run that sat on one value gets a narrow range around it.
    let lo = target ?? Infinity, hi = target ?? -Infinity;
    for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
    if (!Number.isFinite(lo)) { lo = 0; hi = 0; }
    const pad = Math.max((hi - lo) * 0.05, 0.002);
    lo = Math.max(0, lo - pad);
    hi += pad;
    const h = histogram(v, 50, [lo, hi]);
    const mean = v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
    const centers = h.counts.map((_, i) => (h.edges[i] + h.edges[i + 1]) / 2);
    // Bars are shares of the logged steps (counts in the hover): the axis settles as a run goes on
    // instead of rescaling with every new step.
    const share = h.counts.map((c) => c / Math.max(1, v.length));
    const traces: Trace[] = [{ type: 'bar', x: centers, y: share, customdata: h.counts, width: (h.edges[1] ?? 1) - (h.edges[0] ?? 0), marker: { color: '#6a3d9a' }, name: 'logged steps', hovertemplate: 'L0 fraction ≈ %{x:.4f}: %{customdata} steps (%{y:.1%})<extra></extra>' }];
    const line = (x: number, color: string) => ({ type: 'line', x0: x, x1: x, yref: 'paper', y0: 0, y1: 1, line: { color, dash: 'dash', width: 2 } });
    // The title stays the same as the mean moves (it is shown below the chart): Plotly caches the
    // size of every distinct text it has drawn, so a title that changes every second grows that cache.
    const title = target === null ? 'L0 fraction over logged steps: mean (blue)' : 'L0 fraction over logged steps: mean (blue) and target (red)';
    const shapes = target === null ? [line(mean, '#1f77b4')] : [line(mean, '#1f77b4'), line(target, '#d62728')];
    return { mean, traces, l: layout(title, 'L0 fraction', { height: 220, bargap: 0, xaxis: { range: [lo, hi], title: { text: 'L0 fraction', font: { size: 10 } } }, yaxis: { automargin: true, gridcolor: '#eef0f3', tickformat: '.0%', title: { text: 'share of logged steps', font: { size: 10 } } }, shapes }) };
  }, [rows, version, target]);
  if (rows.length === 0) return null;
  return (
    <section className="panel analysis" aria-labelledby="analysis-title" data-testid="analysis-panel">
      <h2 id="analysis-title">Training analysis</h2>
      <div className="row">
        <button type="button" className="secondary" onClick={() => download('training_statistics.csv', statisticsCsv(table), 'text/csv')}>Download statistics CSV</button>
        <span className="muted small">{rows.length} logged steps</span>
      </div>
      <table className="tensors small" aria-label="Training statistics">
        <thead><tr><th /><th>Initial</th><th>Final</th><th>Min</th><th>Max</th><th>Mean</th><th>Std</th><th>Change</th><th>Change %</th></tr></thead>
        <tbody>
          {table.map((s) => (
            <tr key={s.column}>
              <th>{s.column}</th><td>{formatNumber(s.initial)}</td><td>{formatNumber(s.final)}</td><td>{formatNumber(s.min)}</td><td>{formatNumber(s.max)}</td>
              <td>{formatNumber(s.mean)}</td><td>{formatNumber(s.std)}</td><td>{formatNumber(s.change)}</td><td title={Number.isNaN(s.change_percent) ? (s.column === 'fve' || s.min < 0 ? 'a signed quantity: its relative change means nothing (see Change)' : 'the initial value is 0') : undefined}>{Number.isFinite(s.change_percent) ? `${s.change_percent.toFixed(1)}%` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <ul className="verdicts" aria-label="Verdicts">
        {verdicts.map((v) => (
          <li key={v.column} className={v.converged ? 'ok' : 'warn'} data-testid={`verdict-${v.column}`}>
            {v.column}: CV {v.cv.toFixed(2)}% over the last {v.window} logged steps (mean {formatNumber(v.mean)}, std {formatNumber(v.std)}) — {v.converged ? 'converged' : 'not converged'}
          </li>
        ))}
        {sparsity && (
          <li className={sparsity.achieved ? 'ok' : 'warn'} data-testid="verdict-sparsity">
            Sparsity: final L0 fraction {formatNumber(sparsity.final)} against the target {formatNumber(sparsity.target)} (off by {formatNumber(sparsity.deviation)}) — {sparsity.achieved ? 'target achieved' : 'target not achieved'}
            {history.length > 1 && <span className="muted"> · the target in effect at the end; {describeTarget(history)}</span>}
          </li>
        )}
        {verdicts.length === 0 && <li className="muted">Convergence needs at least 10 logged steps.</li>}
      </ul>
      <div className="analysis-charts">
        <div>
          <StaticPlot testId="chart-loss-rate" label="Loss rate of change" traces={rate.traces} layout={rate.l} height={220} />
          <div className="field inline">
            <label htmlFor="rate-window">Smoothing window (logged steps)</label>
            <input id="rate-window" type="number" min={1} placeholder={String(defaultWindow)} value={windowText} onChange={(e) => setWindowText(e.target.value)} />
          </div>
        </div>
        <div>
          <StaticPlot testId="chart-l0-histogram" label="Histogram of the L0 fraction over logged steps" traces={l0.traces} layout={l0.l} height={220} />
          <p className="muted small" data-testid="l0-histogram-mean">mean {formatNumber(l0.mean)} (blue){target === null ? '; no target: sparsity set by hand' : `, target ${formatNumber(target)} (red)`}</p>
        </div>
      </div>
    </section>
  );
}
