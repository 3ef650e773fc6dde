// BatchTopK SAE (Bussmann et al. 2024; SAELens "batchtopk"): TopK over the whole batch.
//   z = (x − b_dec) W_enc + b_enc,  f = ReLU(z) on the batch's k·B largest entries,  x̂ = f W_dec + b_dec
//   loss = mean_b ||x − x̂||² + α · AuxK
// Training picks latents per batch, which inference cannot do one row at a time, so the variant
// learns a global threshold θ_g, a running average of the smallest activation each batch kept, and
// infers as a JumpReLU with that one threshold: f = z · 1[z > θ_g]. Saved as SAELens "jumprelu".
// The pieces Matryoshka shares (θ_g, AuxK term, inference, export, the sparse step's selection)
// are exported from here.
import * as tf from '@tensorflow/tfjs';
import { batchtopkDeclaration, type BatchTopKConfig } from './batchtopk.decl';
import { declaredSaeLensConfig } from './declaration';
import type { MatryoshkaConfig } from './matryoshka.decl';
import { auxKTerm, reconstructionLoss } from '../losses';
import { batchTopkRelu, batchTotal } from '../ops/batchTopk';
import type { LossParts, Params, SelectionPlan, StepContext, Variant } from './types';
import { applyInferenceThreshold, initLinearSae, linearDecode, linearExport, normalizeDecoderRows, preActivations } from './linear';
import { isAbove } from '../ops/compare';
import { batchTopkCounts, batchTopkEntries, batchTopkEntriesAvailable, selectionNeedsWidths, type Entries } from '../ops/sparse';
import { kSparseStep, sparsePreActivations, sparseStepApplies } from './sparseLinear';

/** θ_g before the first batch has set it. */
const UNSET = -1;

/**
 * The learned global threshold θ_g, a scalar kept on the device (updating it never reads back).
 * It lives outside Params because the optimiser must not touch it.
 */
export class GlobalThreshold {
  private theta: tf.Variable<tf.Rank.R0> | null = null;

  /** (Re)create θ_g as unset; called from the variant's init. */
  reset(): void {
    this.dispose();
    this.theta = tf.tidy(() => tf.variable(tf.scalar(UNSET), false, undefined, 'float32')) as tf.Variable<tf.Rank.R0>;
  }

  /** θ_g as the variable itself (do not dispose); UNSET (−1) until the first update. */
  get value(): tf.Scalar {
    if (!this.theta) throw new Error('the BatchTopK threshold is used before init.');
    return this.theta;
  }

  /**
   * θ_g ← (1 − lr)·θ_g + lr·min{f > 0}, or min{f > 0} itself on the first batch; unchanged when
   * the batch kept nothing. f [B, d_sae] are the training latents (non-negative).
   */
  update(f: tf.Tensor2D, lr: number): void {
    const theta = this.value as tf.Variable<tf.Rank.R0>;
    tf.tidy(() => {
      // Zeros are pushed out of the way arithmetically (not with ±∞, which WebGL mishandles).
      const minPositive = tf.min(tf.add(f, tf.mul(tf.lessEqual(f, 0).toFloat(), 1e30)));
      const averaged = tf.add(tf.mul(theta, 1 - lr), tf.mul(minPositive, lr));
      const next = tf.where(tf.less(theta, 0), minPositive, averaged);
      theta.assign(tf.where(tf.less(minPositive, 1e29), next, theta) as tf.Scalar);
    });
  }

  /** Set θ_g: a value, or the first entry of a saved threshold tensor on the device (not read back). */
  set(theta: number | tf.Tensor): void {
    tf.tidy(() => (this.value as tf.Variable<tf.Rank.R0>).assign(
      typeof theta === 'number' ? tf.scalar(theta) : tf.reshape(tf.slice(tf.reshape(theta, [-1]), [0], [1]), []),
    ));
  }

  /** Inference: f = z · 1[z > max(θ_g, 0)], z [B, d_sae]. */
  apply(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.mul(z, isAbove(z, tf.relu(this.value))) as tf.Tensor2D);
  }

  /** max(θ_g, 0) filled to [d_sae]: SAELens's per-latent JumpReLU threshold. A new tensor. */
  filled(dSae: number): tf.Tensor1D {
    return tf.tidy(() => tf.add(tf.zeros([dSae]), tf.relu(this.value)) as tf.Tensor1D);
  }

  dispose(): void {
    this.theta?.dispose();
    this.theta = null;
  }
}

