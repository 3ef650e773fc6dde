// What is loaded (activations and their companion files), how it is split, its statistics and
// outliers, the files that need an answer (which array, a raw file's shape), and ways to load more.
import { useRef, useState } from 'react';
import { setForm, useStore } from '../../store/store';
import { loadFiles, loadSample, reloadFile } from '../../app/client';
import { pickedFolderFiles } from '../../app/droppedFolders';
import type { DatasetInfo, FileResult } from '../../data/types';
import { NormHistogram, PerDimChart } from '../charts/DataCharts';
import { NumberField } from '../controls/NumberField';
import { formatNumber } from '../../app/format';

const n = (v: number) => v.toLocaleString('en-US');
const size = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);

const ACCEPT = '.npy,.npz,.safetensors,.f32,.f16,.bin,.raw,.json,.csv,.jsonl,.zip,.txt';

function Companions({ dataset }: { dataset: DatasetInfo }) {
  const { tokens, vocab, labels, docIds, positions } = dataset;
  if (!tokens && !vocab && labels.length === 0 && !docIds && !positions) {
    return <p className="muted small">No tokens, vocab, document ids or labels loaded (they enable token-rule and labelled guidance targets and the split by document).</p>;
  }
  return (
    <ul className="companions" aria-label="Companion files" data-testid="companions">
      {tokens && <li><span className="tag">tokens</span> {tokens.name} <span className="muted">· {n(tokens.count)} ids</span></li>}
      {vocab && <li><span className="tag">vocab</span> {vocab.name} <span className="muted">· {n(vocab.count)} pieces</span></li>}
      {docIds && <li><span className="tag">docs</span> {docIds.name} <span className="muted">· {n(docIds.documents)} documents</span></li>}
      {positions && <li><span className="tag">pos</span> {positions.name} <span className="muted">· {n(positions.count)} positions</span></li>}
      {labels.map((l) => (
        <li key={l.name}><span className="tag">labels</span> {l.name} <span className="muted">· {n(l.count)} rows, {(l.positiveFraction * 100).toFixed(1)}% positive</span></li>
      ))}
      {(tokens && !vocab) && <li className="muted small">Add the vocab (.json) to use token rules.</li>}
      {(vocab && !tokens) && <li className="muted small">Add the token ids (int .npy) to use token rules.</li>}
    </ul>
  );
}

function OutlierWarning({ dataset }: { dataset: DatasetInfo }) {
  const o = dataset.stats.outliers;
  if (o.count === 0) return null;
  const ex = o.examples[0];
  const share = (100 * o.count) / dataset.rows;
  return (
    <div className="notice warn-box warn" role="alert" data-testid="outlier-warning">
      <strong>{n(o.count)} outlier row{o.count === 1 ? '' : 's'}</strong> ({share < 0.1 ? share.toFixed(2) : share.toFixed(1)}%) {o.count === 1 ? 'has' : 'have'} a norm above {formatNumber(o.thresholdNorm)} (median {formatNumber(dataset.stats.medianNorm)})
      {ex && <> — e.g. row {n(ex.row)}{ex.token !== undefined && <>, token <code style={{ whiteSpace: 'pre' }}>{JSON.stringify(ex.token)}</code></>}{ex.position !== undefined && <>{ex.token !== undefined ? '' : ','} at position {ex.position}</>}: ‖x‖ = {formatNumber(ex.norm)}</>}
      {o.atFirstPosition !== undefined ? <>; {n(o.atFirstPosition)} of them {o.atFirstPosition === 1 ? 'is' : 'are'} the first position of their document (BOS-like).</> : '.'}
      {' '}They dominate a squared-error (MSE) fit: leave them out (checkbox above) or drop them when dumping activations.
    </div>
  );
}

const NEEDS_DOCS = 'needs document ids: drop a doc_ids .npy (int, one per activation row) with the activations';

