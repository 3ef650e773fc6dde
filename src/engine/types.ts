// Types the engine produces: the backend names, a logged training step and the validation
// metrics. They live here, not in src/worker/protocol.ts, so that the engine (src/engine/trainer.ts,
// backend.ts, calibrate.ts, metricLog.ts) does not import the worker layer above it; the worker's
// messages, the CLI and the page import them from here (layer rules: .dependency-cruiser.cjs).
import type { GuidanceTarget, LiveParams } from './config';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/**
 * One logged training step. Column names are those of the exported log CSV. Besides the fixed
 * columns a row may carry extra ones: guidance targets (`guidance_<id>_loss`, `_pos`, `_neg`,
 * `_auroc`), validation (`val_loss`) and variant diagnostics (`route_share_0`, …).
 */
export interface MetricRow {
  [column: string]: number;
  step: number;
  total_loss: number;
  recon_loss: number;
  sparsity_loss: number;
  /** L0 fraction = mean active latents per row / d_sae (the seeds' `sparsity_l0`). */
  sparsity_l0: number;
  aux_loss: number;
  /** Mean active latents per row. */
  l0: number;
  /** Σ||x − x̂||² / Σ||x||² on this batch. */
  nmse: number;
  /** 1 − Σ||x − x̂||² / Σ||x − x̄||² on this batch. */
  fve: number;
  dead_fraction: number;
  /** Fraction of latents that fired on more than 10% of the tokens since the last logged step. */
  dense_fraction: number;
  /** β-weighted sum of the guidance losses as it enters the total. */
  guidance_loss: number;
  /** Learning rate in effect (after warm-up and decay). */
  lr: number;
  /** Base λ (the controller moves it in target-L0 mode). */
  lambda: number;
  /** λ in effect (after λ warm-up). */
  lambda_effective: number;
  target_l0: number;
  k: number;
  bandwidth: number;
  threshold: number;
  /** Mean learned threshold θ (jumprelu), else the inference threshold. */
  threshold_mean: number;
  tokens_per_s: number;
  elapsed_s: number;
}

/** A live parameter change, as applied by the worker (shown in the log). */
export interface LiveEvent {
  step: number;
  changes: Partial<LiveParams>;
  /** The guidance targets now in effect, when they changed. */
  guidance?: GuidanceTarget[];
  /** Something the trainer did on its own (early stopping, resampling), in words. */
  note?: string;
}

/** Metrics on the validation split, names exactly as in docs/metrics.md. */
export interface EvalMetrics {
  nmse: number;
  fve: number;
  nmse_per_token: number;
  l0: number;
  l0_fraction: number;
  dead_fraction: number;
  /** Mean over true features of the best |cosine| with a decoder row (synthetic data only). */
  feature_recovery?: number;
  /** Per guidance target on the validation split: AUROC of the latent for its labels, and means. */
  guidance?: GuidanceEval[];
  /** Set when early stopping ended the run: the step whose weights were kept. */
  early_stopped_at?: number;
  steps: number;
  tokens_per_s: number;
  backend: string;
}

export interface GuidanceEval {
  id: string;
  latent: number;
  auroc: number;
  mean_pos: number;
  mean_neg: number;
}
