// The Model form: its fields, their defaults, and the way between the form and a run's config.
// The fields are the common config keys and every registered variant's form fields, read from the
// declarations through src/engine/config.ts, so no variant is named here.
import {
  COMMON_DEFAULTS, MULTI_LAYER, SPARSITY_KIND, lambdaKey, learnsThreshold, resolveConfig, variantDeclaration, variantDeclarations,
  type Architecture, type ConfigInput, type FieldSpec, type GuidanceTarget, type Normalize, type SaeConfig, type SparsityMode,
  type VariantDeclaration,
} from '../engine/config';
import type { DatasetInfo } from '../data/types';
import { guidanceProblem, toTarget, type GuidanceDraft } from './guidance';

/** The Model form's fields every variant has (the common config keys it shows). */
export interface CommonForm {
  architecture: Architecture;
  d_sae: number;
  batch_size: number;
  steps: number;
  lr: number;
  seed: number;
  /** Validation rows: a seeded sample of rows, or whole documents (needs document ids). */
  split_by: 'rows' | 'document';
  exclude_outliers: boolean;
  normalize: Normalize;
  sparsity_mode: SparsityMode;
  /** Target L0 in percent of d_sae (the config's target_l0 × 100). */
  target_l0_percent: number;
  /** Inference threshold of the variants that do not learn theirs. */
  threshold: number;
  // layers of [L, N, d] files; null = the config's default
  layer: number | null;
  layer_start: number | null;
  layer_end: number | null;
  // advanced
  lr_warmup_steps: number;
  lr_decay_steps: number;
  lambda_warmup_steps: number;
  grad_clip_norm: number;
  checkpoint_every: number;
  resample_dead_every: number;
  val_every: number;
  /** null = the variant's default (src/engine/config.ts defaultOf: 10 validations for classic, off for the others). */
  early_stopping_patience: number | null;
}

/**
 * A value of a variant's own field in the form (its declaration, src/engine/variants/*.decl.ts):
 * a number, choice or boolean; a list as comma-separated text ('' = the default); null = the
 * config's default (computed from the data, e.g. classic's hidden_dim).
 */
export type VariantFormValue = number | string | boolean | null;

/**
 * The Model form: the common fields, and the form fields of every registered variant by config key
 * (a key several variants share, such as `k` or `l1_coefficient`, is one field).
 */
export type ModelForm = CommonForm & { [key: string]: VariantFormValue | undefined };

/** The form's d_sae before the user sets one: expansion_factor 8 × the built-in sample's d_in 64 (a config without d_sae takes expansion_factor × d_in). */
export const FORM_D_SAE = 512;

/** True when a variant's field is in the Model form: it has form fields, or it is the variant's k or λ (the sparsity controls). */
export function fieldInForm(d: VariantDeclaration, key: string, spec: FieldSpec): boolean {
  return spec.form !== undefined || (key === 'k' && d.sparsity.kind === 'k') || (d.sparsity.kind === 'penalty' && key === d.sparsity.lambdaKey);
}

/** The form value of a field's default: a list as text, a computed default as null. */
function formValueOf(spec: FieldSpec): VariantFormValue {
  if (spec.type === 'numbers') return spec.default === null ? '' : spec.default.join(', ');
  return spec.default;
}

/**
 * The form's starting values: the config defaults (COMMON_DEFAULTS and the registered variants'
 * declarations, the one table src/engine/config.ts resolves with), and d_sae FORM_D_SAE.
 */
export function formDefaults(): ModelForm {
  const D = COMMON_DEFAULTS;
  const form: ModelForm = {
    architecture: D.architecture,
    d_sae: FORM_D_SAE,
    batch_size: D.batch_size,
    steps: D.steps,
    lr: D.lr,
    seed: D.seed,
    split_by: D.split_by,
    exclude_outliers: D.exclude_outliers,
    normalize: D.normalize,
    sparsity_mode: D.sparsity_mode,
    target_l0_percent: D.target_l0 * 100,
    threshold: D.threshold,
    layer: null,
    layer_start: null,
    layer_end: null,
    lr_warmup_steps: D.lr_warmup_steps,
    lr_decay_steps: D.lr_decay_steps,
    lambda_warmup_steps: D.lambda_warmup_steps,
    grad_clip_norm: D.grad_clip_norm,
    checkpoint_every: D.checkpoint_every,
    resample_dead_every: D.resample_dead_every,
    val_every: D.val_every,
    early_stopping_patience: null,
  };
  for (const d of variantDeclarations()) {
    for (const [key, spec] of Object.entries(d.fields)) if (fieldInForm(d, key, spec) && !(key in form)) form[key] = formValueOf(spec);
  }
  return form;
}

/** The form the page starts with (formDefaults() of the built-in variants). */
export const DEFAULT_FORM: ModelForm = formDefaults();

export const isMultiLayer = (a: Architecture) => MULTI_LAYER.includes(a);
export const isPenalty = (a: Architecture) => SPARSITY_KIND[a] === 'penalty';

