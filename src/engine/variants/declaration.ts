// What a variant declares about itself, apart from its math: its config fields (defaults, checks,
// Model-form fields), how its sparsity is set and which live sliders apply, its SAELens name,
// cfg.json fields and training-script mapping, its parameter and export layout, and its memory
// factors. Plain data and pure functions, no tfjs: the page imports declarations (through
// src/engine/config.ts and src/engine/variants/catalog.ts) without pulling tfjs into its bundle.
// The math — the tfjs `Variant` of ./types.ts — is registered beside it (registerVariant in
// ./catalog.ts); ARCHITECTURE.md "Adding a variant" has the steps.
import type { CommonConfig, CommonDefaults, LiveParams } from '../configBase';
import type { Variant } from './types';

/** What a field's computed default and checks may use: the data's shape and the resolved common keys. */
export interface FieldContext {
  /** Width of one activation vector. */
  dIn: number;
  /** The run's dictionary size (already resolved). */
  dSae: number;
  /** Layers in the data ([L, N, d] files; 1 for [N, d]). */
  nLayers: number;
  common: CommonConfig;
}

/** How a field appears in the page's Model panel. */
export interface FormFieldSpec {
  label: string;
  /** The field's tooltip. */
  help?: string;
  /** Labels of a choice field's options (default: the values themselves). */
  optionLabels?: Readonly<Record<string, string>>;
  /** Shown only while this holds for the form's values (e.g. the KL target only with the KL penalty). */
  showIf?(values: Readonly<Record<string, unknown>>): boolean;
}

interface FieldBase<T> {
  /**
   * The default a config without the key takes, as docs/configuration.md states it and as the
   * Model form starts; null when it depends on the data or other keys (then `compute` gives it).
   */
  default: T | null;
  /** The value a config without the key gets, when that is not `default` (it depends on the data or other keys). */
  compute?(ctx: FieldContext): T;
  /** A check beyond type and range: the message (naming the key and the fix), or null when the value is fine. */
  validate?(value: T, ctx: FieldContext): string | null;
  /**
   * The field in the Model panel. Without it the field is not in the form: the page sends no
   * value (the default applies), while a config file (CLI, a dropped run_config.json) may set it.
   * The λ key of a penalty variant and `k` are always shown, by the sparsity controls.
   */
  form?: FormFieldSpec;
}

export interface NumberField extends FieldBase<number> {
  type: 'number';
  integer?: boolean;
  min?: number;
  max?: number;
  /** `min` itself is not allowed (v > min). */
  minExclusive?: boolean;
  /** `max` itself is not allowed (v < max). */
  maxExclusive?: boolean;
  /** The rule as a message states it ("a positive number (try 0.05)"); derived from the bounds when absent. */
  rule?: string;
}

export interface ChoiceField<T extends string = string> extends FieldBase<T> {
  type: 'choice';
  options: readonly T[];
}

export interface BooleanField extends FieldBase<boolean> {
  type: 'boolean';
}

/** A list of positive integers (the form edits it as comma-separated text; empty = the default). */
export interface NumberListField extends FieldBase<number[]> {
  type: 'numbers';
  /** The rule as a message states it, e.g. "a list of ascending positive integers ending at d_sae (512)". */
  rule(ctx: FieldContext): string;
}

export type FieldSpec = NumberField | ChoiceField | BooleanField | NumberListField;
export type Fields = Readonly<Record<string, FieldSpec>>;

type ValueOf<F> = F extends ChoiceField<infer T> ? T
  : F extends NumberField ? number
  : F extends BooleanField ? boolean
  : F extends NumberListField ? number[]
  : never;

/** The typed values of a field map. */
export type FieldValues<F extends Fields> = { -readonly [K in keyof F]: ValueOf<F[K]> };

/**
 * The resolved config of a variant: the common keys and its own fields (for a declaration of any
 * variant, VariantDeclaration<string>, just the common keys).
 */
export type ConfigOf<A extends string, F extends Fields> = string extends A ? CommonConfig : CommonConfig & { architecture: A } & FieldValues<F>;

/** The config type of a declaration: `type TopKConfig = DeclaredConfig<typeof topkDeclaration>`. */
export type DeclaredConfig<D> = D extends VariantDeclaration<infer A, infer F> ? ConfigOf<A, F> : never;

export const numberField = (spec: Omit<NumberField, 'type'>): NumberField => ({ type: 'number', ...spec });
export function choiceField<const T extends string>(options: readonly T[], spec: Omit<ChoiceField<T>, 'type' | 'options'>): ChoiceField<T> {
  return { type: 'choice', options, ...spec };
}
export const booleanField = (spec: Omit<BooleanField, 'type'>): BooleanField => ({ type: 'boolean', ...spec });
export const numberListField = (spec: Omit<NumberListField, 'type'>): NumberListField => ({ type: 'numbers', ...spec });

