// JumpReLU SAE (Rajamanoharan et al. 2024; SAELens "jumprelu"):
//   z = (x − b_dec) W_enc + b_enc,  f = z · H(z − θ),  x̂ = f W_dec + b_dec
//   loss = mean_b ||x − x̂||² + λ · mean_b Σ_i H(z_i − θ_i)
// Both H's use straight-through estimators with a rectangle kernel of width ε = bandwidth.
// θ is a parameter in its own right (clamped > 0), not exp(log θ): Adam moves a log-threshold by
// about lr per step, so from a small start it cannot reach the data's scale (docs/variants.md).
import * as tf from '@tensorflow/tfjs';
import { declaredSaeLensConfig } from './declaration';
import { jumpreluDeclaration, type JumpReluConfig } from './jumprelu.decl';
import { reconstructionLoss } from '../losses';
import { heavisideMeanL0 } from '../ops/heaviside';
import { jumpRelu } from '../ops/jumprelu';
import type { Variant } from './types';
import { initLinearSae, linearDecode, linearExport, normalizeDecoderRows, preActivations } from './linear';
import { isAbove } from '../ops/compare';
import { selectionNeedsWidths, thresholdCounts, thresholdEntriesAvailable } from '../ops/sparse';
import { jumpreluSparseStep, sparsePreActivations, sparseStepApplies } from './sparseLinear';

/**
 * Above this fraction of active latents the dense step is faster than the sparse one on wasm
 * (measured at 768 / 24,576, batch 1,024: docs/benchmark.md, "Sparse steps").
 */
export const JUMPRELU_SPARSE_MAX_ACTIVE = 0.2;

/** θ never drops below this, so that f = z·H(z − θ) stays a JumpReLU and not a linear unit. */
export const MIN_THRESHOLD = 1e-6;

export const jumpreluVariant: Variant<JumpReluConfig> = {
  architecture: jumpreluDeclaration.architecture,
  label: 'JumpReLU',
  learnsThreshold: true,
  paramNames: ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold'],
  init(cfg, stats, rng) {
    const p = initLinearSae(stats.dIn, cfg.d_sae, stats, rng);
    p.threshold = tf.tidy(() => tf.variable(tf.fill([cfg.d_sae], cfg.init_threshold), true)); // [d_sae]
    return p;
  },
  encode: (p, x) => tf.tidy(() => {
    const z = preActivations(p, x);
    return tf.mul(z, isAbove(z, p.threshold)) as tf.Tensor2D;
  }),
  decode: linearDecode,
  loss(p, x, live, ctx) {
    const z = preActivations(p, x, ctx.inputNeedsGradient);
    const theta = p.threshold as tf.Tensor1D;
    const f = jumpRelu(z, theta, live.bandwidth);
    const xHat = linearDecode(p, f);
    const recon = reconstructionLoss(x, xHat);
    const l0 = heavisideMeanL0(z, theta, live.bandwidth);
    const sparsity = tf.mul(l0, live.lambda) as tf.Scalar;
    return { total: tf.add(recon, sparsity), recon, sparsity, aux: tf.scalar(0), f, pre: z, xHat };
  },
  // Where the selection's widths must be given (webgpu): z and the active and window counts of
  // this batch, which the trainer reads before the step.
  sparseStepPlan(p, x, live) {
    if (!sparseStepApplies(p) || !thresholdEntriesAvailable()) return null;
    const pre = sparsePreActivations(p, x);
    return { pre, counts: thresholdCounts(pre, p.threshold as tf.Tensor1D, live.bandwidth) };
  },
  // The sparse step while few latents fire: this batch's fraction where a plan counted it, else the
  // last step's (ctx.activeFraction: wasm, cpu); dense otherwise, and at the first step on wasm,
  // whose fraction is not known yet.
  sparseStep(p, x, live, ctx) {
    const planned = ctx.plannedSelection;
    const fraction = planned ? planned.activeFraction : ctx.activeFraction;
    if (fraction === undefined || fraction > JUMPRELU_SPARSE_MAX_ACTIVE || (selectionNeedsWidths() && !planned)) return null;
    return sparseStepApplies(p) && thresholdEntriesAvailable() ? jumpreluSparseStep(p, x, live, planned) : null;
  },
  constrain(p) {
    normalizeDecoderRows(p);
    tf.tidy(() => p.threshold.assign(tf.maximum(p.threshold, MIN_THRESHOLD)));
  },
  applyLive(p, prev, next) {
    // The threshold slider sets every latent's θ; learning continues from there.
    if (next.threshold !== prev.threshold) {
      tf.tidy(() => p.threshold.assign(tf.fill(p.threshold.shape, Math.max(next.threshold, MIN_THRESHOLD))));
    }
  },
  exportTensors: (p) => ({ ...linearExport(p), threshold: p.threshold }),
  saelensConfig: declaredSaeLensConfig(jumpreluDeclaration),
};
