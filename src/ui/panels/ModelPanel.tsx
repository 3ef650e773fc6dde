// The variant and its hyper-parameters (the config sent when Train is pressed).
import { useEffect, useId, useMemo, useState } from 'react';
import { ARCHITECTURES, MULTI_LAYER, NORMALIZATIONS, SPARSITY_KIND, lambdaKey, type Architecture, type Normalize } from '../../engine/config';
import { environmentFacts, estimateLine, limitsFor, type BackendFacts, type BackendLimits } from '../../engine/memoryBudget';
import { checkForm, isMultiLayer, setForm, useStore, type ModelForm } from '../../store/store';
import { CheckboxField, ReadOnlyField, SelectField, TextField } from '../controls/Fields';
import { NumberField } from '../controls/NumberField';

export const VARIANT_INFO: Record<Architecture, { label: string; description: string }> = {
  relu: { label: 'ReLU + L1', description: 'Linear encoder, ReLU, and an L1 penalty on the latents weighted by decoder norms. The standard baseline.' },
  topk: { label: 'TopK', description: 'Keeps the k largest pre-activations of each row; sparsity is set directly, no penalty. AuxK revives dead latents.' },
  batchtopk: { label: 'BatchTopK', description: 'Keeps the k·B largest activations of the whole batch, so rows may use more or fewer than k; inference uses a learned global threshold.' },
  randomk: { label: 'RandomK (baseline)', description: 'k latents chosen at random per row: a sanity baseline that any real SAE should beat.' },
  jumprelu: { label: 'JumpReLU', description: 'Per-latent learned thresholds θ, trained through straight-through estimators, with an L0 penalty.' },
  gated: { label: 'Gated', description: 'A gate path decides which latents fire and a magnitude path how strongly (shared W_enc); the L1 penalty acts on the gate only.' },
  classic: { label: 'Classic (2-layer, L1/KL/Hoyer)', description: 'A 2-layer encoder and decoder (a hidden layer on each side of the latents) with an L1, KL or Hoyer sparsity penalty.' },
  matryoshka: { label: 'Matryoshka BatchTopK', description: 'Nested prefixes of the dictionary each learn to reconstruct, so the first latents capture the most general features.' },
  mlsae: { label: 'MLSAE', description: 'One TopK SAE shared by all layers of an [L, N, d] file; each layer’s vector is a row of its own.' },
  crosscoder: { label: 'Crosscoder', description: 'Per-layer encoders and decoders around one shared latent space; L1 penalty weighted by the decoder norms across layers.' },
  routesae: { label: 'RouteSAE', description: 'A router picks (hard) or weighs (soft) the layer a shared TopK SAE reads for each token.' },
};

const NORMALIZE_LABELS: Record<Normalize, string> = {
  none: 'none',
  per_token: 'per token (mean 0, std 1 per row)',
  dataset_norm: 'dataset norm (mean ‖x‖ = √d)',
};

function lambdaLabel(a: Architecture, targetMode: boolean): string {
  if (targetMode) return 'Initial λ';
  switch (lambdaKey(a)) {
    case 'l0_coefficient': return 'L0 coefficient λ';
    case 'sparsity_coefficient': return 'Sparsity coefficient λ';
    default: return 'L1 coefficient λ';
  }
}

function SparsityControls({ form, busy, dSae }: { form: ModelForm; busy: boolean; dSae: number }) {
  const name = useId();
  const a = form.architecture;
  const targetMode = form.sparsity_mode === 'target_l0';
  const lk = lambdaKey(a);
  const derivedK = Math.max(1, Math.round((form.target_l0_percent / 100) * dSae));
  return (
    <fieldset className="group">
      <legend>Sparsity</legend>
      <div className="radios" role="radiogroup" aria-label="Sparsity mode">
        <label><input type="radio" name={name} checked={targetMode} disabled={busy} onChange={() => setForm({ sparsity_mode: 'target_l0' })} /> Target L0</label>
        <label><input type="radio" name={name} checked={!targetMode} disabled={busy} onChange={() => setForm({ sparsity_mode: 'manual' })} /> Manual</label>
      </div>
      <div className="grid2">
        {targetMode && (
          <NumberField label="Target L0 (% of d_sae)" value={form.target_l0_percent} min={0.01} max={99} disabled={busy}
            onChange={(v) => setForm({ target_l0_percent: v })}
            title={lk ? 'a controller moves λ until the fraction of active latents matches' : 'k = round(target × d_sae)'} />
        )}
        {lk ? (
          <NumberField label={lambdaLabel(a, targetMode)} value={form[lk]} min={0} disabled={busy} onChange={(v) => setForm({ [lk]: v })}
            title={targetMode ? 'starting value; the controller steers it towards the target L0' : undefined} />
        ) : targetMode ? (
          <ReadOnlyField label="k (from target)" title="round(target L0 × d_sae); switch to Manual to set k yourself">{derivedK}</ReadOnlyField>
        ) : (
          <NumberField label="Initial k" value={form.k} integer min={1} max={dSae} disabled={busy} onChange={(v) => setForm({ k: v })} />
        )}
      </div>
    </fieldset>
  );
}

