// What is loaded (activations and their companion files), its statistics, and the ways to load more.
import { useRef } from 'react';
import { useStore } from '../../store/store';
import { loadFiles, loadSample } from '../../worker/client';
import type { DatasetInfo } from '../../worker/protocol';
import { formatNumber } from '../format';

const n = (v: number) => v.toLocaleString('en-US');

function Companions({ dataset }: { dataset: DatasetInfo }) {
  const { tokens, vocab, labels } = dataset;
  if (!tokens && !vocab && labels.length === 0) {
    return <p className="muted small">No tokens, vocab or labels loaded (they enable token-rule and labelled guidance targets).</p>;
  }
  return (
    <ul className="companions" aria-label="Companion files" data-testid="companions">
      {tokens && <li><span className="tag">tokens</span> {tokens.name} <span className="muted">· {n(tokens.count)} ids</span></li>}
      {vocab && <li><span className="tag">vocab</span> {vocab.name} <span className="muted">· {n(vocab.count)} pieces</span></li>}
      {labels.map((l) => (
        <li key={l.name}><span className="tag">labels</span> {l.name} <span className="muted">· {n(l.count)} rows, {(l.positiveFraction * 100).toFixed(1)}% positive</span></li>
      ))}
      {(tokens && !vocab) && <li className="muted small">Add the vocab (.json) to use token rules.</li>}
      {(vocab && !tokens) && <li className="muted small">Add the token ids (int .npy) to use token rules.</li>}
    </ul>
  );
}

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
            <dt>shape</dt>
            <dd data-testid="dataset-shape">
              {dataset.nLayers > 1 ? `${n(dataset.rows)} × ${dataset.nLayers} layers × ${dataset.dIn}` : `${n(dataset.rows)} × ${dataset.dIn}`}
            </dd>
            <dt>dtype</dt><dd>{dataset.dtype}</dd>
            <dt>split</dt><dd>{n(dataset.trainRows)} train / {n(dataset.valRows)} val</dd>
            <dt>mean ± std</dt><dd>{formatNumber(dataset.stats.mean)} ± {formatNumber(dataset.stats.std)}</dd>
            <dt>mean ‖x‖</dt><dd>{formatNumber(dataset.stats.meanNorm)}</dd>
            <dt>range</dt><dd>{formatNumber(dataset.stats.min)} … {formatNumber(dataset.stats.max)}</dd>
          </dl>
          <Companions dataset={dataset} />
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
        <button type="button" onClick={() => input.current?.click()}
          title={running ? 'while a run trains, only tokens, vocab and labels can be added' : undefined}>Open files…</button>
        <button type="button" className="secondary" onClick={loadSample} disabled={running}>Load sample</button>
        <input
          ref={input}
          type="file"
          accept=".npy,.json,.csv,.jsonl"
          multiple
          aria-label="Activation file (.npy)"
          hidden
          onChange={(e) => {
            const files = e.target.files;
            if (files?.length) void loadFiles(Array.from(files));
            e.target.value = '';
          }}
        />
      </div>
      <p className="muted small">
        Or drop files anywhere on the page: activations (float <code>[N, d]</code> or <code>[L, N, d]</code> .npy), and optionally
        token ids (int .npy), a vocab (.json) and labels (.csv, .jsonl) — several at once.
      </p>
    </section>
  );
}
