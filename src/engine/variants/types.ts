// The seam every SAE variant's math implements (its tf-free declaration is ./declaration.ts); the trainer,
// metrics and export only ever talk to this interface (ARCHITECTURE.md, "Adding a variant").
import type * as tf from '@tensorflow/tfjs';
import type { LiveParams, SaeConfig } from '../configBase';
import type { Rng } from '../rng';
import type { Entries } from '../ops/sparse';

/** Named trainable tensors, SAELens names (W_enc, b_enc, W_dec, b_dec, threshold, ...). */
export type Params = Record<string, tf.Variable>;

/** What a variant may know about the training data when it initialises. */
export interface DataStats {
  /** Width of one activation vector (one layer). */
  dIn: number;
  /** Layers per training row: a row holds nLayers vectors of dIn, layer-major ([L·d_in]). */
  nLayers: number;
  /** Mean row of the training split [nLayers·d_in]; b_dec starts here. */
  mean: Float32Array;
  /** Mean L2 norm of a training row. */
  meanNorm: number;
}

/** Per-step state the trainer keeps for the variant (e.g. which latents are dead, for AuxK). */
export interface StepContext {
  /** 1 where the latent has not fired within the dead window, else 0 [d_sae]. */
  deadMask: tf.Tensor1D;
  /** Index of the optimiser step being taken (0-based); seeds per-step randomness. */
  step: number;
  /** The run's seed. */
  seed: number;
  /**
   * x is computed from parameters (RouteSAE's routed vectors) and needs its gradient; otherwise x
   * is data and encoders skip ∂x (linear.ts centredEncode).
   */
  inputNeedsGradient?: boolean;
  /**
   * True when the trainer knows that no latent is dead; AuxK, exactly 0 then, is skipped. Given
   * only where the read does not wait on a device (wasm, cpu), and called only by the variants
   * with AuxK, so the others make no read at all.
   */
  knownNoneDead?: () => boolean;
  /**
   * The fraction of latents active in the previous step (mean over its rows), where the trainer
   * could read it without waiting on a device (wasm, cpu): the variants whose sparse step only wins
   * below some active fraction (JumpReLU) decide with it.
   */
  activeFraction?: number;
  /**
   * Where the sparse selections need their widths given (webgpu: ops/sparse.ts
   * selectionNeedsWidths), what the trainer learnt of this batch's selection before the step from
   * the variant's sparseStepPlan (trainStep.ts planSparseStep); absent elsewhere, and then the step
   * stays dense on such a backend.
   */
  plannedSelection?: PlannedSelection;
}

/**
 * What Variant.sparseStepPlan computes on the device before a step: the pre-activations the
 * selection reads and its per-row counts, which the trainer reads asynchronously.
 */
export interface SelectionPlan {
  /** z [B, d_sae] as the sparse step computes it; the step reuses it rather than computing it again. */
  pre: tf.Tensor2D;
  /**
   * Per row, how many latents each of the selection's sets holds: int32 [B, sets] (ops/sparse.ts
   * thresholdCounts, batchTopkCounts). Column 0 is the active latents (f > 0).
   */
  counts: tf.Tensor2D;
}

/** A SelectionPlan with its counts read (trainStep.ts planSparseStep): what the sparse step is given. */
export interface PlannedSelection {
  /** The plan's pre-activations, alive until the step is over (the trainer disposes them). */
  pre: tf.Tensor2D;
  /** Per set, the largest row count (at least 1): the width of its entries. */
  widths: number[];
  /** The fraction of latents active in this batch: column 0 of the counts over B · d_sae. */
  activeFraction: number;
}

/** Scalars of one training loss; `total` is what the optimiser minimises. */
export interface LossParts {
  total: tf.Scalar;
  recon: tf.Scalar;
  /** λ times the sparsity penalty, as it enters `total`. */
  sparsity: tf.Scalar;
  /** Auxiliary loss as it enters `total` (AuxK); 0 when the variant has none. */
  aux: tf.Scalar;
  /**
   * Latent activations of this batch, [B·r, d_sae] with r rows per input row (r = 1 except MLSAE,
   * whose layers are extra rows: row b·r + l is layer l of input b). Metrics count actives here,
   * and guidance losses are taken on it, so it must be the differentiable f of the forward pass.
   */
  f: tf.Tensor2D;
  /**
   * Pre-activations behind f, the same shape (z before ReLU / TopK / JumpReLU; π_gate for gated).
   * Guidance losses pass their gradient straight through to these where a latent is not firing,
   * so a target latent that does not fire on its positive rows can still learn to.
   */
  pre?: tf.Tensor2D;
  /** Reconstruction x̂, the same shape as `target`. */
  xHat: tf.Tensor2D;
  /** What x̂ reconstructs when it is not the input x itself (RouteSAE: the routed vector). */
  target?: tf.Tensor2D;
  /** Extra scalars or vectors to log on log steps (a vector v becomes columns name_0, name_1, …). */
  diagnostics?: Record<string, tf.Scalar | tf.Tensor1D>;
}

/** The parts of a sparse step's loss: as LossParts, with the latents as entries (ops/sparse.ts). */
export interface SparseLossParts extends Omit<LossParts, 'f' | 'pre' | 'target'> {
  /** This batch's latent activations f as entries: indices and values [B, K]. */
  entries: Entries;
}