/** Train / validation counts of the split as the form sets it (≈ when documents or exclusions move them). */
function SplitSummary({ dataset }: { dataset: DatasetInfo }) {
  const byDoc = useStore((s) => s.form.split_by === 'document');
  const exclude = useStore((s) => s.form.exclude_outliers) && dataset.stats.outliers.count > 0;
  const fraction = dataset.rows > 0 ? dataset.valRows / dataset.rows : 0;
  const usable = dataset.rows - (exclude ? dataset.stats.outliers.count : 0);
  const approx = byDoc || exclude;
  const val = approx ? Math.round(fraction * usable) : dataset.valRows;
  const about = approx ? '≈ ' : '';
  const pct = `${+(100 * fraction).toFixed(1)}%`;
  return (
    <span data-testid="split-summary">
      {about}{n(usable - val)} train / {about}{n(val)} val
      <span className="muted"> · {pct} {byDoc ? `in whole documents (of ${n(dataset.docIds?.documents ?? 0)})` : 'of rows'}{exclude ? `, ${n(dataset.stats.outliers.count)} outliers left out` : ''}</span>
    </span>
  );
}

function SplitControls({ dataset }: { dataset: DatasetInfo }) {
  const form = useStore((s) => s.form);
  const running = useStore((s) => s.runState === 'running');
  const why = running ? 'a run is training: the split applies to the next run' : undefined;
  return (
    <div className="split-controls">
      <label title={why ?? (dataset.docIds ? 'rows: a seeded sample of rows; whole documents: no text is on both sides of the split' : `whole documents ${NEEDS_DOCS}`)}>
        validation by{' '}
        <select aria-label="Split validation by" value={form.split_by} disabled={running} onChange={(e) => setForm({ split_by: e.target.value as 'rows' | 'document' })}>
          <option value="rows">rows</option>
          <option value="document" disabled={!dataset.docIds} title={dataset.docIds ? undefined : NEEDS_DOCS}>whole documents</option>
        </select>
        {!dataset.docIds && <span className="muted small"> (whole documents need doc ids)</span>}
      </label>
      {dataset.stats.outliers.count > 0 && (
        <label className="check" title={why ?? 'rows with a norm above the outlier threshold are used neither for training nor for validation'}>
          <input type="checkbox" checked={form.exclude_outliers} disabled={running} onChange={(e) => setForm({ exclude_outliers: e.target.checked })} />
          leave out the {n(dataset.stats.outliers.count)} outlier rows
        </label>
      )}
    </div>
  );
}

/**
 * A raw file's shape: width d, layers L and dtype given; rows N optional (computed from the byte
 * size when left empty, checked against it when given).
 */
function RawShapeForm({ result }: { result: FileResult }) {
  const [rowsText, setRowsText] = useState('');
  const [d, setD] = useState(64);
  const [layers, setLayers] = useState(1);
  const [dtype, setDtype] = useState<'float32' | 'float16'>('float32');
  const bytes = result.bytes ?? 0;
  const itemBytes = dtype === 'float32' ? 4 : 2;
  const perRow = d * layers * itemBytes;
  const computed = perRow > 0 ? bytes / perRow : 0;
  const given = rowsText.trim() === '' ? null : Number(rowsText);
  const givenValid = given === null || (Number.isInteger(given) && given > 0);
  const rows = given ?? computed;
  const fits = givenValid && Number.isInteger(rows) && rows > 0 && rows * perRow === bytes;
  const shape = `${layers > 1 ? `${layers} layers × ` : ''}${n(rows)} rows × ${d}`;
  const widthFor = (N: number) => { const w = bytes / (N * layers * itemBytes); return Number.isInteger(w) && w > 0 ? w : null; };
  return (
    <div className="raw-form" data-testid={`raw-shape-${result.name}`}>
      <div className="small"><strong>{result.name}</strong> is raw data of {n(bytes)} bytes: give its shape.</div>
      <div style={{ display: 'grid', gridTemplateColumns: 'minmax(0, 1.2fr) minmax(0, 1fr) minmax(0, 0.8fr) 92px', gap: '0 6px' }}>
        <div className="field">
          <label htmlFor={`raw-rows-${result.name}`}>rows N</label>
          <input id={`raw-rows-${result.name}`} type="number" min={1} step={1} value={rowsText} aria-invalid={!givenValid}
            placeholder={Number.isInteger(computed) && computed > 0 ? String(computed) : 'auto'}
            title="optional: left empty, N = bytes / (L · d · bytes per value)" onChange={(e) => setRowsText(e.target.value)} />
        </div>
        <NumberField label="width d" value={d} integer min={1} onChange={setD} />
        <NumberField label="layers L" value={layers} integer min={1} onChange={setLayers} />
        <div className="field">
          <label htmlFor={`raw-dtype-${result.name}`}>dtype</label>
          <select id={`raw-dtype-${result.name}`} aria-label="Raw dtype" value={dtype} onChange={(e) => setDtype(e.target.value as 'float32' | 'float16')}>
            <option>float32</option><option>float16</option>
          </select>
        </div>
      </div>
      <div className="row small" style={{ alignItems: 'center', margin: '0' }}>
        <span style={{ flex: 1 }}>
          {fits
            ? <>✓ {shape} {dtype} = {n(bytes)} bytes</>
            : <span className="warn">
                {given !== null && givenValid
                  ? <>N·L·d·{itemBytes} = {n(given)}·{layers}·{d}·{itemBytes} = {n(given * perRow)} bytes ≠ the file's {n(bytes)}{widthFor(given) !== null && <> (width {widthFor(given)} would fit)</>}</>
                  : <>{n(bytes)} bytes is not a whole number of rows of {layers > 1 ? `${layers} · ` : ''}{d} · {itemBytes} = {n(perRow)} bytes ({formatNumber(computed)} rows)</>}
              </span>}
        </span>
        <button type="button" disabled={!fits} onClick={() => reloadFile(result.name, { rawShape: layers > 1 ? [layers, rows, d] : [rows, d], rawDtype: dtype })}>Read</button>
      </div>
    </div>
  );
}

