// The keys every variant shares, their defaults and the run config's types: a leaf module (it
// imports nothing), so that the variant declarations (src/engine/variants/*.decl.ts) and the
// registry that holds them can use these types while src/engine/config.ts imports the registry.
// src/engine/config.ts re-exports everything here; import from there.

/** The name of a registered variant (src/engine/variants/catalog.ts lists them). */
export type Architecture = string;

export type Normalize = 'none' | 'per_token' | 'dataset_norm';
export type SplitBy = 'rows' | 'document';
export const NORMALIZATIONS: readonly Normalize[] = ['none', 'per_token', 'dataset_norm'];
export type SparsityMode = 'target_l0' | 'manual';
/** Whether a step may use the sparse products (ops/sparse.ts) where its variant and backend have them. */
export type SparseProducts = 'auto' | 'off';

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

/**
 * Keys every variant shares. A type alias (not an interface) so that a variant's config type,
 * `CommonConfig & {its fields}`, is assignable to records of its keys.
 */
export type CommonConfig = {
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
  /** Inference threshold θ: activations at or below it count as zero in metrics (not for variants that learn θ). */
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
  /**
   * `auto`: variants whose latents are mostly zero (TopK) take the sparse products on backends that
   * have them (wasm, webgpu), equal to the dense step up to rounding; `off`: always the dense step.
   */
  sparse: SparseProducts;
};

/**
 * A resolved run config: the common keys, plus the fields its variant declares (present at run
 * time, typed by the variant's own config type, e.g. `TopKConfig` of src/engine/variants/topk.decl.ts).
 */
export type SaeConfig = CommonConfig;

/** What a user may pass: any subset of the keys, `architecture` required. */
export type ConfigInput = { architecture?: string; [key: string]: unknown };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * The defaults of the common keys: the one table the config (resolveConfig), the CLI and the
 * page's Model form start from. A variant may override some of them (classic's
 * early_stopping_patience) in its declaration; its own keys' defaults are in its declaration.
 * Sized so that the page's built-in sample trains in seconds.
 */
export const COMMON_DEFAULTS = {
  architecture: 'topk' as Architecture,
  expansion_factor: 8,
  batch_size: 512,
  steps: 1000,
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
  sparse: 'auto' as SparseProducts,
};

export type CommonDefaults = typeof COMMON_DEFAULTS;

/** Parameters the sliders change while a run is going; applied at the next step boundary. */
export interface LiveParams {
  lr: number;
  /** Sparsity coefficient λ of penalty variants (the controller moves it in target-L0 mode). */
  lambda: number;
  /** Active latents per row of k variants. */
  k: number;
  bandwidth: number;
  /** Variants that learn θ (jumprelu): every latent's θ is set to this value when it changes. Others: inference threshold. */
  threshold: number;
  /** Target L0 fraction the controller steers towards (target_l0 mode). */
  targetL0: number;
}
