// The run configuration: plain JSON, a discriminated union on `architecture`, shared by the UI,
// the worker, the CLI and the export. `resolveConfig` fills documented defaults and validates,
// throwing ConfigError with a message that names the key and the fix.

export type Architecture = 'relu' | 'topk' | 'jumprelu';
export const ARCHITECTURES: readonly Architecture[] = ['relu', 'topk', 'jumprelu'];

export type Normalize = 'none';

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
  adam_beta1: number;
  adam_beta2: number;
  seed: number;
  /** Fraction of rows held out for validation metrics (taken after a seeded shuffle). */
  val_fraction: number;
  /** Read losses and metrics back from the device every this many steps. */
  log_every: number;
  /** A latent is dead when it has not fired on any of the last this many training tokens. */
  dead_tokens_window: number;
  /** Inference threshold θ: activations at or below it count as zero in metrics (not jumprelu). */
  threshold: number;
  normalize: Normalize;
}

export interface ReluConfig extends CommonConfig {
  architecture: 'relu';
  /** λ of the L1 penalty λ·Σ_i f_i·||W_dec,i|| (decoder rows are unit-norm, so plain L1). */
  l1_coefficient: number;
}

export interface TopKConfig extends CommonConfig {
  architecture: 'topk';
  k: number;
  /** Number of dead latents AuxK may use to model the residual. */
  aux_k: number;
  aux_k_coefficient: number;
}

export interface JumpReluConfig extends CommonConfig {
  architecture: 'jumprelu';
  /** λ of the L0 penalty λ·Σ_i H(z_i − θ_i). */
  l0_coefficient: number;
  /** Width ε of the rectangle kernel of the straight-through estimators. */
  bandwidth: number;
  /** Initial value of every latent's threshold θ (θ is trained directly, kept > 0). */
  init_threshold: number;
}

export type SaeConfig = ReluConfig | TopKConfig | JumpReluConfig;

/** What a user may pass: any subset of the keys, `architecture` required. */
export type ConfigInput = Partial<Omit<ReluConfig, 'architecture'>> &
  Partial<Omit<TopKConfig, 'architecture'>> &
  Partial<Omit<JumpReluConfig, 'architecture'>> & { architecture?: string; [key: string]: unknown };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const COMMON_DEFAULTS: Omit<CommonConfig, 'architecture' | 'd_sae'> = {
  expansion_factor: 8,
  batch_size: 1024,
  steps: 2000,
  lr: 1e-3,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  seed: 0,
  val_fraction: 0.1,
  log_every: 10,
  dead_tokens_window: 200_000,
  threshold: 0,
  normalize: 'none',
};

export const VARIANT_DEFAULTS = {
  relu: { l1_coefficient: 1.0 },
  topk: { k: 32, aux_k_coefficient: 1 / 32 },
  jumprelu: { l0_coefficient: 0.1, bandwidth: 0.05, init_threshold: 0.05 },
} as const;

/** Documented keys, used to reject typos (an unknown key is almost always a mistake). */
const KNOWN_KEYS = new Set<string>([
  'architecture', 'd_sae', ...Object.keys(COMMON_DEFAULTS),
  'l1_coefficient', 'k', 'aux_k', 'aux_k_coefficient', 'l0_coefficient', 'bandwidth', 'init_threshold',
]);

function num(input: Record<string, unknown>, key: string, fallback: number, check: (v: number) => boolean, rule: string): number {
  const v = input[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
    throw new ConfigError(`config key "${key}" is ${JSON.stringify(input[key])}; it must be ${rule}.`);
  }
  return v;
}
const positive = (v: number) => v > 0;
const nonNegative = (v: number) => v >= 0;
const positiveInt = (v: number) => Number.isInteger(v) && v > 0;

/**
 * Fill defaults and validate. `dIn` (the data's width) resolves `d_sae` from `expansion_factor`
 * and bounds `k`; pass it once data is loaded.
 */
