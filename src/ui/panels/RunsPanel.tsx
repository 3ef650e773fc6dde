// Comparing runs: every finished run is kept (here and across reloads) with its final metrics;
// ticked runs have their curves overlaid; the frontier plots L0 against NMSE (and against loss
// recovered when runs were spliced into the language model) of the runs on one data, one point per
// run, one colour per variant (a marker per step budget), the runs of a sweep joined in sweep order. The sweep form trains one value of a
// hyper-parameter after another from the model form's settings.
import { useMemo } from 'react';
import { ARCHITECTURES, type Architecture } from '../../engine/config';
import { describeRunData, recordData, runDataKey, runDataOf, runLabel, type RunRecord } from '../../store/runHistory';
import { useStore } from '../../store/store';
import { SWEEP_PARAMS, frontierData, frontierSeries, parseSweepValues, type SweepParam } from '../../store/sweep';
import { cancelSweep, clearRuns, deleteRun, downloadRun, importRun, runSweep, sweepProblem, toggleOverlay } from '../../app/runs';
import { layout, StaticPlot, type Trace } from '../charts/DataCharts';
import { logAxis, powerOfTwoLogAxis } from '../charts/logAxis';
import { SelectField, TextField } from '../controls/Fields';
import { formatNumber } from '../../app/format';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22', '#393b79'];
export const variantColour = (a: Architecture) => PALETTE[ARCHITECTURES.indexOf(a) % PALETTE.length];

const OVERLAY_COLUMNS = [
  ['total_loss', 'total loss'], ['recon_loss', 'reconstruction loss'], ['sparsity_loss', 'sparsity loss'], ['nmse', 'NMSE'],
  ['fve', 'FVE'], ['l0', 'L0 (active latents)'], ['sparsity_l0', 'L0 fraction'], ['dead_fraction', 'dead fraction'],
] as const;

const percent = (v: number) => (v === 0 ? '0%' : `${(v * 100).toFixed(v < 0.001 ? 2 : 1)}%`);

