// Export of the SAELens files, the training log and the run config: one zip or single files; and
// the weights kept at checkpoint steps.
import { useEffect, useMemo } from 'react';
import { exportCheckpoint, exportRun } from '../../app/client';
import { useStore } from '../../store/store';
import { download, downloadFiles } from '../../app/download';

export function ExportPanel() {
  const runState = useStore((s) => s.runState);
  const exported = useStore((s) => s.exported);
  const exporting = useStore((s) => s.exporting);
  const resolved = useStore((s) => s.resolved);
  const checkpoints = useStore((s) => s.checkpoints);
  const checkpointExporting = useStore((s) => s.checkpointExporting);
  const canExport = runState === 'done' || runState === 'stopped' || runState === 'paused';
  const zipName = resolved ? `sae_${resolved.architecture}_${resolved.d_sae}.zip` : 'sae.zip';
  const files = useMemo(() => (exported ? Object.entries(exported) : []), [exported]);

  // The zip downloads as soon as the worker has sent the files for an Export click.
  useEffect(() => {
    if (!exported) return;
    downloadFiles(zipName, exported);
    // Keyed on the files alone: a fresh export downloads once; re-renders do not.
  }, [exported]); // zipName derives from the same run

  return (
    <section className="panel" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <div className="row">
        <button type="button" onClick={exportRun} disabled={!canExport || exporting}>{exporting ? 'Exporting…' : 'Export SAELens'}</button>
      </div>
      {!canExport && <p className="muted small">Available when a run is paused, stopped or done.</p>}
      {files.length > 0 && (
        <ul className="files" aria-label="Exported files">
          {files.map(([name, bytes]) => (
            <li key={name}>
              <button type="button" className="link" onClick={() => download(name, bytes)}>{name}</button>
              <span className="muted small"> {(bytes.byteLength / 1024).toFixed(1)} KB</span>
            </li>
          ))}
        </ul>
      )}
      {checkpoints.length > 0 && (
        <>
          <h3>Checkpoints</h3>
          <ul className="files" aria-label="Checkpoints">
            {checkpoints.map((step) => (
              <li key={step}>
                <button type="button" className="link" onClick={() => exportCheckpoint(step)} disabled={checkpointExporting !== null}>
                  checkpoint step {step}
                </button>
                {checkpointExporting === step && <span className="muted small"> exporting…</span>}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
