// Loss recovered by splicing the SAE into the language model every N steps, beside the batch NMSE
// at the same steps. A point arrives every few seconds at most, so the chart is redrawn whole.
import { useEffect, useRef } from 'react';
import { metricsBuffer } from '../../store/metricsBuffer';
import { useStore } from '../../store/store';
import { baseLayout } from './streams';
import { loadPlotly } from './plotly';

const CONFIG = { displaylogo: false, responsive: true };

export function SpliceChart() {
  const points = useStore((s) => s.splicePoints);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let cancelled = false;
    const steps = metricsBuffer.log.column('step');
    const nmse = metricsBuffer.log.column('nmse');
    // NMSE of the last logged row at or before each evaluation step.
    const nmseAt = (step: number) => {
      let best: number | null = null;
      for (let i = 0; i < steps.length && steps[i] <= step; i++) if (Number.isFinite(nmse[i])) best = nmse[i];
      return best;
    };
    const x = points.map((p) => p.step);
    const traces = [
      // Error bars of ± one standard error (the hover shows "± se"), and the predictions behind each point.
      { x, y: points.map((p) => p.loss_recovered), name: 'loss recovered', mode: 'lines+markers', line: { color: '#1f4e79', width: 2 },
        error_y: { type: 'data', array: points.map((p) => (Number.isFinite(p.loss_recovered_se) ? p.loss_recovered_se : 0)), visible: true, thickness: 1, width: 3 },
        text: points.map((p) => `SE over ${p.predictions.toLocaleString('en-US')} predictions`), hoverinfo: 'x+y+text+name' },
      { x, y: points.map((p) => p.kl), name: 'KL (nats)', mode: 'lines+markers', line: { color: '#b26a00', width: 1.5, dash: 'dot' }, yaxis: 'y2' },
      { x, y: points.map((p) => nmseAt(p.step)), name: 'NMSE (batch)', mode: 'lines+markers', line: { color: '#6b7280', width: 1.5 }, yaxis: 'y2' },
    ];
    const layout = baseLayout('Loss recovered in the language model, beside NMSE', 'loss recovered', {
      yaxis2: { title: { text: 'NMSE · KL', font: { size: 11 } }, overlaying: 'y', side: 'right', zeroline: false, rangemode: 'tozero' },
      margin: { l: 56, r: 48, t: 32, b: 36 },
      annotations: points.length ? [] : [{ text: 'The first evaluation comes after N steps', showarrow: false, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, font: { size: 12, color: '#9aa1ab' } }],
    });
    void loadPlotly().then((P) => { if (!cancelled && ref.current) void P.react(ref.current, traces as never, layout as never, CONFIG); });
    return () => { cancelled = true; };
  }, [points]);
  useEffect(() => () => { const el = ref.current; if (el) void loadPlotly().then((P) => P.purge(el)); }, []);
  return <div ref={ref} className="chart" data-testid="chart-loss-recovered" data-points={points.length} />;
}
