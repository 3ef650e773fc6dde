// The run configuration: plain JSON, a discriminated union on `architecture`, shared by the UI,
// the worker, the CLI and the export. `resolveConfig` fills documented defaults and validates,
// throwing ConfigError with a message that names the key and the fix.

export type Architecture =
  | 'relu' | 'topk' | 'batchtopk' | 'randomk' | 'jumprelu' | 'gated' | 'classic' | 'matryoshka'
  | 'mlsae' | 'crosscoder' | 'routesae';
export const ARCHITECTURES: readonly Architecture[] = [
  'relu', 'topk', 'batchtopk', 'randomk', 'jumprelu', 'gated', 'classic', 'matryoshka', 'mlsae', 'crosscoder', 'routesae',
];
/** Variants that read activations of several layers at once ([L, N, d] files). */
export const MULTI_LAYER: readonly Architecture[] = ['mlsae', 'crosscoder', 'routesae'];
/**
 * How a variant's sparsity is set: `penalty` variants have a coefficient λ that a controller can
 * steer towards a target L0; `k` variants fix the number of active latents directly.
 */
export const SPARSITY_KIND: Record<Architecture, 'penalty' | 'k'> = {
  relu: 'penalty', jumprelu: 'penalty', gated: 'penalty', classic: 'penalty', crosscoder: 'penalty',
  topk: 'k', batchtopk: 'k', randomk: 'k', matryoshka: 'k', mlsae: 'k', routesae: 'k',
};

export type Normalize = 'none' | 'per_token' | 'dataset_norm';
export type SplitBy = 'rows' | 'document';
export const NORMALIZATIONS: readonly Normalize[] = ['none', 'per_token', 'dataset_norm'];
export type SparsityMode = 'target_l0' | 'manual';

/** Where a guidance target's per-row labels come from. */
export type LabelSource =
  | { kind: 'file'; name: string }
  | { kind: 'piece'; piece: string }
  | { kind: 'regex'; pattern: string; flags?: string };

/** A latent steered towards a labelling of the rows (docs/training.md, guidance targets). */
export interface GuidanceTarget {
  /** Stable name of the target (log columns guidance_<id>_…); defaults to g0, g1, … */
  id: string;
  latent: number;
  method: 'mse' | 'contrastive';
  /** Weight β of this target's loss in the total. */
  beta: number;
  /** Margin of the contrastive loss ReLU(margin − (mean f|y=1 − mean f|y=0)). */
  margin: number;
  labels: LabelSource;
}

/** Keys every variant shares. */
export interface CommonConfig {
  architecture: Architecture;
  /** Dictionary size. When absent, `expansion_factor * d_in`. */
  d_sae: number;
  expansion_factor: number;
  batch_size: number;
  /** Number of optimiser steps. */
  steps: number;
  lr: number;
  /** Linear learning-rate warm-up from 0 over this many steps. */
  lr_warmup_steps: number;
  /** Linear learning-rate decay to 0 over the last this many steps. */
  lr_decay_steps: number;
  adam_beta1: number;
  adam_beta2: number;
  /** Clip the global gradient norm to this value (0 = no clipping). */
  grad_clip_norm: number;
  seed: number;
  /** Fraction of rows held out for validation metrics (taken after a seeded shuffle). */
  val_fraction: number;
  /**
   * How validation rows are chosen: `rows` (a seeded sample of rows; streamed files: of contiguous
   * blocks) or `document` (whole documents, from the loaded document ids, so no text is on both sides).
   */
  split_by: SplitBy;
  /** Leave out the rows the Data panel flags as outliers (e.g. BOS positions) from training and validation. */
  exclude_outliers: boolean;
  /** Read losses and metrics back from the device every this many steps. */
  log_every: number;
  /** Validation loss (for early stopping) and guidance AUROC every this many steps. */
  val_every: number;
  /** Stop when the validation loss has not improved for this many validations (0 = never). */
  early_stopping_patience: number;
  /** Keep a copy of the weights every this many steps (0 = none). */
  checkpoint_every: number;
  /** A latent is dead when it has not fired on any of the last this many training tokens. */
  dead_tokens_window: number;
  /** Penalty variants: re-initialise dead latents every this many steps (0 = never). */
  resample_dead_every: number;
  /** Inference threshold θ: activations at or below it count as zero in metrics (not jumprelu). */
  threshold: number;
  normalize: Normalize;
  /** `target_l0`: λ (penalty variants) or k (k variants) follow `target_l0`; `manual`: as given. */
  sparsity_mode: SparsityMode;
  /** Target fraction of active latents, L0 / d_sae. */
  target_l0: number;
  /** λ ramps linearly from 0 over this many steps. */
  lambda_warmup_steps: number;
  /** Single-layer variants on [L, N, d] data: which layer to train on. */
  layer: number;
  /** Multi-layer variants: first and last layer (inclusive) of an [L, N, d] file to use. */
  layer_start: number;
  layer_end: number;
  guidance: GuidanceTarget[];
}