type BatchTopkLike = BatchTopKConfig | MatryoshkaConfig;

/**
 * The sparse step's plan of BatchTopK and Matryoshka (Variant.sparseStepPlan): z and the row counts
 * of the batch's k·B largest positive values, where the selection's width must be given (webgpu).
 */
export function batchTopkPlan(p: Params, x: tf.Tensor2D, k: number): SelectionPlan | null {
  if (!sparseStepApplies(p) || !batchTopkEntriesAvailable()) return null;
  const pre = sparsePreActivations(p, x);
  return { pre, counts: batchTopkCounts(pre, batchTotal(pre.shape[0], pre.shape[1], k)) };
}

/**
 * The BatchTopK selection of a sparse step (kSparseStep, matryoshkaSparseStep), with the planned
 * width where the backend needs it; null where it needs one and none was planned (the step stays
 * dense), or the step cannot run.
 */
export function batchTopkSelection(p: Params, k: number, ctx: StepContext): ((z: tf.Tensor2D) => Entries) | null {
  const planned = ctx.plannedSelection;
  if (!sparseStepApplies(p) || !batchTopkEntriesAvailable() || (selectionNeedsWidths() && !planned)) return null;
  return (z) => batchTopkEntries(z, batchTotal(z.shape[0], z.shape[1], k), planned?.widths[0]);
}

/**
 * Everything a BatchTopK-trained variant has besides its loss: the affine layout, θ_g and its
 * update, JumpReLU inference, unit-norm decoder rows, the SAELens "jumprelu" tensors.
 */
export function batchTopkBase<C extends BatchTopkLike>(cfg: C, threshold: GlobalThreshold): Omit<Variant<C>, 'architecture' | 'label' | 'loss' | 'saelensConfig'> {
  return {
    paramNames: ['W_enc', 'b_enc', 'W_dec', 'b_dec'],
    init(c, stats, rng) {
      threshold.reset();
      return initLinearSae(stats.dIn, c.d_sae, stats, rng);
    },
    encode: (p, x, live) => tf.tidy(() => applyInferenceThreshold(threshold.apply(preActivations(p, x)), live.threshold)),
    decode: linearDecode,
    constrain: normalizeDecoderRows,
    afterStep: (_p, parts) => threshold.update(parts.f, cfg.threshold_lr),
    exportTensors: (p) => ({ ...linearExport(p), threshold: threshold.filled(p.b_enc.shape[0]) }),
    // Exported as a JumpReLU: every entry of `threshold` holds θ_g.
    loadState: (tensors) => {
      const saved = tensors.threshold;
      if (saved instanceof tf.Tensor) threshold.set(saved);
      else if (saved?.data.length) threshold.set(saved.data[0]);
    },
    dispose: () => threshold.dispose(),
  };
}

/** A BatchTopK variant with its own θ_g; the registry calls this once per run. */
export function makeBatchTopkVariant(cfg: BatchTopKConfig): Variant<BatchTopKConfig> & { threshold: GlobalThreshold } {
  const threshold = new GlobalThreshold();
  return {
    ...batchTopkBase(cfg, threshold),
    architecture: batchtopkDeclaration.architecture,
    label: 'BatchTopK',
    threshold,
    saelensConfig: declaredSaeLensConfig(batchtopkDeclaration),
    loss(p, x, live, ctx): LossParts {
      const z = preActivations(p, x, ctx.inputNeedsGradient);
      const f = batchTopkRelu(z, live.k);
      const xHat = linearDecode(p, f);
      const recon = reconstructionLoss(x, xHat);
      const aux = auxKTerm(p, z, x, xHat, ctx, cfg.aux_k, cfg.aux_k_coefficient);
      return { total: tf.add(recon, aux), recon, sparsity: tf.scalar(0), aux, f, pre: z, xHat, diagnostics: { topk_threshold: tf.clone(threshold.value) } };
    },
    sparseStepPlan: (p, x, live) => batchTopkPlan(p, x, live.k),
    sparseStep(p, x, live, ctx) {
      const select = batchTopkSelection(p, live.k, ctx);
      if (!select) return null;
      const step = kSparseStep(p, x, ctx, select, cfg.aux_k, cfg.aux_k_coefficient);
      // θ_g is the minimum positive value kept, which the entries hold as f does.
      const { values } = step.parts.entries;
      return { ...step, parts: { ...step.parts, diagnostics: { topk_threshold: tf.clone(threshold.value) } }, afterStep: () => threshold.update(values, cfg.threshold_lr) };
    },
  };
}