/** A value as SAELens's Python script writes it. */
export type PyValue = string | number | boolean | number[];

/** The SAELens training class a variant maps to in train_with_saelens.py (src/run/saelensScript.ts). */
export interface SaeLensScriptMapping {
  /** SAELens training config class, e.g. TopKTrainingSAEConfig. */
  cls: string;
  /** Its keyword arguments beyond d_in / d_sae / normalize_activations: [name, value, why?]. */
  fields: [string, PyValue, string?][];
  /** Set when SAELens has no such architecture: why this class is the closest. */
  substitute?: string;
  /** Further differences from the workbench run, for the script's header. */
  notes: string[];
}

/** A chart of a per-layer diagnostic the variant logs (columns prefix_0, prefix_1, …). */
export interface LayerChartSpec {
  prefix: string;
  title: string;
  yTitle: string;
  stacked: boolean;
}

/** Per-step memory factors (src/engine/memoryBudget.ts explains them), measured with tf.profile. */
export interface MemoryProfile<C> {
  /** Backward pass: activations per latent entry of the batch (floats per R·d_sae). */
  act: number;
  /** Backward pass: parameter-sized tensors (floats per parameter). */
  tape: number;
  /** Batch-sized tensors of the input width (floats per B·layers·d_in). */
  io: number;
  /** More batch-sized tensors that depend on the config (matryoshka: a reconstruction per prefix). */
  extraIo?(cfg: C): number;
  /** Latent rows per input row (MLSAE: one per layer); 1 when absent. */
  rowsPerInput?(cfg: C): number;
  /**
   * The step with sparse products (variants/sparseLinear.ts), for the variants that take it from
   * their first step on (the k-sparse ones; JumpReLU, ReLU and Gated start dense): its activations
   * per R·d_sae (the pre-activations, freed once selected) and parameter-sized tensors at that point.
   */
  sparse?: { act: number; tape: number };
  /**
   * The dense step with its backward written out (Variant.denseStep, variants/denseLinear.ts), where
   * it runs (wasm, cpu) and no guidance needs autodiff: its activations per R·d_sae and
   * parameter-sized tensors at its peak, with the fused products of wasm (`act`, `tape`) or with
   * tfjs's ops (cpu: `opsAct`, `opsTape`, with their intermediates and transposed copies). Absent:
   * the variant's dense step is autodiff's everywhere.
   */
  written?: { act: number; tape: number; opsAct: number; opsTape: number };
}

export interface VariantDeclaration<A extends string = string, F extends Fields = Fields> {
  /** The config's `architecture`. */
  architecture: A;
  /** Its name in the Model panel's variant list. */
  label: string;
  /** A sentence or two under the variant list. */
  description: string;
  /**
   * How sparsity is set: `k` variants fix the active latents (a `k` field; the k slider), `penalty`
   * variants weigh a penalty by λ, the field `lambdaKey` (the λ slider; the controller steers it in
   * target-L0 mode).
   */
  sparsity: { kind: 'k' } | { kind: 'penalty'; lambdaKey: keyof F & string };
  /** Set for variants that read several layers at once ([L, N, d] files). */
  multiLayer?: {
    /** The default layer_start … layer_end; absent: ⌊L/4⌋ … ⌊3L/4⌋. */
    defaultLayers?(nLayers: number): { start: number; end: number };
  };
  /** The variant's own config keys, in the order the form shows them. */
  fields: F;
  /** Common keys whose default this variant changes; the form shows them with the variant's own fields. */
  commonDefaults?: Partial<Pick<CommonDefaults, 'early_stopping_patience'>>;
  /** A check across fields after each one resolved: the message, or null. */
  check?(cfg: ConfigOf<A, F>, ctx: FieldContext): string | null;
  /** The d_sae a config implies before any data is loaded (matryoshka: its last prefix), for checkConfigBeforeData. */
  dSaeBeforeData?(input: Readonly<Record<string, unknown>>): number | undefined;
  /** Live parameters beyond lr, target L0, λ or k and the inference threshold. */
  live?: {
    /** The field behind LiveParams.bandwidth: the Live panel shows a Bandwidth slider. */
    bandwidth?: keyof F & string;
    bandwidthHelp?: string;
    /**
     * The variant learns a threshold per latent (LiveParams.threshold sets them all; an activation
     * is active when f > 0), starting from this field.
     */
    learnedThreshold?: keyof F & string;
  };
  saelens: {
    /** cfg.json `architecture`. */
    architecture: string;
    /** cfg.json fields beyond the common ones (e.g. topk's k). */
    config?(cfg: ConfigOf<A, F>, live: LiveParams): Record<string, unknown>;
    /** The tensors follow SAELens's affine layout (W_enc [d_in, d_sae], …): export and import check their shapes. */
    affineLayout?: boolean;
    /** SAELens cfg.json architectures that import as this variant (without a workbench run_config.json). */
    importFrom?: readonly string[];
    /** The SAELens training class and arguments of train_with_saelens.py. */
    script(cfg: ConfigOf<A, F>): SaeLensScriptMapping;
  };
  /** The trainable tensors and their shapes (SAELens names), as the variant's init makes them. */
  parameterShapes(cfg: ConfigOf<A, F>, dIn: number): Record<string, number[]>;
  /** The exported tensors (sae_weights.safetensors) and their shapes, when not the parameters. */
  exportShapes?(cfg: ConfigOf<A, F>, dIn: number): Record<string, number[]>;
  memory: MemoryProfile<ConfigOf<A, F>>;
  /** The config with another d_sae, for the memory estimate's search (k is clamped already). */
  withDSae?(cfg: ConfigOf<A, F>, dSae: number): ConfigOf<A, F>;
  /** Charts of its own. */
  charts?: { layers?(cfg: ConfigOf<A, F>): LayerChartSpec | null };
}