/** A step computed with the sparse products: its loss parts and the gradient of `total` by parameter name. */
export interface SparseStep {
  parts: SparseLossParts;
  grads: Record<string, tf.Tensor>;
  /** What the variant's afterStep does, for this step's entries (BatchTopK's running θ_g). */
  afterStep?: () => void;
}

/** A dense step with its backward written out (Variant.denseStep): the loss parts and the gradient of `total` by parameter name. */
export interface DenseStep {
  parts: LossParts;
  grads: Record<string, tf.Tensor>;
}

/** An inference pass: latents, reconstruction, and what it reconstructs. */
export interface Reconstruction {
  f: tf.Tensor2D;
  xHat: tf.Tensor2D;
  target: tf.Tensor2D;
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
  /**
   * False when W_dec rows are not directions in the input space (classic: they map latents to a
   * hidden layer), so comparing them with a planted dictionary would mean nothing.
   */
  decoderRowsInInputSpace?: boolean;
  /** Names of the trainable parameters, in a fixed order. */
  paramNames: readonly string[];
  init(cfg: C, stats: DataStats, rng: Rng): Params;
  /** Inference encoding f [B, d_sae], with the live inference threshold applied. */
  encode(p: Params, x: tf.Tensor2D, live: LiveParams): tf.Tensor2D;
  /** x̂ = f W_dec + b_dec [B, d_in]. */
  decode(p: Params, f: tf.Tensor2D): tf.Tensor2D;
  /** The training loss on a batch x [B, d_in]; differentiable w.r.t. every param. */
  loss(p: Params, x: tf.Tensor2D, live: LiveParams, ctx: StepContext): LossParts;
  /**
   * The training loss and its gradients with the sparse products (ops/sparse.ts), equal to `loss`
   * through autodiff up to rounding; null where they do not apply (the backend lacks the kernels,
   * the widths do not suit them). Not called while guidance targets are set (their losses need f).
   */
  sparseStep?(p: Params, x: tf.Tensor2D, live: LiveParams, ctx: StepContext): SparseStep | null;
  /**
   * For a sparse step whose selection's widths depend on the data: where they must be given
   * (webgpu), its pre-activations and row counts of this batch on the device, which the trainer
   * reads asynchronously and passes to sparseStep as ctx.plannedSelection. Null where no sparse
   * step can run (the backend lacks the kernels, the widths do not suit them).
   */
  sparseStepPlan?(p: Params, x: tf.Tensor2D, live: LiveParams): SelectionPlan | null;
  /**
   * The training loss and its gradients of a dense step with the backward written out, equal to
   * `loss` through autodiff up to rounding; null where it does not apply (denseLinear.ts). Taken
   * where no sparse step is; not called while guidance targets are set.
   */
  denseStep?(p: Params, x: tf.Tensor2D, live: LiveParams, ctx: StepContext): DenseStep | null;
  /** Applied after every optimiser step (e.g. unit-norm decoder rows, θ > 0). */
  constrain?(p: Params): void;
  /** React to a live change of parameters (e.g. set every JumpReLU θ to the slider value). */
  applyLive?(p: Params, prev: LiveParams, next: LiveParams): void;
  /**
   * Inference from input rows x [B, nLayers·d_in] to f, x̂ and the target x̂ approximates; when
   * absent, f = encode(x), x̂ = decode(f), target = x.
   */
  reconstruct?(p: Params, x: tf.Tensor2D, live: LiveParams): Reconstruction;
  /**
   * For splicing into a language model: reconstructions of the input rows x [B, nLayers·d_in] in
   * the same layout, and which layer of each row they replace [B, nLayers] (1 = replace). Variants
   * that have it are spliced at all their layers in one pass (RouteSAE: only the layer it routed
   * each row to); without it x̂ = reconstruct(x).x̂ replaces every layer, one layer per pass.
   */
  spliceReconstruct?(p: Params, x: tf.Tensor2D, live: LiveParams): { xHat: tf.Tensor2D; replace: tf.Tensor2D };
  /** Called inside the step after the optimiser and constraint (e.g. to update a running threshold). */
  afterStep?(p: Params, parts: LossParts, live: LiveParams): void;
  /**
   * Re-initialise the given dead latents towards input directions [n, row width] (rows the model
   * reconstructs badly, already centred by b_dec), as Anthropic's resampling does. The trainer
   * resets their optimiser moments. Asynchronous: the parameters are read with data(), since a
   * GPU backend in Node cannot read synchronously.
   */
  resampleDead?(p: Params, latents: number[], directions: Float32Array): Promise<void>;
  /**
   * Tensors to save, SAELens names and shapes. May return parameters themselves or new tensors;
   * the caller disposes every returned tensor that is not a parameter.
   */
  exportTensors(p: Params): Record<string, tf.Tensor>;
  /**
   * Restore state the variant holds outside `Params` from saved tensors (e.g. a learned global
   * threshold): arrays, or a device copy (a rollback snapshot), which is used without being read
   * back (a GPU backend in Node cannot read synchronously) and stays the caller's.
   */
  loadState?(tensors: Record<string, tf.Tensor | { shape: number[]; data: Float32Array }>): void;
  /** Free tensors the variant holds outside `Params` (running thresholds, …). */
  dispose?(): void;
  /** cfg.json fields SAELens needs for this architecture (beyond the common ones). */
  saelensConfig(cfg: C, live: LiveParams): { architecture: string } & Record<string, unknown>;
}
