// The seam every SAE variant implements. A variant is one file exporting one object; the trainer,
// metrics and export only ever talk to this interface (DESIGN.md §2).
import type * as tf from '@tensorflow/tfjs';
import type { LiveParams, SaeConfig } from '../config';
import type { Rng } from '../rng';

/** Named trainable tensors, SAELens names (W_enc, b_enc, W_dec, b_dec, threshold, ...). */
export type Params = Record<string, tf.Variable>;

/** What a variant may know about the training data when it initialises. */
export interface DataStats {
  dIn: number;
  /** Mean row of the training split [d_in]; b_dec starts here. */
  mean: Float32Array;
  /** Mean L2 norm of a training row. */
  meanNorm: number;
}

/** Per-step state the trainer keeps for the variant (e.g. which latents are dead, for AuxK). */
export interface StepContext {
  /** 1 where the latent has not fired within the dead window, else 0 [d_sae]. */
  deadMask: tf.Tensor1D;
}

/** Scalars of one training loss; `total` is what the optimiser minimises. */
export interface LossParts {
  total: tf.Scalar;
  recon: tf.Scalar;
  /** λ times the sparsity penalty, as it enters `total`. */
  sparsity: tf.Scalar;
  /** Auxiliary loss as it enters `total` (AuxK); 0 when the variant has none. */
  aux: tf.Scalar;
  /** Latent activations f [B, d_sae] of this batch (for metrics; not differentiated through). */
  f: tf.Tensor2D;
  /** Reconstruction x̂ [B, d_in]. */
  xHat: tf.Tensor2D;
}

export interface Variant<C extends SaeConfig = SaeConfig> {
  architecture: C['architecture'];
  /** Human-readable one-line description for the UI. */
  label: string;
  /**
   * True when the variant learns its own thresholds (jumprelu): then `live.threshold` sets them and
   * an activation is active when f > 0. Otherwise `live.threshold` is an inference threshold θ and
   * an activation counts as active in metrics only when f > θ.
   */
  learnsThreshold?: boolean;
  /** Names of the trainable parameters, in a fixed order. */
  paramNames: readonly string[];
  init(cfg: C, stats: DataStats, rng: Rng): Params;
  /** Inference encoding f [B, d_sae], with the live inference threshold applied. */
  encode(p: Params, x: tf.Tensor2D, live: LiveParams): tf.Tensor2D;
  /** x̂ = f W_dec + b_dec [B, d_in]. */
  decode(p: Params, f: tf.Tensor2D): tf.Tensor2D;
  /** The training loss on a batch x [B, d_in]; differentiable w.r.t. every param. */
  loss(p: Params, x: tf.Tensor2D, live: LiveParams, ctx: StepContext): LossParts;
  /** Applied after every optimiser step (e.g. unit-norm decoder rows, θ > 0). */
  constrain?(p: Params): void;
  /** React to a live change of parameters (e.g. set every JumpReLU θ to the slider value). */
  applyLive?(p: Params, prev: LiveParams, next: LiveParams): void;
  /** Tensors to save, SAELens names and shapes. */
  exportTensors(p: Params): Record<string, tf.Tensor>;
  /** cfg.json fields SAELens needs for this architecture (beyond the common ones). */
  saelensConfig(cfg: C, live: LiveParams): { architecture: string } & Record<string, unknown>;
}
