// The run configuration: plain JSON, shared by the UI, the worker, the CLI and the export.
// `resolveConfig` fills documented defaults and validates, throwing ConfigError with a message that
// names the key and the fix. The keys every variant shares and their defaults are in
// ./configBase.ts (re-exported here); each variant's own keys, defaults and checks are in its
// declaration (src/engine/variants/*.decl.ts), read through the registry of
// ./variants/catalog.ts — so nothing here names a variant.
import {
  COMMON_DEFAULTS, ConfigError, NORMALIZATIONS,
  type CommonConfig, type ConfigInput, type GuidanceTarget, type LabelSource, type LiveParams, type SaeConfig,
} from './configBase';
import {
  ARCHITECTURES as REGISTERED, MULTI_LAYER as REGISTERED_MULTI_LAYER, SPARSITY_KIND as REGISTERED_SPARSITY_KIND,
  commonDefaultsOf, configRecord, declarationFor, knownConfigKeys, variantDeclaration,
} from './variants/catalog';
import { numberAllowed, numberRule, type FieldContext, type FieldSpec, type VariantDeclaration } from './variants/declaration';

export {
  COMMON_DEFAULTS, ConfigError, NORMALIZATIONS,
  type Architecture, type CommonConfig, type CommonDefaults, type ConfigInput, type GuidanceTarget, type LabelSource,
  type LiveParams, type Normalize, type SaeConfig, type SparsityMode, type SplitBy,
} from './configBase';
export { registerVariant, variantDeclaration, variantDeclarations, configRecord } from './variants/catalog';
export type { FieldContext, FieldSpec, FormFieldSpec, LayerChartSpec, VariantDeclaration } from './variants/declaration';

/** The registered variants' names (the built-ins, and any registered since), in registration order. */
export const ARCHITECTURES: readonly string[] = REGISTERED;
/** Variants that read activations of several layers at once ([L, N, d] files). */
export const MULTI_LAYER: readonly string[] = REGISTERED_MULTI_LAYER;
/**
 * How a variant's sparsity is set: `penalty` variants have a coefficient λ that a controller can
 * steer towards a target L0; `k` variants fix the number of active latents directly.
 */
export const SPARSITY_KIND: Readonly<Record<string, 'penalty' | 'k'>> = REGISTERED_SPARSITY_KIND;

function num(input: Record<string, unknown>, key: string, fallback: number, check: (v: number) => boolean, rule: string): number {
  const v = input[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
    throw new ConfigError(`config key "${key}" is ${JSON.stringify(input[key])}; it must be ${rule}.`);
  }
  return v;
}
function choice<T extends string>(input: Record<string, unknown>, key: string, fallback: T, options: readonly T[]): T {
  const v = input[key] ?? fallback;
  if (typeof v !== 'string' || !options.includes(v as T)) {
    throw new ConfigError(`config key "${key}" is ${JSON.stringify(input[key])}; use one of ${options.map((o) => `"${o}"`).join(', ')}.`);
  }
  return v as T;
}
function bool(input: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = input[key] ?? fallback;
  if (typeof v !== 'boolean') throw new ConfigError(`config key "${key}" is ${JSON.stringify(input[key])}; it must be true or false.`);
  return v;
}
const positive = (v: number) => v > 0;
const nonNegative = (v: number) => v >= 0;
const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
const nonNegativeInt = (v: number) => Number.isInteger(v) && v >= 0;

/** The default of a variant's field for this data and these common keys. */
export function fieldDefault(spec: FieldSpec, ctx: FieldContext): unknown {
  return spec.compute ? spec.compute(ctx) : spec.default;
}

/** Resolve one declared field of a variant: the given value or its default, checked. */
function resolveField(key: string, spec: FieldSpec, input: Record<string, unknown>, ctx: FieldContext): unknown {
  const fallback = input[key] === undefined || input[key] === null ? fieldDefault(spec, ctx) : undefined;
  let value: unknown;
  switch (spec.type) {
    case 'number':
      value = num(input, key, fallback as number, (v) => numberAllowed(spec, v), numberRule(spec));
      break;
    case 'choice':
      value = choice(input, key, fallback as string, spec.options);
      break;
    case 'boolean':
      value = bool(input, key, fallback as boolean);
      break;
    case 'numbers': {
      const raw = input[key] ?? fallback;
      if (!Array.isArray(raw) || raw.length === 0 || raw.some((v) => !Number.isInteger(v) || v < 1)) {
        throw new ConfigError(`config key "${key}" is ${JSON.stringify(raw)}; it must be ${spec.rule(ctx)}.`);
      }
      value = raw as number[];
      break;
    }
  }
  const why = (spec.validate as ((v: unknown, c: FieldContext) => string | null) | undefined)?.(value, ctx);
  if (why) throw new ConfigError(why);
  return value;
}