/** Type-checks a declaration and keeps its literal types (for `DeclaredConfig<typeof d>`). */
export function declareVariant<const A extends string, F extends Fields>(d: VariantDeclaration<A, F>): VariantDeclaration<A, F> {
  return d;
}

/**
 * The math of a variant as its maker returns it: a `Variant` whose architecture, label,
 * learnsThreshold and saelensConfig may be left to the declaration (variantFor fills them in).
 */
export type VariantMath<C extends CommonConfig = CommonConfig> =
  Omit<Variant<C>, 'architecture' | 'label' | 'saelensConfig'> & Partial<Pick<Variant<C>, 'architecture' | 'label' | 'saelensConfig'>>;

/** Builds a run's variant from its resolved config (a fresh object per run when it keeps state). */
export type MakeVariant<C extends CommonConfig = CommonConfig> = (cfg: C) => VariantMath<C>;

// ---- reading a declaration ----------------------------------------------------------------------

/** A variant's `saelensConfig` as its declaration gives it: cfg.json's architecture and its fields. */
export function declaredSaeLensConfig<A extends string, F extends Fields>(d: VariantDeclaration<A, F>) {
  return (cfg: ConfigOf<A, F>, live: LiveParams): { architecture: string } & Record<string, unknown> =>
    ({ architecture: d.saelens.architecture, ...d.saelens.config?.(cfg, live) });
}

/** The rule of a number field as messages state it. */
export function numberRule(f: NumberField): string {
  if (f.rule) return f.rule;
  const { integer, min, max, minExclusive, maxExclusive } = f;
  if (max === undefined) {
    if (integer && min !== undefined && (min === 1 || (min === 0 && minExclusive))) return 'a positive integer';
    if (integer && min === 0) return 'an integer ≥ 0';
    if (min === 0 && minExclusive) return 'a positive number';
    if (min !== undefined) return `${integer ? 'an integer' : 'a number'} ${minExclusive ? '>' : '≥'} ${min}`;
    return integer ? 'an integer' : 'a number';
  }
  if (min === undefined) return `${integer ? 'an integer' : 'a number'} ${maxExclusive ? '<' : '≤'} ${max}`;
  return `${integer ? 'an integer ' : ''}in ${minExclusive ? '(' : '['}${min}, ${max}${maxExclusive ? ')' : ']'}`;
}

/** True when v is within a number field's type and bounds. */
export function numberAllowed(f: NumberField, v: number): boolean {
  return Number.isFinite(v) && (!f.integer || Number.isInteger(v))
    && (f.min === undefined || (f.minExclusive ? v > f.min : v >= f.min))
    && (f.max === undefined || (f.maxExclusive ? v < f.max : v <= f.max));
}

/** A number field's bounds as an input's inclusive min / max (an open bound moves in by 1 or 1e-6). */
export function formBounds(f: NumberField): { min?: number; max?: number } {
  const step = f.integer ? 1 : 1e-6;
  return {
    min: f.min === undefined ? undefined : f.minExclusive ? f.min + step : f.min,
    max: f.max === undefined ? undefined : f.maxExclusive ? f.max - step : f.max,
  };
}
