// The TopK step of the linear SAE (linear.ts) with the sparse products of ops/sparse.ts, its
// backward pass written out. A dense step multiplies [B, d_sae] matrices that are zero but for k
// entries a row; here only the encoder's product is dense, and the decoder forward, ∂W_dec, ∂f and
// ∂W_enc touch k (+ k_aux) latents per row. The arithmetic is that of tfjs's autodiff through
// topk.ts's loss (the same sums in another order), so the two steps agree to rounding — which
// sparseLinear.test.ts checks on losses, every gradient and the parameters after 20 steps.
//
// Forward, for x [B, d_in]:
//   x_c = x − b_dec,  z = x_c W_enc + b_enc,  f = ReLU(TopK_k(z)) as entries,  x̂ = f W_dec + b_dec
//   recon = mean_b ‖x̂ − x‖²;  AuxK (losses.ts auxKLoss) on the top k_aux positive z among dead latents.
// Backward, with g = ∂recon/∂x̂ = 2 (x̂ − x) / B and g_a likewise for AuxK's reconstruction:
//   ∂f = g W_decᵀ at the entries (∂z = ∂f where f > 0),  ∂W_dec = fᵀ g (+ f_aᵀ g_a),
//   ∂W_enc = x_cᵀ ∂z,  ∂b_enc = Σ_b ∂z,  ∂b_dec = Σ_b g − W_enc ∂b_enc.
import * as tf from '@tensorflow/tfjs';
import type { LiveParams } from '../configBase';
import { productPlusBias } from '../ops/matmul';
import { addRowVector, subRowVector } from '../ops/reduce';
import { sparseDecode, sparseKernelsAvailable, sparseOuterCols, sparseOuterRows, sparseRowDots, thresholdEntries, topkEntries, type Entries } from '../ops/sparse';
import type { Params, SparseStep, StepContext } from './types';

/**
 * Whether the sparse products can run this step: the backend has them and the widths suit the
 * kernels (rows of whole SIMD vectors).
 */
export function sparseStepApplies(p: Params): boolean {
  const [dIn, dSae] = (p.W_enc as tf.Variable<tf.Rank.R2>).shape;
  return sparseKernelsAvailable() && dIn % 4 === 0 && dSae % 4 === 0;
}

/** Column sums Σ_b S[b, ·] [n] of the sparse S the entries hold. */
export function entryColumnSums(e: Entries, n: number): tf.Tensor1D {
  return tf.tidy(() => {
    // Sᵀ · 1 with a 4-wide ones block: the kernels work on whole SIMD vectors.
    const ones = tf.ones([e.indices.shape[0], 4]) as tf.Tensor2D;
    return tf.reshape(tf.slice(sparseOuterRows(e, ones, n), [0, 0], [n, 1]), [n]) as tf.Tensor1D;
  });
}

/**
 * The gradients shared by the linear SAEs' sparse steps, given the centred input x_c, the
 * ∂recon/∂x̂ (plus any other gradient of x̂) g, the entries f that decode to x̂ and ∂z at the
 * entries that carry one: ∂W_enc = x_cᵀ ∂z, ∂b_enc = Σ_b ∂z, ∂b_dec = Σ_b g − W_enc ∂b_enc.
 */
function encoderGrads(p: Params, xc: tf.Tensor2D, g: tf.Tensor2D, dZ: Entries): { W_enc: tf.Tensor; b_enc: tf.Tensor; b_dec: tf.Tensor } {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>;
  const n = wEnc.shape[1];
  const dBEnc = entryColumnSums(dZ, n);
  return {
    W_enc: sparseOuterCols(dZ, xc, n),
    b_enc: dBEnc,
    b_dec: tf.sub(tf.sum(g, 0), tf.reshape(tf.matMul(wEnc, tf.reshape(dBEnc, [n, 1])), [-1])),
  };
}