function RunsTable({ runs }: { runs: RunRecord[] }) {
  const overlay = useStore((s) => s.overlay);
  const withSplice = runs.some((r) => r.splice);
  return (
    <div className="table-scroll">
      <table className="tensors small runs-table" aria-label="Kept runs">
        <thead>
          <tr>
            <th title="Overlay its curves">show</th><th>run</th><th>steps</th><th>L0</th><th>NMSE</th><th>FVE</th><th>dead</th>
            {withSplice && <th title="Loss recovered when spliced into the language model">loss rec.</th>}
            <th>data</th><th />
          </tr>
        </thead>
        <tbody>
          {[...runs].reverse().map((r) => (
            <tr key={r.id} data-testid="kept-run">
              <td><input type="checkbox" aria-label={`Overlay run ${r.number}`} checked={overlay.includes(r.id)} onChange={() => toggleOverlay(r.id)} /></td>
              <td className="run-label"><span className="swatch" style={{ background: variantColour(r.config.architecture) }} />{runLabel(r)}{r.state === 'stopped' && <span className="muted"> (stopped)</span>}</td>
              <td>{r.metrics.steps.toLocaleString('en-US')}</td>
              <td>{formatNumber(r.metrics.l0)}</td>
              <td>{formatNumber(r.metrics.nmse)}</td>
              <td>{formatNumber(r.metrics.fve)}</td>
              <td>{percent(r.metrics.dead_fraction)}</td>
              {withSplice && <td title={r.splice?.predictions ? `over ${r.splice.predictions.toLocaleString('en-US')} predictions of ${r.splice.text}${r.splice.hooks ? `, spliced at ${r.splice.hooks.join(', ')}` : ''}` : undefined}>
                {r.splice ? `${formatNumber(r.splice.loss_recovered)}${r.splice.loss_recovered_se !== undefined && Number.isFinite(r.splice.loss_recovered_se) ? ` ± ${formatNumber(r.splice.loss_recovered_se)}` : ''}` : '–'}
              </td>}
              <td className="muted data-name">{describeRunData(recordData(r))}</td>
              <td className="actions">
                <button type="button" className="link" disabled={!r.weightBytes} onClick={() => void downloadRun(r.id)} title="SAELens files of this run as a zip">zip</button>
                <button type="button" className="link" disabled={!r.weightBytes} onClick={() => void importRun(r.id)} title="Open as the imported SAE: evaluate, splice or continue training it">open</button>
                <button type="button" className="link danger" onClick={() => void deleteRun(r.id)} aria-label={`Delete run ${r.number}`} title="Delete this run">×</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function OverlayChart({ runs }: { runs: RunRecord[] }) {
  const column = useStore((s) => s.overlayColumn);
  const overlay = useStore((s) => s.overlay);
  const shown = runs.filter((r) => overlay.includes(r.id));
  const { traces, l } = useMemo(() => {
    const name = OVERLAY_COLUMNS.find(([c]) => c === column)?.[1] ?? column;
    const traces: Trace[] = shown.map((r, i) => ({
      x: r.rows.map((row) => row.step),
      y: r.rows.map((row) => row[column]),
      name: runLabel(r),
      mode: 'lines',
      // Runs of one variant share a colour; dashes tell them apart.
      line: { color: variantColour(r.config.architecture), width: 1.6, dash: ['solid', 'dash', 'dot', 'dashdot'][i % 4] },
    }));
    const log = column === 'total_loss' || column === 'recon_loss' || column === 'nmse';
    return { traces, l: layout(`${name} of the selected runs`, 'step', { height: 240, showlegend: true, legend: { orientation: 'h', y: -0.25 }, yaxis: { ...(log ? logAxis(traces.map((t) => t.y as number[])) : { type: 'linear' }), gridcolor: '#eef0f3', automargin: true } }) };
  }, [shown, column]);
  return (
    <div>
      <div className="row">
        <SelectField label="Overlay" value={column} options={OVERLAY_COLUMNS.map(([value, label]) => ({ value, label }))} onChange={(v) => useStore.setState({ overlayColumn: v })} />
      </div>
      {shown.length === 0
        ? <p className="muted small">Tick runs in the table to overlay their curves.</p>
        : <StaticPlot testId="overlay-chart" label={`Overlaid curves of ${shown.length} runs`} traces={traces} layout={l} height={240} />}
    </div>
  );
}

const BUDGET_SYMBOLS = ['circle', 'square', 'diamond', 'triangle-up', 'x', 'star'];

function FrontierChart({ runs, y, dataKey }: { runs: RunRecord[]; y: 'nmse' | 'loss_recovered'; dataKey: string | null }) {
  const series = useMemo(() => frontierSeries(runs, y, runLabel, dataKey), [runs, y, dataKey]);
  const points = series.reduce((a, s) => a + s.points.length, 0);
  const { traces, l } = useMemo(() => {
    const traces: Trace[] = [];
    const budgets = [...new Set(series.map((s) => s.steps))].sort((a, b) => a - b);
    for (const s of series) {
      const colour = variantColour(s.architecture);
      const symbol = BUDGET_SYMBOLS[budgets.indexOf(s.steps) % BUDGET_SYMBOLS.length];
      traces.push({
        x: s.points.map((p) => p.l0), y: s.points.map((p) => p.y), text: s.points.map((p) => p.label),
        name: budgets.length > 1 ? `${s.architecture} · ${s.steps.toLocaleString('en-US')} steps` : s.architecture,
        mode: 'markers', type: 'scatter', marker: { color: colour, size: 9, symbol, line: { color: '#fff', width: 1 } },
        hovertemplate: `%{text}<br>L0 %{x:.3g}, ${y === 'nmse' ? 'NMSE' : 'loss recovered'} %{y:.4g}<extra></extra>`,
      });
      // Each sweep's runs joined in order of L0.
      const sweeps = new Map<string, typeof s.points>();
      for (const p of s.points) if (p.sweepId) sweeps.set(p.sweepId, [...(sweeps.get(p.sweepId) ?? []), p]);
      for (const pts of sweeps.values()) {
        if (pts.length < 2) continue;
        traces.push({ x: pts.map((p) => p.l0), y: pts.map((p) => p.y), mode: 'lines', line: { color: colour, width: 1, dash: 'dot' }, hoverinfo: 'skip', showlegend: false });
      }
    }
    // Powers of two on the log L0 axis (Plotly's own minor labels read "10, 2, 3" for 10, 20, 30).
    const l0s = series.flatMap((s) => s.points.map((p) => p.l0));
    // Short enough not to be clipped in half of a 1,280-px window; the data is named above the charts.
    const title = y === 'nmse' ? 'L0 against NMSE (lower left is better)' : 'L0 against loss recovered (upper left is better)';
    return {
      traces,
      l: layout(title, 'L0 (mean active latents per token, validation)', {
        height: 260, showlegend: true, legend: { orientation: 'h', y: -0.3 },
        yaxis: {
          ...(y === 'nmse' ? logAxis([series.flatMap((s) => s.points.map((p) => p.y))]) : { type: 'linear' }),
          title: { text: y === 'nmse' ? 'NMSE' : 'loss recovered', font: { size: 10 } }, gridcolor: '#eef0f3', automargin: true,
        },
        xaxis: powerOfTwoLogAxis(l0s, { title: { text: 'L0 (mean active latents per token, validation)', font: { size: 10 } }, gridcolor: '#eef0f3', automargin: true }),
      }),
    };
  }, [series, y]);
  return (
    <div data-testid={`frontier-${y}`} data-points={points}>
      <StaticPlot testId={`frontier-${y}-plot`} label={`L0 against ${y === 'nmse' ? 'NMSE' : 'loss recovered'} for ${points} runs`} traces={traces} layout={l} height={260} />
    </div>
  );
}

/**
 * Which data the frontier shows: the user's choice, else the loaded data when runs were trained on
 * it, else the data of the latest run.
 */
function useFrontierData(runs: RunRecord[]) {
  const chosen = useStore((s) => s.frontierData);
  const dataset = useStore((s) => s.dataset);
  const options = useMemo(() => frontierData(runs), [runs]);
  const loaded = dataset ? runDataKey(runDataOf(dataset)) : null;
  const key = options.some((o) => o.key === chosen) ? chosen! : options.some((o) => o.key === loaded) ? loaded! : options[0]?.key ?? null;
  return { options, key };
}

/** The frontier compares runs of one data: which one, named in full (with the hook of extracted data). */
function FrontierDataChoice({ options, value }: { options: { key: string; label: string; runs: number }[]; value: string | null }) {
  if (!value) return null;
  const current = options.find((o) => o.key === value)!;
  if (options.length === 1) return <p className="small frontier-data" data-testid="frontier-data">Frontier of the {current.runs} run{current.runs === 1 ? '' : 's'} on <strong>{current.label}</strong></p>;
  return (
    <div className="row frontier-data" data-testid="frontier-data">
      <SelectField label={`Frontier of the runs on (${options.length} data kept)`} value={value}
        options={options.map((o) => ({ value: o.key, label: `${o.label} — ${o.runs} run${o.runs === 1 ? '' : 's'}` }))}
        onChange={(v) => useStore.setState({ frontierData: v })} title="a frontier compares runs trained on the same data" />
    </div>
  );
}

function SweepForm() {
  const s = useStore();
  const sweep = s.sweep;
  const running = sweep?.state === 'running';
  const problem = sweepProblem(s);
  const parsed = parseSweepValues(s.sweepValues, s.sweepParam);
  const options = SWEEP_PARAMS.map((p) => {
    const why = p.problem(s.form.architecture);
    return { value: p.key, label: why ? `${p.label} — not for ${s.form.architecture}` : p.label, disabled: why !== null };
  });
  const placeholder: Record<SweepParam, string> = { lambda: '1e-3, 3e-3, 1e-2', k: '8, 16, 32', d_sae: '256, 512, 1024', bandwidth: '0.01, 0.05, 0.2', init_threshold: '0.01, 0.05, 0.1' };
  return (
    <fieldset className="group sweep" aria-label="Sweep">
      <legend>Sweep one hyper-parameter ({s.form.architecture}, the other settings from the model form)</legend>
      <div className="row">
        <SelectField label="Parameter" value={s.sweepParam} options={options} onChange={(v) => useStore.setState({ sweepParam: v })} disabled={running} />
        <TextField label="Values" value={s.sweepValues} placeholder={placeholder[s.sweepParam]} onChange={(v) => useStore.setState({ sweepValues: v })} disabled={running}
          invalid={s.sweepValues.trim() !== '' && 'error' in parsed} title="Comma-separated; one run per value, one after another" />
        <div className="field sweep-actions">
          {running
            ? <button type="button" onClick={cancelSweep}>Cancel sweep</button>
            : <button type="button" className="primary" onClick={() => void runSweep()} disabled={problem !== null} title={problem ?? undefined}>Run sweep</button>}
        </div>
      </div>
      {!running && problem && s.sweepValues.trim() !== '' && <p className="muted small" role="status">{problem}.</p>}
      {(s.sweepParam === 'lambda' || s.sweepParam === 'k') && !running && <p className="muted small">Each run fixes {s.sweepParam === 'k' ? 'k' : 'λ'} (sparsity mode manual), so the target-L0 controller does not move it.</p>}
      {sweep && (
        <p className={`small ${sweep.state === 'failed' ? 'error' : ''}`} role="status" data-testid="sweep-status">
          {sweep.state === 'running' && `Sweep of ${sweep.param}: run ${sweep.index + 1} of ${sweep.values.length} (${sweep.param} ${sweep.values[sweep.index]})…`}
          {sweep.state === 'done' && `Sweep of ${sweep.param} done: ${sweep.values.length} runs kept.`}
          {(sweep.state === 'failed' || sweep.state === 'cancelled') && `Sweep of ${sweep.param} stopped: ${sweep.message}.`}
        </p>
      )}
    </fieldset>
  );
}

export function RunsPanel() {
  const runs = useStore((s) => s.runs);
  const problem = useStore((s) => s.runsProblem);
  const keeping = useStore((s) => s.keeping);
  const frontier = useFrontierData(runs);
  const anySplice = runs.some((r) => r.splice && runDataKey(recordData(r)) === frontier.key);
  return (
    <section className="panel runs-panel" aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      <SweepForm />
      {keeping && <p className="muted small" role="status">{keeping}</p>}
      {problem && <p className="warn small">{problem}.</p>}
      {runs.length === 0
        ? <p className="muted small">Finished runs are kept here with their final metrics, weights and log — also after a reload.</p>
        : (
          <>
            <RunsTable runs={runs} />
            <div className="row">
              <button type="button" className="link danger" onClick={() => { if (confirm(`Delete all ${runs.length} kept runs?`)) void clearRuns(); }}>Delete all runs</button>
            </div>
            <FrontierDataChoice options={frontier.options} value={frontier.key} />
            <div className="runs-charts">
              <FrontierChart runs={runs} y="nmse" dataKey={frontier.key} />
              {anySplice ? <FrontierChart runs={runs} y="loss_recovered" dataKey={frontier.key} /> : <OverlayChart runs={runs} />}
            </div>
            {anySplice && <OverlayChart runs={runs} />}
          </>
        )}
    </section>
  );
}