interface KFields {
  k: number;
  /** Number of dead latents AuxK may use to model the residual. */
  aux_k: number;
  aux_k_coefficient: number;
}

export interface ReluConfig extends CommonConfig {
  architecture: 'relu';
  /** λ of the L1 penalty λ·Σ_i f_i·||W_dec,i|| (decoder rows are unit-norm, so plain L1). */
  l1_coefficient: number;
}
export interface TopKConfig extends CommonConfig, KFields { architecture: 'topk' }
export interface BatchTopKConfig extends CommonConfig, KFields {
  architecture: 'batchtopk';
  /** Rate of the running average that learns the global inference threshold. */
  threshold_lr: number;
}
export interface RandomKConfig extends CommonConfig { architecture: 'randomk'; k: number }
export interface JumpReluConfig extends CommonConfig {
  architecture: 'jumprelu';
  /** λ of the L0 penalty λ·Σ_i H(z_i − θ_i). */
  l0_coefficient: number;
  /** Width ε of the rectangle kernel of the straight-through estimators. */
  bandwidth: number;
  /** Initial value of every latent's threshold θ (θ is trained directly, kept > 0). */
  init_threshold: number;
}
export interface GatedConfig extends CommonConfig {
  architecture: 'gated';
  /** λ of the L1 penalty on ReLU(π_gate), weighted by decoder norms. */
  l1_coefficient: number;
}
export interface ClassicConfig extends CommonConfig {
  architecture: 'classic';
  /** Width of the hidden layer between input and latents (and latents and output). */
  hidden_dim: number;
  sparsity_type: 'l1' | 'kl' | 'hoyer';
  /** λ of the sparsity term. */
  sparsity_coefficient: number;
  /** Target mean activation ρ of the KL penalty. */
  kl_target: number;
  /** Decoder weights are the encoder's transposes. */
  tied_weights: boolean;
}
export interface MatryoshkaConfig extends CommonConfig, KFields {
  architecture: 'matryoshka';
  /** Nested dictionary sizes, ascending, the last = d_sae; each prefix learns to reconstruct. */
  matryoshka_prefixes: number[];
  threshold_lr: number;
}
export interface MlsaeConfig extends CommonConfig, KFields { architecture: 'mlsae' }
export interface CrosscoderConfig extends CommonConfig {
  architecture: 'crosscoder';
  /** λ of the L1 penalty Σ_i f_i·Σ_l ||W_dec,l,i||. */
  l1_coefficient: number;
}
export interface RouteSaeConfig extends CommonConfig, KFields {
  architecture: 'routesae';
  routing: 'hard' | 'soft';
  aggregation: 'sum' | 'mean';
}

export type SaeConfig =
  | ReluConfig | TopKConfig | BatchTopKConfig | RandomKConfig | JumpReluConfig | GatedConfig
  | ClassicConfig | MatryoshkaConfig | MlsaeConfig | CrosscoderConfig | RouteSaeConfig;

/** What a user may pass: any subset of the keys, `architecture` required. */
export type ConfigInput = { architecture?: string; [key: string]: unknown };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const COMMON_DEFAULTS = {
  expansion_factor: 8,
  batch_size: 1024,
  steps: 2000,
  lr: 1e-3,
  lr_warmup_steps: 0,
  lr_decay_steps: 0,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  grad_clip_norm: 1,
  seed: 0,
  val_fraction: 0.1,
  split_by: 'rows' as SplitBy,
  exclude_outliers: false,
  log_every: 10,
  val_every: 100,
  early_stopping_patience: 0,
  checkpoint_every: 0,
  dead_tokens_window: 200_000,
  resample_dead_every: 0,
  threshold: 0,
  normalize: 'none' as Normalize,
  sparsity_mode: 'target_l0' as SparsityMode,
  target_l0: 0.05,
  lambda_warmup_steps: 0,
};