/** Validate one guidance target; `i` is its position, for messages. */
export function resolveGuidanceTarget(raw: unknown, i: number, dSae: number): GuidanceTarget {
  const where = `guidance[${i}]`;
  if (typeof raw !== 'object' || raw === null) throw new ConfigError(`${where} must be an object such as {"latent": 0, "method": "contrastive", "beta": 1, "labels": {"kind": "regex", "pattern": "^ ?[A-Z]"}}.`);
  const t = raw as Record<string, unknown>;
  const latent = num(t, 'latent', NaN, (v) => Number.isInteger(v) && v >= 0 && v < dSae, `an integer latent index in [0, ${dSae - 1}] (${where})`);
  const method = choice(t, 'method', 'contrastive', ['mse', 'contrastive'] as const);
  const beta = num(t, 'beta', 1, nonNegative, `a number ≥ 0 (${where})`);
  const margin = num(t, 'margin', 1, positive, `a positive number (${where})`);
  const l = t.labels as Record<string, unknown> | undefined;
  let labels: LabelSource;
  if (l && l.kind === 'file' && typeof l.name === 'string' && l.name) labels = { kind: 'file', name: l.name };
  else if (l && l.kind === 'piece' && typeof l.piece === 'string' && l.piece) labels = { kind: 'piece', piece: l.piece };
  else if (l && l.kind === 'regex' && typeof l.pattern === 'string' && l.pattern) {
    labels = { kind: 'regex', pattern: l.pattern, ...(typeof l.flags === 'string' && l.flags ? { flags: l.flags } : {}) };
  } else {
    throw new ConfigError(`${where}.labels must be {"kind": "file", "name": "labels.csv"}, {"kind": "piece", "piece": " the"} or {"kind": "regex", "pattern": "^ ?[A-Z]"}.`);
  }
  const id = typeof t.id === 'string' && /^[A-Za-z0-9_-]{1,32}$/.test(t.id) ? t.id : `g${i}`;
  return { id, latent, method, beta, margin, labels };
}

/** The default layer (single-layer variants) and layer range (multi-layer variants) of a file with nLayers layers. */
export function defaultLayers(architecture: string, nLayers: number): { layer: number; start: number; end: number } {
  const range = variantDeclaration(architecture)?.multiLayer?.defaultLayers?.(nLayers)
    ?? { start: Math.floor(nLayers / 4), end: Math.min(nLayers - 1, Math.floor((3 * nLayers) / 4)) };
  return { layer: Math.floor(nLayers / 2), ...range };
}

/**
 * Fill defaults and validate. `dIn` is the width of one activation vector and `nLayers` the number
 * of layers in the file ([L, N, d] files; 1 for [N, d]); they resolve `d_sae` from
 * `expansion_factor`, bound `k` and choose the layers.
 */
