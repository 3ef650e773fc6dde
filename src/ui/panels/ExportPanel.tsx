// Export of the SAELens files, the training log and the run config: one zip or single files.
import { useEffect, useMemo } from 'react';
import { zipSync } from 'fflate';
import { exportRun } from '../../worker/client';
import { useStore } from '../../store/store';

function download(name: string, bytes: BlobPart, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function ExportPanel() {
  const { runState, exported, exporting, resolved } = useStore();
  const canExport = runState === 'done' || runState === 'stopped' || runState === 'paused';
  const zipName = resolved ? `sae_${resolved.architecture}_${resolved.d_sae}.zip` : 'sae.zip';
  const files = useMemo(() => (exported ? Object.entries(exported) : []), [exported]);

  // The zip downloads as soon as the worker has sent the files for an Export click.
  useEffect(() => {
    if (!exported) return;
    const zip = zipSync(Object.fromEntries(Object.entries(exported).map(([n, b]) => [n, new Uint8Array(b)])));
    download(zipName, zip as BlobPart, 'application/zip');
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
    </section>
  );
}
