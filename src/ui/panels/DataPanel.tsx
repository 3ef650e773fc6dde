// What is loaded, its statistics, and the ways to load something else.
import { useRef } from 'react';
import { useStore } from '../../store/store';
import { loadFile, loadSample } from '../../worker/client';
import { formatNumber } from '../format';

export function DataPanel() {
  const dataset = useStore((s) => s.dataset);
  const loading = useStore((s) => s.dataLoading);
  const error = useStore((s) => s.dataError);
  const running = useStore((s) => s.runState === 'running');
  const input = useRef<HTMLInputElement>(null);
  return (
    <section className="panel" aria-labelledby="data-title">
      <h2 id="data-title">Data</h2>
      {dataset ? (
        <div data-testid="dataset-info">
          <div className="dataset-name" title={dataset.description}>{dataset.name}</div>
          <dl className="kv">
            <dt>shape</dt><dd data-testid="dataset-shape">{dataset.rows.toLocaleString('en-US')} × {dataset.dIn}</dd>
            <dt>dtype</dt><dd>{dataset.dtype}</dd>
            <dt>split</dt><dd>{dataset.trainRows.toLocaleString('en-US')} train / {dataset.valRows.toLocaleString('en-US')} val</dd>
            <dt>mean ± std</dt><dd>{formatNumber(dataset.stats.mean)} ± {formatNumber(dataset.stats.std)}</dd>
            <dt>mean ‖x‖</dt><dd>{formatNumber(dataset.stats.meanNorm)}</dd>
            <dt>range</dt><dd>{formatNumber(dataset.stats.min)} … {formatNumber(dataset.stats.max)}</dd>
          </dl>
          <p className="muted small">{dataset.description}</p>
        </div>
      ) : (
        <p className="muted">{loading ?? 'No data loaded.'}</p>
      )}
      {loading && dataset && <p className="muted small" role="status">{loading}</p>}
      {error && (
        <div className="alert" role="alert">
          <strong>Could not load the file.</strong> {error.message}
          {error.hint && <div className="hint">{error.hint}</div>}
        </div>
      )}
      <div className="row">
        <button type="button" onClick={() => input.current?.click()} disabled={running}>Open .npy file</button>
        <button type="button" className="secondary" onClick={loadSample} disabled={running}>Load sample</button>
        <input
          ref={input}
          type="file"
          accept=".npy"
          aria-label="Activation file (.npy)"
          hidden
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) void loadFile(f);
            e.target.value = '';
          }}
        />
      </div>
      <p className="muted small">Or drop a float32/float16 <code>[N, d]</code> .npy anywhere on the page.</p>
    </section>
  );
}
