// An SAE imported from a SAELens directory: what it is, its tensors and feature density, and the
// two things to do with it — evaluate it on the loaded activations, or continue training it.
import { useStore } from '../../store/store';
import { describeRunData, runDataKey, runDataOf } from '../../store/runHistory';
import { browseImported, continueImported, evaluateImported, spliceEvaluate } from '../../app/client';
import { SpliceButton, SpliceResult } from './SpliceResult';
import { DensityHistogram } from '../charts/DataCharts';
import { formatNumber } from '../../app/format';

export function ImportPanel() {
  const imported = useStore((s) => s.imported);
  const dataset = useStore((s) => s.dataset);
  const evaluation = useStore((s) => s.importEvaluation);
  const evaluating = useStore((s) => s.importEvaluating);
  const active = useStore((s) => s.runState === 'running' || s.runState === 'paused');
  const lmLoaded = useStore((s) => s.lm?.model !== undefined && s.lm?.tokenizer !== undefined);
  const splice = useStore((s) => s.importSplice);
  const evaluatedOn = useStore((s) => s.importEvaluationData);
  if (!imported) return null;
  const why = !dataset ? 'load activations to evaluate on' : dataset.dIn !== imported.dIn ? `the SAE takes d_in ${imported.dIn}; the loaded rows have width ${dataset.dIn}` : null;
  const ours = imported.config.architecture;
  return (
    <section className="panel" aria-labelledby="import-title" data-testid="import-panel">
      <h2 id="import-title">Imported SAE</h2>
      <dl className="kv">
        <dt>architecture</dt><dd>{imported.saelensArchitecture}<span className="muted"> in SAELens</span></dd>
        <dt>loads as</dt><dd>{ours}</dd>
        <dt>size</dt><dd data-testid="import-size">d_in {imported.dIn} → d_sae {imported.dSae.toLocaleString('en-US')}</dd>
        {Object.entries(imported.cfg).filter(([k]) => !['architecture', 'd_in', 'd_sae'].includes(k)).map(([k, v]) => (
          <div key={k} style={{ display: 'contents' }}><dt>{k}</dt><dd style={{ overflowWrap: 'anywhere' }}>{v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd></div>
        ))}
        <dt>config</dt><dd>{imported.hasRunConfig ? 'run_config.json of the workbench run' : 'from cfg.json'}</dd>
      </dl>
      <table className="tensors small" aria-label="Imported tensors">
        <thead><tr><th>tensor</th><th>shape</th><th>dtype</th></tr></thead>
        <tbody>{imported.tensors.map((t) => <tr key={t.name}><td><code>{t.name}</code></td><td>[{t.shape.join(', ')}]</td><td>{t.dtype}</td></tr>)}</tbody>
      </table>
      {imported.notes.length > 0 && <ul className="small notes">{imported.notes.map((note) => <li key={note}>{note}</li>)}</ul>}
      {imported.density && <DensityHistogram density={imported.density} />}
      <div className="row">
        <button type="button" onClick={evaluateImported} disabled={why !== null || evaluating} title={why ?? 'metrics of this SAE on the validation rows of the loaded activations'}>
          {evaluating ? 'Evaluating…' : 'Evaluate on loaded data'}
        </button>
        <button type="button" className="secondary" onClick={browseImported} disabled={why !== null || active} title={why ?? (active ? 'a run is active' : 'open these weights as a run without training them: the feature browser, dashboards and loss recovered of the SAE as published')}>
          Open without training
        </button>
        <button type="button" className="secondary" onClick={continueImported} disabled={why !== null || active} title={why ?? (active ? 'a run is active' : 'train further from these weights with their config (the Model panel takes it)')}>
          Continue training
        </button>
      </div>
      {lmLoaded && (
        <div className="row">
          <SpliceButton source="imported" state={splice} onClick={() => spliceEvaluate('imported')} disabledWhy={why} />
        </div>
      )}
      <SpliceResult state={splice} testId="import-splice" />
      {evaluation && evaluatedOn && (
        <p className="small" data-testid="import-evaluation-data">
          On the validation rows of <strong>{describeRunData(evaluatedOn)}</strong>
          {dataset && runDataKey(runDataOf(dataset)) !== runDataKey(evaluatedOn) && <span className="warn"> — not the data loaded now; evaluate again for it</span>}
        </p>
      )}
      {evaluation && (
        <dl className="kv" data-testid="import-evaluation">
          <dt>NMSE</dt><dd>{formatNumber(evaluation.nmse)}</dd>
          <dt>FVE</dt><dd>{formatNumber(evaluation.fve)}</dd>
          <dt>L0</dt><dd>{formatNumber(evaluation.l0)} ({formatNumber(100 * evaluation.l0_fraction)}%)</dd>
          <dt>dead</dt><dd>{formatNumber(100 * evaluation.dead_fraction)}%</dd>
        </dl>
      )}
    </section>
  );
}
