// The variant and its hyper-parameters (the config sent when Train is pressed). What each variant
// shows — its name, description, sparsity control and own fields — comes from its declaration
// (src/engine/variants/*.decl.ts) through src/engine/config.ts, so nothing here names a variant.
import { useEffect, useId, useMemo, useState } from 'react';
import {
  ARCHITECTURES, COMMON_DEFAULTS, MULTI_LAYER, NORMALIZATIONS, SPARSITY_KIND, defaultLayers, defaultOf, fieldDefault, lambdaKey,
  variantDeclaration, type Architecture, type CommonConfig, type FieldContext, type FieldSpec, type Normalize, type SaeConfig,
} from '../../engine/config';
import { environmentFacts, estimateLine, limitsFor, type BackendFacts, type BackendLimits } from '../../engine/memoryBudget';
import { formBounds } from '../../engine/variants/declaration';
import { checkForm, isMultiLayer, setForm, useStore, type ModelForm } from '../../store/store';
import { CheckboxField, ReadOnlyField, SelectField, TextField } from '../controls/Fields';
import { NumberField } from '../controls/NumberField';

/** A variant's name in the list, and its description. */
function variantInfo(a: Architecture): { label: string; description: string } {
  const d = variantDeclaration(a);
  return { label: d?.label ?? a, description: d?.description ?? '' };
}

const NORMALIZE_LABELS: Record<Normalize, string> = {
  none: 'none',
  per_token: 'per token (mean 0, std 1 per row)',
  dataset_norm: 'dataset norm (mean ‖x‖ = √d)',
};

/** The number a form field holds, or its default when the form has none (a variant registered after the form was made). */
function formNumber(form: ModelForm, key: string): number {
  const v = form[key];
  if (typeof v === 'number') return v;
  const d = variantDeclaration(form.architecture)?.fields[key]?.default;
  return typeof d === 'number' ? d : 0;
}

function lambdaLabel(a: Architecture, targetMode: boolean): string {
  if (targetMode) return 'Initial λ';
  const key = lambdaKey(a);
  return (key && variantDeclaration(a)?.fields[key]?.form?.label) || 'Sparsity coefficient λ';
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
          <NumberField label={lambdaLabel(a, targetMode)} value={formNumber(form, lk)} min={0} disabled={busy} onChange={(v) => setForm({ [lk]: v })}
            title={targetMode ? 'starting value; the controller steers it towards the target L0' : undefined} />
        ) : targetMode ? (
          <ReadOnlyField label="k (from target)" title="round(target L0 × d_sae); switch to Manual to set k yourself">{derivedK}</ReadOnlyField>
        ) : (
          <NumberField label="Initial k" value={formNumber(form, 'k')} integer min={1} max={dSae} disabled={busy} onChange={(v) => setForm({ k: v })} />
        )}
      </div>
    </fieldset>
  );
}

/** The Early-stopping patience field (in Advanced, or with the fields of a variant that changes its default). */
function PatienceField({ form, busy }: { form: ModelForm; busy: boolean }) {
  return (
    <NumberField label="Early-stopping patience" value={form.early_stopping_patience ?? Number(defaultOf(form.architecture, 'early_stopping_patience'))} integer min={0} disabled={busy}
      onChange={(v) => setForm({ early_stopping_patience: v })} title="validations without improvement before stopping (0 = never)" />
  );
}

/** One of a variant's own fields, as its declaration describes it. */
function VariantField({ name, spec, form, busy, ctx }: { name: string; spec: FieldSpec; form: ModelForm; busy: boolean; ctx: FieldContext }) {
  const f = spec.form!;
  const value = form[name];
  switch (spec.type) {
    case 'number': {
      const { min, max } = formBounds(spec);
      const shown = typeof value === 'number' ? value : Number(fieldDefault(spec, ctx));
      return <NumberField label={f.label} value={shown} integer={spec.integer} min={min} max={max} disabled={busy} title={f.help} onChange={(v) => setForm({ [name]: v })} />;
    }
    case 'choice':
      return (
        <SelectField label={f.label} value={typeof value === 'string' ? value : String(fieldDefault(spec, ctx))} disabled={busy} title={f.help}
          options={spec.options.map((o) => ({ value: o, label: f.optionLabels?.[o] ?? o }))} onChange={(v) => setForm({ [name]: v })} />
      );
    case 'boolean':
      return <CheckboxField label={f.label} checked={typeof value === 'boolean' ? value : Boolean(fieldDefault(spec, ctx))} disabled={busy} title={f.help} onChange={(v) => setForm({ [name]: v })} />;
    case 'numbers': {
      const placeholder = fieldDefault(spec, ctx);
      return (
        <TextField label={f.label} value={typeof value === 'string' ? value : ''} disabled={busy} title={f.help}
          placeholder={Array.isArray(placeholder) ? placeholder.join(', ') : undefined} onChange={(v) => setForm({ [name]: v })} />
      );
    }
  }
}

