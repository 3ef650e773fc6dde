// The language model: a dropped llama2.c checkpoint, its tokenizer and texts. Text run through
// the model becomes the dataset (residuals at chosen layers, with tokens, positions and documents),
// and trained SAEs are judged by splicing them back in (the Metrics and Imported SAE panels).
import { siteName, siteOfHook } from '../../data/sites';
import { setStoreValue, useStore } from '../../store/store';
import { exportDataset, extractActivations } from '../../app/client';
import { NumberField } from '../controls/NumberField';

function siteLabel(site: number, nLayers: number): string {
  return site < nLayers ? `${site}` : `${site} (final)`;
}

export function LanguageModelPanel() {
  const lm = useStore((s) => s.lm);
  const sites = useStore((s) => s.lmSites);
  const includeBos = useStore((s) => s.lmIncludeBos);
  const loading = useStore((s) => s.dataLoading !== null);
  const progress = useStore((s) => s.loadProgress);
  const dataset = useStore((s) => s.dataset);
  const spliceSite = useStore((s) => s.spliceSite);
  const spliceText = useStore((s) => s.spliceText);
  const lmEvalEvery = useStore((s) => s.lmEvalEvery);
  const importedHook = useStore((s) => siteOfHook(s.imported?.cfg.hook_name));
  if (!lm) return null;
  const model = lm.model;
  const ready = model !== undefined && lm.tokenizer !== undefined;
  const missing = !model ? 'drop the model .bin (llama2.c format)' : !lm.tokenizer ? 'drop the tokenizer .bin' : null;
  const toggle = (site: number) => setStoreValue('lmSites', sites.includes(site) ? sites.filter((x) => x !== site) : [...sites, site]);
  return (
    <section className="panel" aria-labelledby="lm-title" data-testid="lm-panel">
      <h2 id="lm-title">Language model</h2>
      <dl className="kv">
        <dt>model</dt>
        <dd data-testid="lm-model">
          {model ? <>{model.name}: {model.parameters.toLocaleString('en-US')} parameters, d_model {model.dim}, {model.nLayers} layers, {model.nHeads} heads ({model.nKvHeads} kv), vocab {model.vocabSize}, context {model.seqLen}</> : <span className="muted">none — drop a llama2.c model .bin</span>}
        </dd>
        <dt>tokenizer</dt>
        <dd>{lm.tokenizer ? `${lm.tokenizer.name}: ${lm.tokenizer.pieces} pieces` : <span className="muted">none — drop the model's tokenizer .bin</span>}</dd>
      </dl>
      {lm.texts.length === 0 && <p className="muted small">Drop a text file (.txt): documents separated by a line <code>&lt;|endoftext|&gt;</code>, or one per line.</p>}
      {lm.texts.length > 0 && model && (
        <fieldset className="sites">
          <legend>Layers to record (residual stream entering the block)</legend>
          <div className="checks">
            {Array.from({ length: model.nLayers + 1 }, (_, site) => (
              <label key={site} className="check" title={site < model.nLayers ? `blocks.${site}.hook_resid_pre` : `blocks.${model.nLayers - 1}.hook_resid_post`}>
                <input type="checkbox" checked={sites.includes(site)} onChange={() => toggle(site)} />
                {siteLabel(site, model.nLayers)}
              </label>
            ))}
          </div>
          <p className="muted small">Several layers make a multi-layer dataset (MLSAE, Crosscoder, RouteSAE).</p>
          <label className="check">
            <input type="checkbox" checked={includeBos} onChange={(e) => setStoreValue('lmIncludeBos', e.target.checked)} />
            keep the BOS position's rows (dropped by default: the same large vector in every document)
          </label>
        </fieldset>
      )}
      {lm.texts.length > 0 && (
        <ul className="texts" aria-label="Texts">
          {lm.texts.map((t) => (
            <li key={t.name}>
              <div>
                <strong style={{ overflowWrap: 'anywhere' }}>{t.name}</strong>
                <div className="muted small">
                  {t.documents !== undefined ? `${t.documents.toLocaleString('en-US')} documents · ${t.tokens!.toLocaleString('en-US')} tokens` : `${t.characters.toLocaleString('en-US')} characters, not tokenised yet`}
                  {t.truncated ? ` · ${t.truncated} cut to the context` : ''}
                  {lm.datasetText === t.name ? ' · the loaded activations' : ''}
                </div>
              </div>
              <button type="button" onClick={() => extractActivations(t.name)} disabled={!ready || loading || sites.length === 0}
                aria-label={`Extract activations from ${t.name}`}
                title={missing ?? (sites.length === 0 ? 'choose at least one layer' : `run the model over ${t.name} and train on its residuals`)}>
                Extract activations
              </button>
            </li>
          ))}
        </ul>
      )}
      {loading && progress && progress.label.startsWith('running the language model') && (
        <progress className="wide" value={progress.done} max={Math.max(1, progress.total)} aria-label={progress.label} />
      )}
      {lm.datasetText && dataset && (
        <div className="row">
          <button type="button" className="secondary" onClick={exportDataset} title="activations.npy, tokens.npy, positions.npy, doc_ids.npy and vocab.json in a zip, for NumPy">
            Download activations (.npy zip)
          </button>
        </div>
      )}
      {model && (
        <div className="lm-eval">
          <h3>Loss recovered (splicing the SAE in)</h3>
          {!lm.datasetSites && (
            <div className="field" title="the activations came from a file, which does not say where in the model they were read: the layer whose resid_pre they are">
              <label htmlFor="splice-site">Model layer of the loaded activations</label>
              <select id="splice-site" value={spliceSite ?? ''} onChange={(e) => setStoreValue('spliceSite', e.target.value === '' ? null : Number(e.target.value))}>
                <option value="">choose…</option>
                {Array.from({ length: model.nLayers + 1 }, (_, site) => <option key={site} value={site}>{siteLabel(site, model.nLayers)}: {siteName(site, model.nLayers)}</option>)}
              </select>
            </div>
          )}
          {!lm.datasetSites && spliceSite === null && importedHook !== undefined && (
            <p className="muted small">The imported SAE is spliced at its cfg.json hook_name, {siteName(importedHook, model.nLayers)}.</p>
          )}
          <div className="field">
            <label htmlFor="splice-text">Evaluate on</label>
            <select id="splice-text" value={spliceText} onChange={(e) => setStoreValue('spliceText', e.target.value)}>
              <option value="">{lm.texts.some((t) => t.name !== lm.datasetText) ? 'the latest other text' : 'validation documents of the loaded text'}</option>
              {lm.texts.map((t) => <option key={t.name} value={t.name}>{t.name}</option>)}
            </select>
          </div>
          <NumberField label="While training, every N steps (0 = off)" value={lmEvalEvery} integer min={0}
            onChange={(v) => setStoreValue('lmEvalEvery', v)} title="splices the SAE into the model on about 4k held-out tokens and charts loss recovered beside NMSE" />
          <p className="muted small">Press <strong>Evaluate with the language model</strong> in Metrics after training (or in Imported SAE).</p>
        </div>
      )}
    </section>
  );
}
