// ReLU SAE with an L1 penalty (Bricken et al. 2023; SAELens "standard"):
//   f = ReLU((x − b_dec) W_enc + b_enc),  x̂ = f W_dec + b_dec
//   loss = mean_b ||x − x̂||² + λ · mean_b Σ_i f_i ||W_dec,i||
import * as tf from '@tensorflow/tfjs';
import { declaredSaeLensConfig } from './declaration';
import { reluDeclaration, type ReluConfig } from './relu.decl';
import { reconstructionLoss, weightedL1 } from '../losses';
import { relu } from '../ops/relu';
import type { Variant } from './types';
import { batchTopkEntriesAvailable, positiveCounts, selectionNeedsWidths } from '../ops/sparse';
import { reluSparseStep, sparsePreActivations, sparseStepApplies } from './sparseLinear';
import { denseStepApplies, reluDenseStep } from './denseLinear';
import { applyInferenceThreshold, initLinearSae, linearDecode, linearExport, normalizeDecoderRows, preActivations, resampleLinear } from './linear';

/**
 * Above this fraction of active latents the dense step is faster than the sparse one on wasm
 * (measured at 768 / 24,576, batch 1,024: docs/benchmark.md, "Sparse steps").
 */
export const RELU_SPARSE_MAX_ACTIVE = 0.1;

export const reluVariant: Variant<ReluConfig> = {
  architecture: reluDeclaration.architecture,
  label: 'ReLU + L1',
  paramNames: ['W_enc', 'b_enc', 'W_dec', 'b_dec'],
  init: (cfg, stats, rng) => initLinearSae(stats.dIn, cfg.d_sae, stats, rng),
  encode: (p, x, live) => tf.tidy(() => applyInferenceThreshold(tf.relu(preActivations(p, x)), live.threshold)),
  decode: linearDecode,
  loss(p, x, live, ctx) {
    const z = preActivations(p, x, ctx.inputNeedsGradient);
    const f = relu(z);
    const xHat = linearDecode(p, f);
    const recon = reconstructionLoss(x, xHat);
    const sparsity = tf.mul(weightedL1(f, p.W_dec as tf.Tensor2D, { nonNegative: true }), live.lambda) as tf.Scalar;
    return { total: tf.add(recon, sparsity), recon, sparsity, aux: tf.scalar(0), f, pre: z, xHat };
  },
  // Where the selection's width must be given (webgpu): z and the positive counts of this batch,
  // which the trainer reads before the step.
  sparseStepPlan(p, x) {
    if (!sparseStepApplies(p) || !batchTopkEntriesAvailable()) return null;
    const pre = sparsePreActivations(p, x);
    return { pre, counts: positiveCounts(pre) };
  },
  // The sparse step once few latents fire: this batch's fraction of z > 0 where a plan counted it,
  // else the last step's (ctx.activeFraction: wasm, cpu). The first steps of a run, with about half
  // the latents active, stay dense.
  sparseStep(p, x, live, ctx) {
    const planned = ctx.plannedSelection;
    const fraction = planned ? planned.activeFraction : ctx.activeFraction;
    if (fraction === undefined || fraction > RELU_SPARSE_MAX_ACTIVE || (selectionNeedsWidths() && !planned)) return null;
    return sparseStepApplies(p) && batchTopkEntriesAvailable() ? reluSparseStep(p, x, live, planned) : null;
  },
  // The dense step with its backward written out (fused products on wasm), where no sparse step is.
  denseStep: (p, x, live) => (denseStepApplies() ? reluDenseStep(p, x, live) : null),
  constrain: normalizeDecoderRows,
  resampleDead: resampleLinear,
  exportTensors: linearExport,
  saelensConfig: declaredSaeLensConfig(reluDeclaration),
};