export function resolveConfig(input: ConfigInput, dIn: number, nLayers = 1): SaeConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError('the config must be a JSON object such as {"architecture": "topk", "k": 32}.');
  }
  const arch = input.architecture ?? COMMON_DEFAULTS.architecture;
  if (typeof arch !== 'string' || !variantDeclaration(arch)) {
    throw new ConfigError(`unknown architecture "${String(arch)}"; use one of ${ARCHITECTURES.join(', ')}.`);
  }
  const decl = declarationFor(arch);
  const architecture = arch;
  const known = knownConfigKeys();
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw new ConfigError(`unknown config key "${key}"; docs/configuration.md lists the keys.`);
  }
  const multi = decl.multiLayer !== undefined;
  if (multi && nLayers < 2) {
    throw new ConfigError(`${architecture} needs activations of several layers: an .npy of shape [L, N, d] with L ≥ 2 (the loaded data has one layer). Load a multi-layer file or choose a single-layer variant.`);
  }
  const D = commonDefaultsOf(architecture);
  const expansion = num(input, 'expansion_factor', D.expansion_factor, positive, 'a positive number');
  const dSae = num(input, 'd_sae', Math.max(1, Math.round(expansion * dIn)), positiveInt, 'a positive integer');
  const steps = num(input, 'steps', D.steps, positiveInt, 'a positive integer');
  const layerRule = `an integer layer index in [0, ${nLayers - 1}]`;
  const layers = defaultLayers(architecture, nLayers);
  const layerStart = num(input, 'layer_start', layers.start, (v) => Number.isInteger(v) && v >= 0 && v < nLayers, layerRule);
  const layerEnd = num(input, 'layer_end', layers.end, (v) => Number.isInteger(v) && v >= 0 && v < nLayers, layerRule);
  if (multi && layerEnd - layerStart < 1) {
    throw new ConfigError(`layer_start ${layerStart} … layer_end ${layerEnd} selects fewer than 2 layers; ${architecture} needs at least 2.`);
  }
  const common: CommonConfig = {
    architecture,
    expansion_factor: expansion,
    d_sae: dSae,
    batch_size: num(input, 'batch_size', D.batch_size, positiveInt, 'a positive integer'),
    steps,
    lr: num(input, 'lr', D.lr, positive, 'a positive number (try 1e-3)'),
    lr_warmup_steps: num(input, 'lr_warmup_steps', D.lr_warmup_steps, nonNegativeInt, 'an integer ≥ 0'),
    lr_decay_steps: num(input, 'lr_decay_steps', D.lr_decay_steps, nonNegativeInt, 'an integer ≥ 0'),
    adam_beta1: num(input, 'adam_beta1', D.adam_beta1, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    adam_beta2: num(input, 'adam_beta2', D.adam_beta2, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    grad_clip_norm: num(input, 'grad_clip_norm', D.grad_clip_norm, nonNegative, 'a number ≥ 0 (0 turns clipping off; 1 is usual)'),
    seed: num(input, 'seed', D.seed, Number.isInteger, 'an integer'),
    val_fraction: num(input, 'val_fraction', D.val_fraction, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    split_by: choice(input, 'split_by', D.split_by, ['rows', 'document'] as const),
    exclude_outliers: bool(input, 'exclude_outliers', D.exclude_outliers),
    log_every: num(input, 'log_every', D.log_every, positiveInt, 'a positive integer'),
    val_every: num(input, 'val_every', D.val_every, positiveInt, 'a positive integer'),
    early_stopping_patience: num(input, 'early_stopping_patience', D.early_stopping_patience, nonNegativeInt, 'an integer ≥ 0 (0 = no early stopping)'),
    checkpoint_every: num(input, 'checkpoint_every', D.checkpoint_every, nonNegativeInt, 'an integer ≥ 0 (0 = no checkpoints)'),
    dead_tokens_window: num(input, 'dead_tokens_window', D.dead_tokens_window, positiveInt, 'a positive integer'),
    resample_dead_every: num(input, 'resample_dead_every', D.resample_dead_every, nonNegativeInt, 'an integer ≥ 0 (0 = never)'),
    threshold: num(input, 'threshold', D.threshold, nonNegative, 'a number ≥ 0'),
    normalize: choice(input, 'normalize', D.normalize, NORMALIZATIONS),
    sparsity_mode: choice(input, 'sparsity_mode', D.sparsity_mode, ['target_l0', 'manual'] as const),
    target_l0: num(input, 'target_l0', D.target_l0, (v) => v > 0 && v < 1, 'a fraction in (0, 1) such as 0.05'),
    lambda_warmup_steps: num(input, 'lambda_warmup_steps', D.lambda_warmup_steps, nonNegativeInt, 'an integer ≥ 0'),
    layer: num(input, 'layer', layers.layer, (v) => Number.isInteger(v) && v >= 0 && v < nLayers, layerRule),
    layer_start: layerStart,
    layer_end: layerEnd,
    guidance: [],
    sparse: choice(input, 'sparse', D.sparse, ['auto', 'off'] as const),
  };
  if (input.guidance !== undefined) {
    if (!Array.isArray(input.guidance)) throw new ConfigError('config key "guidance" must be a list of targets.');
    common.guidance = input.guidance.map((g, i) => resolveGuidanceTarget(g, i, dSae));
    const ids = common.guidance.map((g) => g.id);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new ConfigError(`two guidance targets share the id "${dup}"; give each a different id.`);
  }
  // The variant's own fields, in declaration order (a field's default may read the common keys).
  const ctx: FieldContext = { dIn, dSae, nLayers, common };
  const cfg: Record<string, unknown> = { ...common };
  for (const [key, spec] of Object.entries(decl.fields)) cfg[key] = resolveField(key, spec, input, ctx);
  const why = (decl.check as ((c: SaeConfig, x: FieldContext) => string | null) | undefined)?.(cfg as SaeConfig, ctx);
  if (why) throw new ConfigError(why);
  return cfg as SaeConfig;
}

/** A width and layer count no file has: the loosest bounds resolveConfig can take from data. */
const LARGER_THAN_ANY_DATA = 2 ** 40;

/**
 * Reject a config whose problem does not depend on the data (an unknown key, a value of the wrong
 * type or range, k above an explicit d_sae, …), for a caller that has not loaded the data yet.
 * Every bound resolveConfig takes from the data is loosest for the widest file with the most
 * layers (d_sae defaults to expansion_factor × d_in, layer indices must be below n_layers,
 * multi-layer variants need 2 layers), so the config is resolved for a shape larger than any
 * file: what fails there fails on every file. Two exceptions keep that true: without d_sae, a
 * variant may say which d_sae the config implies (matryoshka_prefixes must end exactly at the
 * d_sae the data gives, so d_sae is taken from the last prefix: the declaration's dSaeBeforeData);
 * and a failure that quotes the stand-in size (an index outside any range) is left to
 * resolveConfig on the loaded data, whose message gives the data's real bounds.
 */
export function checkConfigBeforeData(input: ConfigInput): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    resolveConfig(input, 1);
    return;
  }
  const arch = input.architecture ?? COMMON_DEFAULTS.architecture;
  const implied = typeof arch === 'string' ? variantDeclaration(arch)?.dSaeBeforeData?.(input) : undefined;
  const dSae = input.d_sae ?? implied ?? LARGER_THAN_ANY_DATA;
  try {
    resolveConfig({ ...input, d_sae: dSae }, LARGER_THAN_ANY_DATA, LARGER_THAN_ANY_DATA);
  } catch (e) {
    // Bounds quoted as LARGER_THAN_ANY_DATA or one less (d_sae − 1, n_layers − 1).
    if (e instanceof ConfigError && e.message.includes(String(LARGER_THAN_ANY_DATA).slice(0, -1))) return;
    throw e;
  }
}