function ArrayChooser({ result }: { result: FileResult }) {
  const choices = result.choices ?? [];
  return (
    <label className="small array-choice" title="the array read as activations; the others are matched as companions when they fit">
      Array in {result.name}:{' '}
      <select aria-label={`Array in ${result.name}`} value={result.chosen ?? ''} onChange={(e) => reloadFile(result.name, { select: e.target.value })}
        style={{ maxWidth: '100%' }}>
        {result.chosen === undefined && <option value="" disabled>choose an array</option>}
        {choices.map((c) => <option key={c.name} value={c.name}>{c.name} {c.dtype} [{c.shape.join(', ')}] ({c.role.replace('_', ' ')})</option>)}
      </select>
    </label>
  );
}

/**
 * An activation file refused for rows holding NaN or Inf: the same file again without them (the
 * worker filters companions of the file's full length to the kept rows).
 */
function LoadWithoutNonFinite({ result }: { result: FileResult }) {
  const offer = result.nonFinite;
  if (!offer) return null;
  return (
    <div className="row small">
      <button type="button" title={`read ${result.name} again, leaving out its ${n(offer.rows)} rows that hold NaN or Inf`}
        onClick={() => reloadFile(result.name, offer.options)}>
        Load without the {n(offer.rows)} rows with NaN/Inf
      </button>
    </div>
  );
}