export function resolveConfig(input: ConfigInput, dIn: number): SaeConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError('the config must be a JSON object such as {"architecture": "topk", "k": 32}.');
  }
  const arch = input.architecture ?? 'topk';
  if (!ARCHITECTURES.includes(arch as Architecture)) {
    throw new ConfigError(`unknown architecture "${String(arch)}"; use one of ${ARCHITECTURES.join(', ')}.`);
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) throw new ConfigError(`unknown config key "${key}"; see the README for the documented keys.`);
  }
  const expansion = num(input, 'expansion_factor', COMMON_DEFAULTS.expansion_factor, positive, 'a positive number');
  const common: CommonConfig = {
    architecture: arch as Architecture,
    expansion_factor: expansion,
    d_sae: num(input, 'd_sae', Math.max(1, Math.round(expansion * dIn)), positiveInt, 'a positive integer'),
    batch_size: num(input, 'batch_size', COMMON_DEFAULTS.batch_size, positiveInt, 'a positive integer'),
    steps: num(input, 'steps', COMMON_DEFAULTS.steps, positiveInt, 'a positive integer'),
    lr: num(input, 'lr', COMMON_DEFAULTS.lr, positive, 'a positive number (try 1e-3)'),
    adam_beta1: num(input, 'adam_beta1', COMMON_DEFAULTS.adam_beta1, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    adam_beta2: num(input, 'adam_beta2', COMMON_DEFAULTS.adam_beta2, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    seed: num(input, 'seed', COMMON_DEFAULTS.seed, Number.isInteger, 'an integer'),
    val_fraction: num(input, 'val_fraction', COMMON_DEFAULTS.val_fraction, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    log_every: num(input, 'log_every', COMMON_DEFAULTS.log_every, positiveInt, 'a positive integer'),
    dead_tokens_window: num(input, 'dead_tokens_window', COMMON_DEFAULTS.dead_tokens_window, positiveInt, 'a positive integer'),
    threshold: num(input, 'threshold', COMMON_DEFAULTS.threshold, nonNegative, 'a number ≥ 0'),
    normalize: 'none',
  };
  if (input.normalize !== undefined && input.normalize !== 'none') {
    throw new ConfigError(`normalize "${String(input.normalize)}" is not supported yet; use "none".`);
  }
  switch (common.architecture) {
    case 'relu':
      return { ...common, architecture: 'relu',
        l1_coefficient: num(input, 'l1_coefficient', VARIANT_DEFAULTS.relu.l1_coefficient, nonNegative, 'a number ≥ 0') };
    case 'topk': {
      const k = num(input, 'k', Math.min(VARIANT_DEFAULTS.topk.k, common.d_sae), positiveInt, 'a positive integer');
      if (k > common.d_sae) throw new ConfigError(`k = ${k} is larger than d_sae = ${common.d_sae}; choose k ≤ d_sae.`);
      return { ...common, architecture: 'topk', k,
        aux_k: num(input, 'aux_k', Math.max(1, Math.min(common.d_sae, Math.floor(dIn / 2))), positiveInt, 'a positive integer'),
        aux_k_coefficient: num(input, 'aux_k_coefficient', VARIANT_DEFAULTS.topk.aux_k_coefficient, nonNegative, 'a number ≥ 0') };
    }
    case 'jumprelu':
      return { ...common, architecture: 'jumprelu',
        l0_coefficient: num(input, 'l0_coefficient', VARIANT_DEFAULTS.jumprelu.l0_coefficient, nonNegative, 'a number ≥ 0'),
        bandwidth: num(input, 'bandwidth', VARIANT_DEFAULTS.jumprelu.bandwidth, positive, 'a positive number (try 0.05)'),
        init_threshold: num(input, 'init_threshold', VARIANT_DEFAULTS.jumprelu.init_threshold, positive, 'a positive number (try 0.05)') };
  }
}

/** Parameters the sliders change while a run is going; applied at the next step boundary. */
export interface LiveParams {
  lr: number;
  /** Sparsity coefficient λ (l1_coefficient for relu, l0_coefficient for jumprelu; unused by topk). */
  lambda: number;
  k: number;
  bandwidth: number;
  /** jumprelu: every latent's θ is set to this value when it changes. Others: inference threshold. */
  threshold: number;
}

export function initialLive(cfg: SaeConfig): LiveParams {
  return {
    lr: cfg.lr,
    lambda: cfg.architecture === 'relu' ? cfg.l1_coefficient : cfg.architecture === 'jumprelu' ? cfg.l0_coefficient : 0,
    k: cfg.architecture === 'topk' ? cfg.k : 0,
    bandwidth: cfg.architecture === 'jumprelu' ? cfg.bandwidth : 0,
    threshold: cfg.architecture === 'jumprelu' ? cfg.init_threshold : cfg.threshold,
  };
}

/** Fold live values back into a config (for the exported run config and cfg.json). */
export function applyLive(cfg: SaeConfig, live: LiveParams): SaeConfig {
  switch (cfg.architecture) {
    case 'relu': return { ...cfg, lr: live.lr, l1_coefficient: live.lambda, threshold: live.threshold };
    case 'topk': return { ...cfg, lr: live.lr, k: live.k, threshold: live.threshold };
    case 'jumprelu': return { ...cfg, lr: live.lr, l0_coefficient: live.lambda, bandwidth: live.bandwidth };
  }
}