export const VARIANT_DEFAULTS = {
  relu: { l1_coefficient: 1.0 },
  topk: { k: 32, aux_k_coefficient: 1 / 32 },
  batchtopk: { threshold_lr: 0.01 },
  jumprelu: { l0_coefficient: 0.1, bandwidth: 0.05, init_threshold: 0.05 },
  gated: { l1_coefficient: 1.0 },
  classic: { sparsity_type: 'l1', sparsity_coefficient: 0.1, kl_target: 0.05, tied_weights: false, early_stopping_patience: 10 },
  crosscoder: { l1_coefficient: 1.0 },
  routesae: { routing: 'hard', aggregation: 'sum' },
} as const;

/** Documented keys, used to reject typos (an unknown key is almost always a mistake). */
const KNOWN_KEYS = new Set<string>([
  'architecture', 'd_sae', 'layer', 'layer_start', 'layer_end', 'guidance', ...Object.keys(COMMON_DEFAULTS),
  'l1_coefficient', 'k', 'aux_k', 'aux_k_coefficient', 'l0_coefficient', 'bandwidth', 'init_threshold', 'threshold_lr',
  'hidden_dim', 'sparsity_type', 'sparsity_coefficient', 'kl_target', 'tied_weights', 'matryoshka_prefixes', 'routing', 'aggregation',
]);

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

/**
 * Fill defaults and validate. `dIn` is the width of one activation vector and `nLayers` the number
 * of layers in the file ([L, N, d] files; 1 for [N, d]); they resolve `d_sae` from
 * `expansion_factor`, bound `k` and choose the layers.
 */