/** A list field's text → numbers ("16, 64, 128"); the text itself when it is not a list of positive integers (resolveConfig explains). */
function parseList(text: string): number[] | string {
  const parts = text.split(/[,\s]+/).filter(Boolean);
  const values = parts.map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1)) return text;
  return values;
}

/**
 * The config JSON sent to the worker: the common keys and only the keys of the chosen variant
 * (its form fields, and its k or λ). `nLayers` decides whether the layer keys are sent.
 */
export function configFromForm(f: ModelForm, guidance: GuidanceDraft[] = [], nLayers = 1): ConfigInput {
  const a = f.architecture;
  const target = f.sparsity_mode === 'target_l0';
  const cfg: ConfigInput = {
    architecture: a,
    d_sae: f.d_sae,
    batch_size: f.batch_size,
    steps: f.steps,
    lr: f.lr,
    seed: f.seed,
    split_by: f.split_by,
    exclude_outliers: f.exclude_outliers,
    normalize: f.normalize,
    sparsity_mode: f.sparsity_mode,
    target_l0: f.target_l0_percent / 100,
    lr_warmup_steps: f.lr_warmup_steps,
    lr_decay_steps: f.lr_decay_steps,
    grad_clip_norm: f.grad_clip_norm,
    checkpoint_every: f.checkpoint_every,
    val_every: f.val_every,
  };
  if (f.early_stopping_patience !== null) cfg.early_stopping_patience = f.early_stopping_patience;
  if (!learnsThreshold(a)) cfg.threshold = f.threshold;
  if (nLayers > 1) {
    if (isMultiLayer(a)) {
      if (f.layer_start !== null) cfg.layer_start = f.layer_start;
      if (f.layer_end !== null) cfg.layer_end = f.layer_end;
    } else if (f.layer !== null) cfg.layer = f.layer;
  }
  if (lambdaKey(a)) {
    cfg.lambda_warmup_steps = f.lambda_warmup_steps;
    cfg.resample_dead_every = f.resample_dead_every;
  }
  const d = variantDeclaration(a);
  for (const [key, spec] of Object.entries(d?.fields ?? {})) {
    if (!d || !fieldInForm(d, key, spec)) continue;
    if (key === 'k' && d.sparsity.kind === 'k' && target) continue; // in target mode k follows target_l0 · d_sae
    const v = f[key]; // undefined for a variant registered after the form was made: the default applies
    if (v === undefined || v === null || v === '') continue;
    cfg[key] = spec.type === 'numbers' && typeof v === 'string' ? parseList(v) : v;
  }
  if (guidance.length) cfg.guidance = guidance.map(toTarget);
  return cfg;
}

/** The form resolved against the loaded data: the config the worker would run, or why not. */
export function checkForm(f: ModelForm, guidance: GuidanceDraft[], dataset: DatasetInfo | null): { config: SaeConfig | null; problem: string | null } {
  if (!dataset) return { config: null, problem: null };
  let config: SaeConfig;
  try {
    config = resolveConfig(configFromForm(f, [], dataset.nLayers), dataset.dIn, dataset.nLayers);
  } catch (e) {
    return { config: null, problem: e instanceof Error ? e.message : String(e) };
  }
  // The targets are checked here first: these messages name the form's fields, not JSON keys.
  for (const g of guidance) {
    const why = guidanceProblem(g, dataset, config.d_sae);
    if (why) return { config, problem: `guidance target ${g.id}: ${why}.` };
  }
  try {
    return { config: resolveConfig(configFromForm(f, guidance, dataset.nLayers), dataset.dIn, dataset.nLayers), problem: null };
  } catch (e) {
    return { config, problem: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * The form holding a config (a reloaded run_config.json, an imported SAE's config): every key the
 * form has; keys it does not show keep their values. Guidance drafts come back too.
 */
export function formFromConfig(c: ConfigInput): { form: Partial<ModelForm>; guidance: GuidanceDraft[] } {
  const form: Partial<ModelForm> = {};
  const v = c as Record<string, unknown>;
  const defaults = formDefaults();
  for (const key of Object.keys(defaults)) {
    const value = v[key];
    if (value === undefined || value === null) continue;
    if (typeof value === typeof defaults[key] || defaults[key] === null) (form as Record<string, unknown>)[key] = value;
  }
  if (typeof v.target_l0 === 'number') form.target_l0_percent = v.target_l0 * 100;
  // List fields (matryoshka_prefixes) are edited as text.
  for (const d of variantDeclarations()) {
    for (const [key, spec] of Object.entries(d.fields)) if (spec.type === 'numbers' && Array.isArray(v[key])) form[key] = (v[key] as number[]).join(', ');
  }
  const guidance: GuidanceDraft[] = Array.isArray(v.guidance)
    ? (v.guidance as GuidanceTarget[]).map((g) => ({
      id: g.id, latent: g.latent, method: g.method, beta: g.beta, margin: g.margin,
      source: g.labels.kind, file: g.labels.kind === 'file' ? g.labels.name : '',
      piece: g.labels.kind === 'piece' ? g.labels.piece : '', pattern: g.labels.kind === 'regex' ? g.labels.pattern : '',
    }))
    : [];
  return { form, guidance };
}