function VariantFields({ form, busy, dIn }: { form: ModelForm; busy: boolean; dIn?: number }) {
  switch (form.architecture) {
    case 'jumprelu':
      return (
        <div className="grid2">
          <NumberField label="Initial bandwidth ε" value={form.bandwidth} min={1e-6} disabled={busy} onChange={(v) => setForm({ bandwidth: v })} />
          <NumberField label="Initial threshold θ" value={form.init_threshold} min={1e-6} disabled={busy} onChange={(v) => setForm({ init_threshold: v })} />
        </div>
      );
    case 'classic':
      return (
        <>
          <div className="grid2">
            <NumberField label="Hidden width" value={form.hidden_dim ?? 2 * (dIn ?? 64)} integer min={1} disabled={busy}
              onChange={(v) => setForm({ hidden_dim: v })} title="width of the hidden layer on each side of the latents (default 2 × d_in)" />
            <SelectField label="Sparsity penalty" value={form.sparsity_type} disabled={busy} onChange={(v) => setForm({ sparsity_type: v })}
              options={[{ value: 'l1', label: 'L1' }, { value: 'kl', label: 'KL' }, { value: 'hoyer', label: 'Hoyer' }]}
              title="L1: Σ|f|; KL: divergence of each latent's mean activation from ρ; Hoyer: L1/L2 ratio" />
            {form.sparsity_type === 'kl' && (
              <NumberField label="KL target ρ" value={form.kl_target} min={1e-6} max={0.999999} disabled={busy} onChange={(v) => setForm({ kl_target: v })} />
            )}
            <NumberField label="Early-stopping patience" value={form.early_stopping_patience ?? 10} integer min={0} disabled={busy}
              onChange={(v) => setForm({ early_stopping_patience: v })} title="validations without improvement before stopping (0 = never)" />
          </div>
          <CheckboxField label="Tied weights (decoder = encoderᵀ)" checked={form.tied_weights} disabled={busy} onChange={(v) => setForm({ tied_weights: v })} />
        </>
      );
    case 'matryoshka':
      return (
        <TextField label="Nested prefixes (comma list, ending at d_sae)" value={form.matryoshka_prefixes} disabled={busy}
          placeholder={defaultPrefixes(form.d_sae)} onChange={(v) => setForm({ matryoshka_prefixes: v })}
          title="dictionary sizes that each learn to reconstruct; empty = d_sae/16, /8, /4, /2, d_sae" />
      );
    case 'routesae':
      return (
        <div className="grid2">
          <SelectField label="Routing" value={form.routing} disabled={busy} onChange={(v) => setForm({ routing: v })}
            options={[{ value: 'hard', label: 'hard' }, { value: 'soft', label: 'soft' }]} title="hard: each token reads one layer; soft: a weighted mix of the layers" />
          <SelectField label="Aggregation" value={form.aggregation} disabled={busy} onChange={(v) => setForm({ aggregation: v })}
            options={[{ value: 'sum', label: 'sum' }, { value: 'mean', label: 'mean' }]} title="how the layers are pooled into the router’s input" />
        </div>
      );
    default:
      return null;
  }
}

function defaultPrefixes(dSae: number): string {
  return [...new Set([dSae / 16, dSae / 8, dSae / 4, dSae / 2, dSae].map((v) => Math.max(1, Math.round(v))))].join(', ');
}

