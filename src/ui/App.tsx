// Layout: header with the backend; on the left what to train (data, model, guidance, export); on
// the right the run: controls and live sliders above the charts, metrics and log below; and
// a page-wide drop target for activation files and their companions.
import { useEffect } from 'react';
import { loadFiles } from '../app/client';
import { droppedFiles } from '../app/droppedFolders';
import { useStore } from '../store/store';
import type { BackendName } from '../engine/types';
import type { Calibration } from '../engine/calibrate';
import { Charts } from './charts/Charts';
import { DataPanel } from './panels/DataPanel';
import { ExportPanel } from './panels/ExportPanel';
import { GuidancePanel } from './panels/GuidancePanel';
import { AnalysisPanel } from './panels/AnalysisPanel';
import { FeaturesPanel } from './panels/FeaturesPanel';
import { ImportPanel } from './panels/ImportPanel';
import { LanguageModelPanel } from './panels/LanguageModelPanel';
import { LivePanel } from './panels/LivePanel';
import { MetricsPanel } from './panels/MetricsPanel';
import { ModelPanel } from './panels/ModelPanel';
import { RunLog } from './panels/RunLog';
import { RunsPanel } from './panels/RunsPanel';
import { EngineDown, ResumeOffer, TrainPanel } from './panels/TrainPanel';

function Header() {
  const backend = useStore((s) => s.backend);
  const detail = useStore((s) => s.backendDetail);
  const preference = useStore((s) => s.backendPreference);
  const calibration = useStore((s) => s.calibration);
  const skipped = Object.entries(useStore((s) => s.skipped));
  return (
    <header className="header">
      <h1>SAE Workbench</h1>
      <span className="tagline">sparse autoencoders on language-model activations, trained in your browser</span>
      <details className="backend" data-testid="backend">
        <summary>
          Backend: <strong>{backend ?? 'starting…'}</strong>{detail && <span className="muted"> ({detail})</span>}
          {preference !== 'auto' && <span className="muted"> · chosen</span>}
          {skipped.length > 0 && !calibration && <span className="muted"> · {skipped.length} skipped</span>}
        </summary>
        <div className="backend-panel">
          {preference !== 'auto' && <p className="muted">{preference} was chosen (Train panel or ?backend=): it trains as it is, nothing is measured.</p>}
          {calibration
            ? <CalibrationTable calibration={calibration.calibration} cached={calibration.cached} current={backend} />
            : preference === 'auto' && <p className="muted">Auto: when you train, each backend runs a few steps of your configuration and the fastest trains. Each size is measured once.</p>}
          {skipped.length > 0 && (
            <>
              <h3>At start-up</h3>
              <ul aria-label="Skipped backends">
                {skipped.map(([name, why]) => <li key={name}><strong>{name}</strong>: {why}</li>)}
              </ul>
            </>
          )}
        </div>
      </details>
    </header>
  );
}

/** The speeds auto chose by: one row per backend, the chosen one marked. */
function CalibrationTable({ calibration: c, cached, current }: { calibration: Calibration; cached: boolean; current: BackendName | null }) {
  const best = Math.max(0, ...c.results.filter((r) => r.status === 'measured').map((r) => r.tokensPerS!));
  return (
    <table className="calibration" aria-label="Measured backend speeds">
      <caption>
        Measured for {c.key.replace(/ (d_in|d_sae|batch) /g, ' · $1 ')}
        <span className="muted"> ({cached ? 'earlier' : `in ${(c.ms / 1000).toFixed(1)} s`})</span>
      </caption>
      <thead><tr><th scope="col">backend</th><th scope="col" className="num">tokens/s</th><th scope="col">note</th></tr></thead>
      <tbody>
        {c.results.map((r) => {
          const chosen = r.backend === c.fastest;
          return (
            <tr key={r.backend} className={chosen ? 'chosen' : undefined} aria-current={chosen && current === r.backend ? 'true' : undefined}>
              <th scope="row">{r.backend}</th>
              <td className="num">{r.status === 'measured' ? Math.round(r.tokensPerS!).toLocaleString('en-US') : r.status === 'too slow' ? `< ${Math.max(1, Math.round(r.tokensPerS!)).toLocaleString('en-US')}` : '—'}</td>
              <td>{chosen ? <strong>✓ fastest{current === r.backend ? ', in use' : ''}</strong>
                : r.status === 'measured' ? <span className="muted">{(r.tokensPerS! / best).toLocaleString('en-US', { style: 'percent' })} of the fastest</span>
                : <span className="muted">{r.reason}</span>}</td>
            </tr>
          );
        })}
      </tbody>
      {!c.fastest && <tfoot><tr><td colSpan={3} className="muted">No backend finished its steps within the limits; {current ?? 'the start-up backend'} stays.</td></tr></tfoot>}
    </table>
  );
}

function useDropTarget() {
  useEffect(() => {
    let depth = 0;
    const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
    const enter = (e: DragEvent) => { if (!hasFiles(e)) return; e.preventDefault(); depth++; useStore.setState({ dragging: true }); };
    const over = (e: DragEvent) => { if (hasFiles(e)) e.preventDefault(); };
    const leave = () => { depth = Math.max(0, depth - 1); if (depth === 0) useStore.setState({ dragging: false }); };
    const drop = (e: DragEvent) => {
      e.preventDefault();
      depth = 0;
      useStore.setState({ dragging: false });
      if (!e.dataTransfer) return;
      // Folders (a Hugging Face model folder, a SAELens directory) are walked into their files.
      void droppedFiles(e.dataTransfer).then((files) => { if (files.length) loadFiles(files); });
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, []);
}

export function App() {
  useDropTarget();
  const dragging = useStore((s) => s.dragging);
  return (
    <div className="app">
      <Header />
      <EngineDown />
      <ResumeOffer />
      <main className="layout">
        <div className="sidebar">
          <DataPanel />
          <LanguageModelPanel />
          <ImportPanel />
          <ModelPanel />
          <GuidancePanel />
          <ExportPanel />
        </div>
        <div className="content">
          <div className="run-controls">
            <TrainPanel />
            <LivePanel />
          </div>
          <Charts />
          <div className="below-charts">
            <MetricsPanel />
            <RunLog />
            <AnalysisPanel />
            <FeaturesPanel />
          </div>
          <RunsPanel />
        </div>
      </main>
      {dragging && <div className="drop-overlay" aria-hidden="true">Drop activations (.npy, .npz, .safetensors, raw), companions (tokens, document ids, vocab, labels), a run_config.json or a SAELens directory / zip</div>}
    </div>
  );
}