export function resolveConfig(input: ConfigInput, dIn: number, nLayers = 1): SaeConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError('the config must be a JSON object such as {"architecture": "topk", "k": 32}.');
  }
  const arch = input.architecture ?? 'topk';
  if (!ARCHITECTURES.includes(arch as Architecture)) {
    throw new ConfigError(`unknown architecture "${String(arch)}"; use one of ${ARCHITECTURES.join(', ')}.`);
  }
  const architecture = arch as Architecture;
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) throw new ConfigError(`unknown config key "${key}"; docs/configuration.md lists the keys.`);
  }
  const multi = MULTI_LAYER.includes(architecture);
  if (multi && nLayers < 2) {
    throw new ConfigError(`${architecture} needs activations of several layers: an .npy of shape [L, N, d] with L ≥ 2 (the loaded data has one layer). Load a multi-layer file or choose a single-layer variant.`);
  }
  const D = COMMON_DEFAULTS;
  const expansion = num(input, 'expansion_factor', D.expansion_factor, positive, 'a positive number');
  const dSae = num(input, 'd_sae', Math.max(1, Math.round(expansion * dIn)), positiveInt, 'a positive integer');
  const steps = num(input, 'steps', D.steps, positiveInt, 'a positive integer');
  const layerRule = `an integer layer index in [0, ${nLayers - 1}]`;
  const layerStart = num(input, 'layer_start', architecture === 'mlsae' ? 0 : Math.floor(nLayers / 4), (v) => Number.isInteger(v) && v >= 0 && v < nLayers, layerRule);
  const layerEnd = num(input, 'layer_end', architecture === 'mlsae' ? nLayers - 1 : Math.min(nLayers - 1, Math.floor((3 * nLayers) / 4)), (v) => Number.isInteger(v) && v >= 0 && v < nLayers, layerRule);
  if (multi && layerEnd - layerStart < 1) {
    throw new ConfigError(`layer_start ${layerStart} … layer_end ${layerEnd} selects fewer than 2 layers; ${architecture} needs at least 2.`);
  }
  const variantPatience = architecture === 'classic' ? VARIANT_DEFAULTS.classic.early_stopping_patience : D.early_stopping_patience;
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
    early_stopping_patience: num(input, 'early_stopping_patience', variantPatience, nonNegativeInt, 'an integer ≥ 0 (0 = no early stopping)'),
    checkpoint_every: num(input, 'checkpoint_every', D.checkpoint_every, nonNegativeInt, 'an integer ≥ 0 (0 = no checkpoints)'),
    dead_tokens_window: num(input, 'dead_tokens_window', D.dead_tokens_window, positiveInt, 'a positive integer'),
    resample_dead_every: num(input, 'resample_dead_every', D.resample_dead_every, nonNegativeInt, 'an integer ≥ 0 (0 = never)'),
    threshold: num(input, 'threshold', D.threshold, nonNegative, 'a number ≥ 0'),
    normalize: choice(input, 'normalize', D.normalize, NORMALIZATIONS),
    sparsity_mode: choice(input, 'sparsity_mode', D.sparsity_mode, ['target_l0', 'manual'] as const),
    target_l0: num(input, 'target_l0', D.target_l0, (v) => v > 0 && v < 1, 'a fraction in (0, 1) such as 0.05'),
    lambda_warmup_steps: num(input, 'lambda_warmup_steps', D.lambda_warmup_steps, nonNegativeInt, 'an integer ≥ 0'),
    layer: num(input, 'layer', Math.floor(nLayers / 2), (v) => Number.isInteger(v) && v >= 0 && v < nLayers, layerRule),
    layer_start: layerStart,
    layer_end: layerEnd,
    guidance: [],
  };
  if (input.guidance !== undefined) {
    if (!Array.isArray(input.guidance)) throw new ConfigError('config key "guidance" must be a list of targets.');
    common.guidance = input.guidance.map((g, i) => resolveGuidanceTarget(g, i, dSae));
    const ids = common.guidance.map((g) => g.id);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new ConfigError(`two guidance targets share the id "${dup}"; give each a different id.`);
  }
  // k-variants: an explicit k wins; otherwise k follows the target L0 fraction.
  const kFromTarget = Math.max(1, Math.round(common.target_l0 * dSae));
  const k = (): number => {
    const v = num(input, 'k', common.sparsity_mode === 'target_l0' ? kFromTarget : Math.min(VARIANT_DEFAULTS.topk.k, dSae), positiveInt, 'a positive integer');
    if (v > dSae) throw new ConfigError(`k = ${v} is larger than d_sae = ${dSae}; choose k ≤ d_sae.`);
    return v;
  };
  const kFields = (): KFields => ({
    k: k(),
    aux_k: num(input, 'aux_k', Math.max(1, Math.min(dSae, Math.floor(dIn / 2))), positiveInt, 'a positive integer'),
    aux_k_coefficient: num(input, 'aux_k_coefficient', VARIANT_DEFAULTS.topk.aux_k_coefficient, nonNegative, 'a number ≥ 0'),
  });
  const l1 = (fallback: number) => num(input, 'l1_coefficient', fallback, nonNegative, 'a number ≥ 0');
  const thresholdLr = () => num(input, 'threshold_lr', VARIANT_DEFAULTS.batchtopk.threshold_lr, (v) => v > 0 && v <= 1, 'in (0, 1]');
  switch (architecture) {
    case 'relu': return { ...common, architecture, l1_coefficient: l1(VARIANT_DEFAULTS.relu.l1_coefficient) };
    case 'topk': return { ...common, architecture, ...kFields() };
    case 'batchtopk': return { ...common, architecture, ...kFields(), threshold_lr: thresholdLr() };
    case 'randomk': return { ...common, architecture, k: k() };
    case 'jumprelu':
      return { ...common, architecture,
        l0_coefficient: num(input, 'l0_coefficient', VARIANT_DEFAULTS.jumprelu.l0_coefficient, nonNegative, 'a number ≥ 0'),
        bandwidth: num(input, 'bandwidth', VARIANT_DEFAULTS.jumprelu.bandwidth, positive, 'a positive number (try 0.05)'),
        init_threshold: num(input, 'init_threshold', VARIANT_DEFAULTS.jumprelu.init_threshold, positive, 'a positive number (try 0.05)') };
    case 'gated': return { ...common, architecture, l1_coefficient: l1(VARIANT_DEFAULTS.gated.l1_coefficient) };
    case 'classic': {
      const C = VARIANT_DEFAULTS.classic;
      return { ...common, architecture,
        hidden_dim: num(input, 'hidden_dim', 2 * dIn, positiveInt, 'a positive integer'),
        sparsity_type: choice(input, 'sparsity_type', C.sparsity_type as ClassicConfig['sparsity_type'], ['l1', 'kl', 'hoyer'] as const),
        sparsity_coefficient: num(input, 'sparsity_coefficient', C.sparsity_coefficient, nonNegative, 'a number ≥ 0'),
        kl_target: num(input, 'kl_target', C.kl_target, (v) => v > 0 && v < 1, 'in (0, 1), such as 0.05'),
        tied_weights: bool(input, 'tied_weights', C.tied_weights) };
    }
    case 'matryoshka': {
      const fields = kFields();
      const defaults = [dSae / 16, dSae / 8, dSae / 4, dSae / 2, dSae].map((v) => Math.max(1, Math.round(v)));
      const raw = input.matryoshka_prefixes ?? [...new Set(defaults)];
      if (!Array.isArray(raw) || raw.length === 0 || raw.some((v) => !Number.isInteger(v) || v < 1)) {
        throw new ConfigError(`config key "matryoshka_prefixes" is ${JSON.stringify(raw)}; it must be a list of ascending positive integers ending at d_sae (${dSae}), such as [${defaults.join(', ')}].`);
      }
      const prefixes = raw as number[];
      if (prefixes.some((v, i) => i > 0 && v <= prefixes[i - 1]) || prefixes[prefixes.length - 1] !== dSae) {
        throw new ConfigError(`matryoshka_prefixes ${JSON.stringify(prefixes)} must ascend strictly and end at d_sae = ${dSae}.`);
      }
      return { ...common, architecture, ...fields, matryoshka_prefixes: prefixes, threshold_lr: thresholdLr() };
    }
    case 'mlsae': return { ...common, architecture, ...kFields() };
    case 'crosscoder': return { ...common, architecture, l1_coefficient: l1(VARIANT_DEFAULTS.crosscoder.l1_coefficient) };
    case 'routesae':
      return { ...common, architecture, ...kFields(),
        routing: choice(input, 'routing', VARIANT_DEFAULTS.routesae.routing as RouteSaeConfig['routing'], ['hard', 'soft'] as const),
        aggregation: choice(input, 'aggregation', VARIANT_DEFAULTS.routesae.aggregation as RouteSaeConfig['aggregation'], ['sum', 'mean'] as const) };
  }
}