function LayerFields({ form, busy, nLayers, defaults }: { form: ModelForm; busy: boolean; nLayers: number; defaults: { layer: number; start: number; end: number } }) {
  const max = nLayers - 1;
  if (isMultiLayer(form.architecture)) {
    return (
      <div className="grid2">
        <NumberField label="First layer" value={form.layer_start ?? defaults.start} integer min={0} max={max} disabled={busy}
          onChange={(v) => setForm({ layer_start: v })} title={`layer_start, 0 … ${max}`} />
        <NumberField label="Last layer" value={form.layer_end ?? defaults.end} integer min={0} max={max} disabled={busy}
          onChange={(v) => setForm({ layer_end: v })} title={`layer_end (inclusive), 0 … ${max}`} />
      </div>
    );
  }
  return (
    <div className="grid2">
      <NumberField label="Layer" value={form.layer ?? defaults.layer} integer min={0} max={max} disabled={busy}
        onChange={(v) => setForm({ layer: v })} title={`which layer of the ${nLayers} to train on`} />
    </div>
  );
}

function AdvancedFields({ form, busy }: { form: ModelForm; busy: boolean }) {
  const penalty = SPARSITY_KIND[form.architecture] === 'penalty';
  return (
    <details className="advanced">
      <summary>Advanced</summary>
      <div className="grid2">
        <NumberField label="LR warm-up steps" value={form.lr_warmup_steps} integer min={0} disabled={busy} onChange={(v) => setForm({ lr_warmup_steps: v })} />
        <NumberField label="LR decay steps" value={form.lr_decay_steps} integer min={0} disabled={busy} onChange={(v) => setForm({ lr_decay_steps: v })}
          title="linear decay to 0 over the last this many steps" />
        {penalty && (
          <NumberField label="λ warm-up steps" value={form.lambda_warmup_steps} integer min={0} disabled={busy} onChange={(v) => setForm({ lambda_warmup_steps: v })} />
        )}
        <NumberField label="Gradient clip norm" value={form.grad_clip_norm} min={0} disabled={busy} onChange={(v) => setForm({ grad_clip_norm: v })}
          title="clip the global gradient norm (0 = off)" />
        <NumberField label="Checkpoint every N steps" value={form.checkpoint_every} integer min={0} disabled={busy} onChange={(v) => setForm({ checkpoint_every: v })}
          title="keep a copy of the weights every N steps (0 = none)" />
        {penalty && (
          <NumberField label="Resample dead every N steps" value={form.resample_dead_every} integer min={0} disabled={busy}
            onChange={(v) => setForm({ resample_dead_every: v })} title="re-initialise dead latents (0 = never)" />
        )}
        <NumberField label="Validate every N steps" value={form.val_every} integer min={1} disabled={busy} onChange={(v) => setForm({ val_every: v })}
          title="validation loss (early stopping) and guidance AUROC" />
        {form.architecture !== 'classic' && (
          <NumberField label="Early-stopping patience" value={form.early_stopping_patience ?? 0} integer min={0} disabled={busy}
            onChange={(v) => setForm({ early_stopping_patience: v })} title="validations without improvement before stopping (0 = never)" />
        )}
      </div>
    </details>
  );
}

/**
 * What the page can learn about the worker's backend (the same browser and GPU): WebGL's texture
 * size, WebGPU's buffer limits, the RAM and JS-heap figures. Asked once per backend.
 */
function useBackendLimits(backend: string | null): BackendLimits | null {
  const [facts, setFacts] = useState<{ backend: string; facts: BackendFacts } | null>(null);
  useEffect(() => {
    if (!backend) return;
    let live = true;
    const base = environmentFacts();
    const done = (extra: BackendFacts = {}) => { if (live) setFacts({ backend, facts: { ...base, ...extra } }); };
    if (backend === 'webgl') {
      try {
        const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
        done(gl ? { maxTextureSize: Number(gl.getParameter(gl.MAX_TEXTURE_SIZE)) } : {});
      } catch { done(); }
    } else if (backend === 'webgpu') {
      const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ limits: { maxBufferSize: number; maxStorageBufferBindingSize: number } } | null> } }).gpu;
      if (!gpu) done();
      else gpu.requestAdapter().then((a) => done(a ? { maxBufferSize: a.limits.maxBufferSize, maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize } : {}), () => done());
    } else done();
    return () => { live = false; };
  }, [backend]);
  return useMemo(() => (backend && facts?.backend === backend ? limitsFor(backend, facts.facts) : null), [backend, facts]);
}

