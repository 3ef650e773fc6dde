// Layout: header with the backend; on the left what to train (data, model, guidance, export); on
// the right the run: controls and live sliders above the charts, metrics and log below; and
// a page-wide drop target for activation files and their companions.
import { useEffect } from 'react';
import { loadFiles } from '../worker/client';
import { useStore } from '../store/store';
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
  const skipped = Object.entries(useStore((s) => s.skipped));
  return (
    <header className="header">
      <h1>SAE Workbench</h1>
      <span className="tagline">sparse autoencoders on language-model activations, trained in your browser</span>
      <details className="backend" data-testid="backend">
        <summary>Backend: <strong>{backend ?? 'starting…'}</strong>{detail && <span className="muted"> ({detail})</span>}{skipped.length > 0 && <span className="muted"> · {skipped.length} skipped</span>}</summary>
        {skipped.length > 0 && (
          <ul aria-label="Skipped backends">
            {skipped.map(([name, why]) => <li key={name}><strong>{name}</strong>: {why}</li>)}
          </ul>
        )}
      </details>
    </header>
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
      const files = Array.from(e.dataTransfer?.files ?? []);
      if (files.length) void loadFiles(files);
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