/**
 * The chosen variant's own fields (its declaration's fields with a `form`; k and λ are in the
 * sparsity controls), and the common keys whose default it changes.
 */
function VariantFields({ form, busy, ctx }: { form: ModelForm; busy: boolean; ctx: FieldContext }) {
  const d = variantDeclaration(form.architecture);
  if (!d) return null;
  const sparsityKey = d.sparsity.kind === 'k' ? 'k' : d.sparsity.lambdaKey;
  const shown = Object.entries(d.fields).filter(([key, spec]) => key !== sparsityKey && spec.form && (spec.form.showIf?.(form) ?? true));
  const inGrid = shown.filter(([, spec]) => spec.type === 'number' || spec.type === 'choice');
  const lists = shown.filter(([, spec]) => spec.type === 'numbers');
  const boxes = shown.filter(([, spec]) => spec.type === 'boolean');
  const patience = d.commonDefaults?.early_stopping_patience !== undefined;
  const field = ([key, spec]: [string, FieldSpec]) => <VariantField key={key} name={key} spec={spec} form={form} busy={busy} ctx={ctx} />;
  return (
    <>
      {(inGrid.length > 0 || patience) && (
        <div className="grid2">
          {inGrid.map(field)}
          {patience && <PatienceField form={form} busy={busy} />}
        </div>
      )}
      {lists.map(field)}
      {boxes.map(field)}
    </>
  );
}

/** What a variant's computed defaults are worked out from: the data, or the built-in sample's width before data loads. */
function formContext(form: ModelForm, dIn: number | undefined, nLayers: number, resolved: SaeConfig | null): FieldContext {
  const layers = defaultLayers(form.architecture, nLayers);
  const common: CommonConfig = resolved ?? {
    ...COMMON_DEFAULTS, architecture: form.architecture, d_sae: form.d_sae, sparsity_mode: form.sparsity_mode, target_l0: form.target_l0_percent / 100,
    layer: layers.layer, layer_start: layers.start, layer_end: layers.end, guidance: [],
  };
  return { dIn: dIn ?? 64, dSae: form.d_sae, nLayers, common };
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
  const patienceWithVariant = variantDeclaration(form.architecture)?.commonDefaults?.early_stopping_patience !== undefined;
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
        {!patienceWithVariant && <PatienceField form={form} busy={busy} />}
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
  const fallbackLayers = defaultLayers(a, nLayers);
  const layerDefaults = {
    layer: checked.config?.layer ?? fallbackLayers.layer,
    start: checked.config?.layer_start ?? fallbackLayers.start,
    end: checked.config?.layer_end ?? fallbackLayers.end,
  };
  const ctx = formContext(form, dIn, nLayers, checked.config);
  const options = ARCHITECTURES.map((v) => ({
    value: v,
    label: MULTI_LAYER.includes(v) && nLayers < 2 ? `${variantInfo(v).label} (needs multi-layer data)` : variantInfo(v).label,
    disabled: MULTI_LAYER.includes(v) && nLayers < 2,
  }));
  const setArchitecture = (v: Architecture) => {
    // A variant may stop early by default (classic) and the others not: a patience at the old
    // variant's default follows the new one's; a value the user typed is kept.
    const patience = form.early_stopping_patience;
    const defaultPatience = patience === null || patience === defaultOf(a, 'early_stopping_patience');
    setForm({ architecture: v, ...(defaultPatience ? { early_stopping_patience: null } : {}) });
  };
  const info = variantInfo(a);
  const multiLabels = MULTI_LAYER.map((v) => variantInfo(v).label).join(', ');
  return (
    <section className="panel" aria-labelledby="model-title">
      <h2 id="model-title">Model</h2>
      <SelectField label="Variant" value={a} options={options} disabled={busy} onChange={setArchitecture} />
      <p className="muted small variant-description" data-testid="variant-description">{info.description}</p>
      {nLayers < 2 && multiLabels && (
        <p className="muted small">Multi-layer variants ({multiLabels}) need an <code>[L, N, d]</code> .npy with several layers.</p>
      )}
      {multi && nLayers < 2 && (
        <p className="warn small">{info.label} needs activations of several layers; load a multi-layer file or pick another variant.</p>
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
      <VariantFields form={form} busy={busy} ctx={ctx} />
      <AdvancedFields form={form} busy={busy} />
      {dIn !== undefined && (
        <p className="muted small">
          d_in {dIn}{multi && nLayers > 1 && checked.config ? ` × ${checked.config.layer_end - checked.config.layer_start + 1} layers` : ''} → d_sae {form.d_sae} ({(form.d_sae / dIn).toFixed(1)}× expansion)
        </p>
      )}
    </section>
  );
}