/** A width and layer count no file has: the loosest bounds resolveConfig can take from data. */
const LARGER_THAN_ANY_DATA = 2 ** 40;

/**
 * Reject a config whose problem does not depend on the data (an unknown key, a value of the wrong
 * type or range, k above an explicit d_sae, …), for a caller that has not loaded the data yet.
 * Every bound resolveConfig takes from the data is loosest for the widest file with the most
 * layers (d_sae defaults to expansion_factor × d_in, layer indices must be below n_layers,
 * multi-layer variants need 2 layers), so the config is resolved for a shape larger than any
 * file: what fails there fails on every file. Two exceptions keep that true: without d_sae,
 * matryoshka_prefixes must end exactly at the d_sae the data gives, so d_sae is taken from the
 * last prefix; and a failure that quotes the stand-in size (an index outside any range) is left
 * to resolveConfig on the loaded data, whose message gives the data's real bounds.
 */
export function checkConfigBeforeData(input: ConfigInput): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    resolveConfig(input, 1);
    return;
  }
  const prefixes = input.matryoshka_prefixes;
  const lastPrefix = Array.isArray(prefixes) ? prefixes[prefixes.length - 1] : undefined;
  const dSae = input.d_sae ?? (Number.isInteger(lastPrefix) && (lastPrefix as number) > 0 ? lastPrefix : LARGER_THAN_ANY_DATA);
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

/** Parameters the sliders change while a run is going; applied at the next step boundary. */
export interface LiveParams {
  lr: number;
  /** Sparsity coefficient λ of penalty variants (the controller moves it in target-L0 mode). */
  lambda: number;
  /** Active latents per row of k variants. */
  k: number;
  bandwidth: number;
  /** jumprelu: every latent's θ is set to this value when it changes. Others: inference threshold. */
  threshold: number;
  /** Target L0 fraction the controller steers towards (target_l0 mode). */
  targetL0: number;
}

/** The λ key of a penalty variant's config, or null for k variants. */
export function lambdaKey(architecture: Architecture): 'l1_coefficient' | 'l0_coefficient' | 'sparsity_coefficient' | null {
  switch (architecture) {
    case 'relu': case 'gated': case 'crosscoder': return 'l1_coefficient';
    case 'jumprelu': return 'l0_coefficient';
    case 'classic': return 'sparsity_coefficient';
    default: return null;
  }
}

export function initialLive(cfg: SaeConfig): LiveParams {
  const key = lambdaKey(cfg.architecture);
  return {
    lr: cfg.lr,
    lambda: key ? (cfg as unknown as Record<string, number>)[key] : 0,
    k: 'k' in cfg ? cfg.k : 0,
    bandwidth: cfg.architecture === 'jumprelu' ? cfg.bandwidth : 0,
    threshold: cfg.architecture === 'jumprelu' ? cfg.init_threshold : cfg.threshold,
    targetL0: cfg.target_l0,
  };
}

/** Fold live values back into a config (for the exported run config and cfg.json). */
export function applyLive(cfg: SaeConfig, live: LiveParams): SaeConfig {
  const out = { ...cfg, lr: live.lr, target_l0: live.targetL0 } as SaeConfig;
  const key = lambdaKey(cfg.architecture);
  if (key) (out as unknown as Record<string, number>)[key] = live.lambda;
  if ('k' in out) out.k = live.k;
  if (out.architecture === 'jumprelu') out.bandwidth = live.bandwidth;
  else out.threshold = live.threshold;
  return out;
}