export function ModelPanel() {
  const form = useStore((s) => s.form);
  const guidance = useStore((s) => s.guidance);
  const dataset = useStore((s) => s.dataset);
  const busy = useStore((s) => s.runState === 'running' || s.runState === 'paused');
  const dIn = dataset?.dIn;
  const nLayers = dataset?.nLayers ?? 1;
  const checked = useMemo(() => checkForm(form, guidance, dataset), [form, guidance, dataset]);
  const limits = useBackendLimits(useStore((s) => s.backend));
  const memory = useMemo(() => (checked.config && dIn !== undefined && limits ? estimateLine(checked.config, dIn, limits) : null), [checked.config, dIn, limits]);
  const a = form.architecture;
  const multi = isMultiLayer(a);
  const layerDefaults = {
    layer: checked.config?.layer ?? Math.floor(nLayers / 2),
    start: checked.config?.layer_start ?? (a === 'mlsae' ? 0 : Math.floor(nLayers / 4)),
    end: checked.config?.layer_end ?? (a === 'mlsae' ? nLayers - 1 : Math.min(nLayers - 1, Math.floor((3 * nLayers) / 4))),
  };
  const options = ARCHITECTURES.map((v) => ({
    value: v,
    label: MULTI_LAYER.includes(v) && nLayers < 2 ? `${VARIANT_INFO[v].label} (needs multi-layer data)` : VARIANT_INFO[v].label,
    disabled: MULTI_LAYER.includes(v) && nLayers < 2,
  }));
  const setArchitecture = (v: Architecture) => {
    // Classic stops early by default; the others do not (a value the user typed is kept).
    const patience = form.early_stopping_patience;
    const defaultPatience = patience === null || patience === (a === 'classic' ? 10 : 0);
    setForm({ architecture: v, ...(defaultPatience ? { early_stopping_patience: null } : {}) });
  };
  return (
    <section className="panel" aria-labelledby="model-title">
      <h2 id="model-title">Model</h2>
      <SelectField label="Variant" value={a} options={options} disabled={busy} onChange={setArchitecture} />
      <p className="muted small variant-description" data-testid="variant-description">{VARIANT_INFO[a].description}</p>
      {nLayers < 2 && (
        <p className="muted small">Multi-layer variants (MLSAE, Crosscoder, RouteSAE) need an <code>[L, N, d]</code> .npy with several layers.</p>
      )}
      {multi && nLayers < 2 && (
        <p className="warn small">{VARIANT_INFO[a].label} needs activations of several layers; load a multi-layer file or pick another variant.</p>
      )}
      <div className="grid2">
        <NumberField label="d_sae" value={form.d_sae} integer min={1} disabled={busy} onChange={(v) => setForm({ d_sae: v })}
          title={dIn ? `expansion factor ${(form.d_sae / dIn).toFixed(1)} × d_in ${dIn}` : undefined} />
        <NumberField label="Batch size" value={form.batch_size} integer min={1} disabled={busy} onChange={(v) => setForm({ batch_size: v })} />
        <NumberField label="Steps" value={form.steps} integer min={1} disabled={busy} onChange={(v) => setForm({ steps: v })} />
        <NumberField label="Initial learning rate" value={form.lr} min={1e-7} disabled={busy} onChange={(v) => setForm({ lr: v })} />
        <NumberField label="Seed" value={form.seed} integer disabled={busy} onChange={(v) => setForm({ seed: v })} />
        <SelectField label="Input normalisation" value={form.normalize} disabled={busy} onChange={(v) => setForm({ normalize: v })}
          options={NORMALIZATIONS.map((n) => ({ value: n, label: NORMALIZE_LABELS[n] }))} />
      </div>
      {memory && (
        <p className={`small ${memory.ok ? 'muted' : 'warn'}`} data-testid="memory-estimate"
          title="peak device memory of a training step: weights, Adam moments, the rollback and autosave copies, and one batch's activations">
          {memory.text}
        </p>
      )}
      {nLayers > 1 && <LayerFields form={form} busy={busy} nLayers={nLayers} defaults={layerDefaults} />}
      <SparsityControls form={form} busy={busy} dSae={form.d_sae} />
      <VariantFields form={form} busy={busy} dIn={dIn} />
      <AdvancedFields form={form} busy={busy} />
      {dIn !== undefined && (
        <p className="muted small">
          d_in {dIn}{multi && nLayers > 1 && checked.config ? ` × ${checked.config.layer_end - checked.config.layer_start + 1} layers` : ''} → d_sae {form.d_sae} ({(form.d_sae / dIn).toFixed(1)}× expansion)
        </p>
      )}
    </section>
  );
}