/** The TopK loss of topk.ts (recon + α · AuxK) and its gradients, with sparse products. */
export function topkSparseStep(p: Params, x: tf.Tensor2D, live: LiveParams, ctx: StepContext, auxK: number, auxKCoefficient: number): SparseStep {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>, wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const bEnc = p.b_enc as tf.Variable<tf.Rank.R1>, bDec = p.b_dec as tf.Variable<tf.Rank.R1>;
  const [B] = x.shape;
  const n = wEnc.shape[1];
  const xc = subRowVector(x, bDec);
  const z = productPlusBias(xc, wEnc, bEnc); // [B, n]
  const entries = topkEntries(z, live.k);
  const xHat = addRowVector(sparseDecode(entries, wDec), bDec);
  const diff = tf.sub(xHat, x) as tf.Tensor2D;
  const recon = tf.mean(tf.sum(tf.square(diff), 1)) as tf.Scalar;
  const g = tf.mul(diff, 2 / B) as tf.Tensor2D;
  const dF = tf.mul(sparseRowDots(entries.indices, g, wDec), tf.step(entries.values)) as tf.Tensor2D;
  let dWDec = sparseOuterRows(entries, g, n) as tf.Tensor;
  let dZ: Entries = { indices: entries.indices, values: dF };
  let aux = tf.scalar(0);
  if (auxKCoefficient > 0 && !ctx.knownNoneDead?.()) {
    const kAux = Math.min(auxK, n);
    const auxEntries = topkEntries(z, kAux, ctx.deadMask);
    const residual = tf.neg(diff); // x − x̂, a constant of the backward pass
    const auxDiff = tf.sub(sparseDecode(auxEntries, wDec), residual) as tf.Tensor2D;
    const scale = tf.minimum(tf.div(tf.sum(ctx.deadMask), auxK), 1);
    aux = tf.mul(tf.mul(tf.mean(tf.sum(tf.square(auxDiff), 1)), scale), auxKCoefficient) as tf.Scalar;
    const gAux = tf.mul(auxDiff, tf.mul(scale, (2 * auxKCoefficient) / B)) as tf.Tensor2D;
    const dFAux = tf.mul(sparseRowDots(auxEntries.indices, gAux, wDec), tf.step(auxEntries.values));
    dWDec = tf.add(dWDec, sparseOuterRows(auxEntries, gAux, n));
    dZ = { indices: tf.concat([entries.indices, auxEntries.indices], 1) as tf.Tensor2D, values: tf.concat([dF, dFAux], 1) as tf.Tensor2D };
  }
  return {
    parts: { total: tf.add(recon, aux) as tf.Scalar, recon, sparsity: tf.scalar(0), aux, xHat, entries },
    grads: { ...encoderGrads(p, xc, g, dZ), W_dec: dWDec },
  };
}

/**
 * The JumpReLU loss of jumprelu.ts (recon + λ · L0, straight-through estimators with a rectangle
 * kernel of width ε) and its gradients, with sparse products over the active latents (z > θ) and,
 * for ∂θ, the latents in the kernel's window:
 *   ∂f = g W_decᵀ at both sets;  ∂z = ∂f on the active set;
 *   ∂θ_j = −(θ_j/ε) Σ_{b in window} ∂f_bj − (λ/(ε B)) · #window_j.
 */
export function jumpreluSparseStep(p: Params, x: tf.Tensor2D, live: LiveParams): SparseStep {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>, wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const bEnc = p.b_enc as tf.Variable<tf.Rank.R1>, bDec = p.b_dec as tf.Variable<tf.Rank.R1>;
  const theta = p.threshold as tf.Variable<tf.Rank.R1>;
  const [B] = x.shape;
  const n = wEnc.shape[1];
  const eps = live.bandwidth;
  const xc = subRowVector(x, bDec);
  const z = productPlusBias(xc, wEnc, bEnc); // [B, n]
  const { active, window } = thresholdEntries(z, theta, eps);
  const xHat = addRowVector(sparseDecode(active, wDec), bDec);
  const diff = tf.sub(xHat, x) as tf.Tensor2D;
  const recon = tf.mean(tf.sum(tf.square(diff), 1)) as tf.Scalar;
  const sparsity = tf.mul(tf.div(tf.sum(tf.step(active.values)), B), live.lambda) as tf.Scalar;
  const g = tf.mul(diff, 2 / B) as tf.Tensor2D;
  // Active values are z > θ > 0, so step(value) is 1 on entries and 0 on padding.
  const dF = tf.mul(sparseRowDots(active.indices, g, wDec), tf.step(active.values)) as tf.Tensor2D;
  const dFWindow = tf.mul(sparseRowDots(window.indices, g, wDec), window.values) as tf.Tensor2D;
  const reconTheta = tf.mul(entryColumnSums({ indices: window.indices, values: dFWindow }, n), tf.div(tf.neg(theta), eps));
  const l0Theta = tf.mul(tf.mul(entryColumnSums(window, n), -1 / (eps * B)), live.lambda);
  return {
    parts: { total: tf.add(recon, sparsity) as tf.Scalar, recon, sparsity, aux: tf.scalar(0), xHat, entries: active },
    grads: { ...encoderGrads(p, xc, g, { indices: active.indices, values: dF }), W_dec: sparseOuterRows(active, g, n), threshold: tf.add(reconTheta, l0Theta) },
  };
}