/** Number of layers a config's variant reads per row (1 for single-layer variants). */
export function layersUsed(cfg: SaeConfig): number {
  return MULTI_LAYER.includes(cfg.architecture) ? cfg.layer_end - cfg.layer_start + 1 : 1;
}

/** The λ key of a penalty variant's config, or null for k variants (and unregistered names). */
export function lambdaKey(architecture: string): string | null {
  const s = variantDeclaration(architecture)?.sparsity;
  return s?.kind === 'penalty' ? s.lambdaKey : null;
}

/** True when the variant learns its thresholds (the threshold slider sets them; it sends no inference threshold). */
export function learnsThreshold(architecture: string): boolean {
  return variantDeclaration(architecture)?.live?.learnedThreshold !== undefined;
}

export function initialLive(cfg: SaeConfig): LiveParams {
  const d = declarationFor(cfg.architecture);
  const v = configRecord(cfg);
  const value = (key: string | null | undefined) => (key && typeof v[key] === 'number' ? (v[key] as number) : 0);
  return {
    lr: cfg.lr,
    lambda: value(lambdaKey(cfg.architecture)),
    k: d.sparsity.kind === 'k' ? value('k') : 0,
    bandwidth: value(d.live?.bandwidth),
    threshold: d.live?.learnedThreshold ? value(d.live.learnedThreshold) : cfg.threshold,
    targetL0: cfg.target_l0,
  };
}

/** Fold live values back into a config (for the exported run config and cfg.json). */
export function applyLive(cfg: SaeConfig, live: LiveParams): SaeConfig {
  const d = declarationFor(cfg.architecture);
  const out: Record<string, unknown> = { ...cfg, lr: live.lr, target_l0: live.targetL0 };
  const key = lambdaKey(cfg.architecture);
  if (key) out[key] = live.lambda;
  if (d.sparsity.kind === 'k') out.k = live.k;
  if (d.live?.bandwidth) out[d.live.bandwidth] = live.bandwidth;
  if (!d.live?.learnedThreshold) out.threshold = live.threshold;
  return out as SaeConfig;
}

// ---- the one table of defaults ------------------------------------------------------------------

/** A variant's defaults: its own fields' documented defaults (null: computed from the data) and the common keys it changes. */
export function variantDefaults(d: VariantDeclaration): Record<string, unknown> {
  return {
    ...Object.fromEntries(Object.entries(d.fields).map(([key, spec]) => [key, spec.default])),
    ...d.commonDefaults,
  };
}

/**
 * Every default the config resolves to without data: COMMON_DEFAULTS, and per registered variant
 * its fields' defaults (null where the default depends on the data, e.g. hidden_dim = 2·d_in) and
 * the common keys it changes. The page's Model form starts from these (src/store/store.ts) and
 * src/docs.test.ts holds docs/configuration.md to them.
 */
export function configDefaults(): { common: typeof COMMON_DEFAULTS; variants: Record<string, Record<string, unknown>> } {
  return {
    common: COMMON_DEFAULTS,
    variants: Object.fromEntries(REGISTERED.map((a) => [a, variantDefaults(declarationFor(a))])),
  };
}

/** The default of one key for a variant: its own field's, the common key it changes, or COMMON_DEFAULTS'. */
export function defaultOf(architecture: string, key: string): unknown {
  const d = variantDeclaration(architecture);
  const own = d?.fields[key];
  if (own) return own.default;
  return (commonDefaultsOf(architecture) as Record<string, unknown>)[key];
}
