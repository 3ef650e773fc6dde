// The language model: a dropped Hugging Face model folder (or llama2.c checkpoint), its tokenizer
// and texts. Text run through the model becomes the dataset (activations at chosen hooks of chosen
// layers, with tokens, positions and documents), and trained or imported SAEs are judged by
// splicing them back in (the Metrics and Imported SAE panels). An imported SAE's cfg.json is
// checked against the model here: its hook, model, width and how its activations were made.
import { saeModelMatch, siteName } from '../../data/sites';
import { INNER_HOOKS, modelSites } from '../../engine/lm/hooks';
import type { ExtractHook } from '../../store/state';
import { setStoreValue, useStore } from '../../store/store';
import { exportDataset, extractActivations } from '../../app/client';
import { NumberField } from '../controls/NumberField';

function siteLabel(site: number, nLayers: number): string {
  return site < nLayers ? `${site}` : `${site} (final)`;
}

const HOOKS: { hook: ExtractHook; label: string; title: string }[] = [
  { hook: 'hook_resid_pre', label: 'resid_pre', title: 'the residual stream entering the block (layer n_layers: after the last block)' },
  { hook: 'hook_attn_out', label: 'attn_out', title: "what the block's attention writes into the residual stream" },
  { hook: 'hook_resid_mid', label: 'resid_mid', title: 'the residual stream between attention and MLP' },
  { hook: 'hook_mlp_out', label: 'mlp_out', title: "what the block's MLP writes into the residual stream" },
];

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
  const hook = useStore((s) => s.lmHook);
  const imported = useStore((s) => s.imported);
  if (!lm) return null;
  const model = lm.model;
  const ready = model !== undefined && lm.tokenizer !== undefined;
  const missing = !model ? 'drop the model (a Hugging Face model folder, or a llama2.c .bin)' : !lm.tokenizer ? "drop the model's tokenizer (the folder's tokenizer.json, or a llama2.c tokenizer .bin)" : null;
  const toggle = (site: number) => setStoreValue('lmSites', sites.includes(site) ? sites.filter((x) => x !== site) : [...sites, site]);
  const match = model && imported ? saeModelMatch(imported.cfg, imported.dIn, model) : null;
  const importedHook = match?.site;
  const offset = hook === 'hook_resid_pre' ? 0 : INNER_HOOKS[hook];
  const layers = model ? Array.from({ length: model.nLayers + (hook === 'hook_resid_pre' ? 1 : 0) }, (_, l) => l) : [];
  const recorded = model ? sites.filter((l) => l < layers.length).map((l) => siteName(l + offset, model.nLayers)) : [];
  return (
    <section className="panel" aria-labelledby="lm-title" data-testid="lm-panel">
      <h2 id="lm-title">Language model</h2>
      <dl className="kv">
        <dt>model</dt>
        <dd data-testid="lm-model">
          {model ? <>{model.name} ({model.format === 'huggingface' ? `Hugging Face ${model.modelType}, ${model.dtypes.join('/')}` : 'llama2.c'}): {model.parameters.toLocaleString('en-US')} parameters, d_model {model.dim}, {model.nLayers} layers, {model.nHeads} heads ({model.nKvHeads} kv), vocab {model.vocabSize.toLocaleString('en-US')}, context {model.seqLen.toLocaleString('en-US')}{model.centred ? ' · writing weights centred (center_writing_weights, as the imported SAE asks)' : ''}</> : <span className="muted">none — drop a Hugging Face model folder (config.json, .safetensors, tokenizer.json) or a llama2.c .bin</span>}
        </dd>
        <dt>tokenizer</dt>
        <dd>{lm.tokenizer ? `${lm.tokenizer.name}: ${lm.tokenizer.pieces.toLocaleString('en-US')} pieces` : <span className="muted">none — drop the folder's tokenizer.json (or a llama2.c tokenizer .bin)</span>}</dd>
      </dl>
      {match && imported && (
        <div className={match.problems.length ? 'alert' : 'muted small'} data-testid="lm-sae-match" role={match.problems.length ? 'alert' : undefined}>
          {match.problems.length === 0
            ? <>The imported SAE reads <code>{String(imported.cfg.hook_name ?? 'no hook named')}</code>{imported.cfg.model_name ? <> of {String(imported.cfg.model_name)}</> : null}: chosen below for extraction and splicing.</>
            : <><strong>The imported SAE does not fit this model.</strong><ul>{match.problems.map((p) => <li key={p}>{p}</li>)}</ul></>}
          {match.conventions.length > 0 && <div className="small">Its activations: {match.conventions.join('; ')}.</div>}
        </div>
      )}
      {lm.texts.length === 0 && <p className="muted small">Drop a text file (.txt): documents separated by a line <code>&lt;|endoftext|&gt;</code>, or one per line.</p>}
      {lm.texts.length > 0 && model && (
        <fieldset className="sites">
          <legend>What to record</legend>
          <div className="checks" role="radiogroup" aria-label="Hook">
            {HOOKS.map((h) => {
              const absent = h.hook === 'hook_resid_mid' && model.parallelResidual;
              return (
                <label key={h.hook} className="check" title={absent ? 'this model runs attention and MLP in parallel (GPT-NeoX): there is no residual between them' : h.title}>
                  <input type="radio" name="lm-hook" checked={hook === h.hook} disabled={absent} onChange={() => setStoreValue('lmHook', h.hook)} />
                  {h.label}
                </label>
              );
            })}
          </div>
          <div className="checks" aria-label="Layers">
            {layers.map((site) => (
              <label key={site} className="check" title={siteName(site + offset, model.nLayers)}>
                <input type="checkbox" checked={sites.includes(site)} onChange={() => toggle(site)} />
                {siteLabel(site, model.nLayers)}
              </label>
            ))}
          </div>
          <p className="muted small" data-testid="lm-hooks">
            {recorded.length ? <>Records {recorded.map((r) => <code key={r}>{r}</code>).reduce<React.ReactNode[]>((a, c, i) => (i ? [...a, ', ', c] : [c]), [])}.</> : 'Choose at least one layer.'}
            {' '}Several layers make a multi-layer dataset (MLSAE, Crosscoder, RouteSAE).
          </p>
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
                {modelSites(model).map((site) => <option key={site} value={site}>{siteName(site, model.nLayers)}</option>)}
              </select>
            </div>
          )}
          {!lm.datasetSites && spliceSite === null && importedHook !== undefined && importedHook !== null && (
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