export function DataPanel() {
  const dataset = useStore((s) => s.dataset);
  const loading = useStore((s) => s.dataLoading);
  const progress = useStore((s) => s.loadProgress);
  const error = useStore((s) => s.dataError);
  const fileResults = useStore((s) => s.fileResults);
  const budget = useStore((s) => s.memoryBudgetMiB);
  const running = useStore((s) => s.runState === 'running');
  const input = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const pending = fileResults.filter((r) => r.kind === 'needs_shape');
  // Array choices of the file now loaded (or of one that failed), not of files since replaced.
  const current = (r: FileResult) => r.kind === 'error' || !dataset || dataset.name === r.name || dataset.name.startsWith(`${r.name}:`);
  const choosers = fileResults.filter((r) => r.kind !== 'needs_shape' && (r.choices?.length ?? 0) > 1 && current(r));
  // Offers to load without NaN/Inf rows, for the files of the error shown now.
  const nonFinite = fileResults.filter((r) => r.kind === 'error' && r.nonFinite && error?.message.includes(r.message));
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
            {dataset.format === 'extracted'
              ? <><dt>source</dt><dd data-testid="dataset-source">extracted here by the language model · {dataset.dtype} · {size(dataset.bytes)}</dd></>
              : <><dt>file</dt><dd data-testid="dataset-source">{dataset.dtype} · {dataset.format} · {size(dataset.bytes)}</dd></>}
            {dataset.streamed && <>
              <dt>memory</dt>
              <dd><span className="tag stream" style={{ marginLeft: 0, display: 'inline', textAlign: 'left', padding: '1px 5px', boxDecorationBreak: 'clone', WebkitBoxDecorationBreak: 'clone' }} data-testid="streamed-badge"
                title="training reads the file from disk in chunks through a shuffle buffer instead of holding it in memory">
                streamed from disk (over the {n(Math.round(dataset.memoryBudgetBytes / 2 ** 20))} MiB memory budget)</span></dd>
            </>}
            <dt>split</dt><dd><SplitSummary dataset={dataset} /></dd>
            <dt>mean ± std</dt><dd>{formatNumber(dataset.stats.mean)} ± {formatNumber(dataset.stats.std)}</dd>
            <dt>‖x‖</dt><dd>mean {formatNumber(dataset.stats.meanNorm)} · median {formatNumber(dataset.stats.medianNorm)}</dd>
            <dt>range</dt><dd>{formatNumber(dataset.stats.min)} … {formatNumber(dataset.stats.max)}</dd>
          </dl>
          <SplitControls dataset={dataset} />
          <OutlierWarning dataset={dataset} />
          {dataset.stats.perDimMean.length > 0 && (
            <details className="data-stats" open>
              <summary className="small">Statistics charts</summary>
              <PerDimChart stats={dataset.stats} dIn={dataset.dIn} nLayers={dataset.nLayers} />
              <NormHistogram stats={dataset.stats} />
            </details>
          )}
          <Companions dataset={dataset} />
          <p className="muted small">{dataset.description}</p>
        </div>
      ) : (
        <p className="muted">{loading ?? 'No data loaded.'}</p>
      )}
      {loading && dataset && <p className="muted small" role="status">{loading}</p>}
      {progress && progress.total > 0 && (
        <div className="small" data-testid="load-progress-row">
          {progress.label}: {Math.round((100 * progress.done) / progress.total)}%
          <progress data-testid="load-progress" max={progress.total} value={progress.done} />
        </div>
      )}
      {pending.map((r) => <RawShapeForm key={r.name} result={r} />)}
      {choosers.map((r) => <ArrayChooser key={r.name} result={r} />)}
      {error && (
        <div className="alert" role="alert">
          <strong>Could not load the file.</strong> {error.message}
          {error.hint && <div className="hint">{error.hint}</div>}
          {nonFinite.map((r) => <LoadWithoutNonFinite key={r.name} result={r} />)}
        </div>
      )}
      <div className="row">
        <button type="button" onClick={() => input.current?.click()}
          title={running ? 'a run is training: new activations are used by the next run' : undefined}>Open files…</button>
        <button type="button" className="secondary" onClick={() => folderInput.current?.click()}
          title="a Hugging Face model folder (config.json, model.safetensors, tokenizer.json) or a SAELens SAE directory">Open folder…</button>
        <button type="button" className="secondary" onClick={loadSample} disabled={running}>Load sample</button>
        <input
          ref={folderInput}
          type="file"
          multiple
          aria-label="Model or SAE folder"
          hidden
          {...{ webkitdirectory: '' }}
          onChange={(e) => {
            const files = e.target.files;
            if (files?.length) loadFiles(pickedFolderFiles(files));
            e.target.value = '';
          }}
        />
        <input
          ref={input}
          type="file"
          accept={ACCEPT}
          multiple
          aria-label="Activation file (.npy)"
          hidden
          onChange={(e) => {
            const files = e.target.files;
            if (files?.length) loadFiles(Array.from(files));
            e.target.value = '';
          }}
        />
      </div>
      <div className="row small">
        <NumberField label="memory budget (MiB)" value={budget} integer min={16} onChange={(v) => useStore.setState({ memoryBudgetMiB: v })}
          title="activation files larger than this are not read into memory: training streams them from disk through a shuffle buffer (applies to the files loaded next)" />
      </div>
      <p className="muted small">
        Or drop files anywhere on the page, several at once, recognised by content: activations (.npy float32/16/64 <code>[N, d]</code> or <code>[L, N, d]</code>,
        .npz, .safetensors, raw .f32/.bin with a shape), token ids / document ids / positions (int arrays), a vocab (.json or tokenizer.json),
        labels (.csv, .jsonl, 1-D .npy), a <code>run_config.json</code> to reload a run, a SAELens directory (or its .zip) to import an SAE,
        a language model — a Hugging Face model folder (GPT-2, Pythia, Llama, Qwen2: <code>config.json</code>, <code>.safetensors</code>, <code>tokenizer.json</code>) or a llama2.c .bin — and text (.txt) to run it on.
      </p>
    </section>
  );
}
