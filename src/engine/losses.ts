// Loss terms shared by the variants. Every function takes and returns tensors, never reads back.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './ops/customOp';
import { weightedAbsSum } from './ops/reduce';
import { matMul } from './ops/matmul';
import { constant, stopGradient } from './ops/stopGradient';
import { isAtLeast, isPositive } from './ops/compare';
import type { Params, StepContext } from './variants/types';

/**
 * Mean over the batch of ||x − x̂||² (summed over d_in): x, xHat [B, d_in] → scalar. Its gradient is
 * written out, ∂x̂ = 2 (x̂ − x) dy / B = −∂x: autodiff through the mean and the row sums broadcasts
 * a [B, 1] column over [B, d_in], which tfjs-wasm does without SIMD (1.2 ms of a 64 / 2048 / 1024 step).
 */
export function reconstructionLoss(x: tf.Tensor2D, xHat: tf.Tensor2D): tf.Scalar {
  const op = tf.customGrad(((xIn: tf.Tensor2D, xHatIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const diff = tf.sub(xHatIn, xIn) as tf.Tensor2D;
    save([diff]);
    return {
      value: tf.mean(tf.sum(tf.square(diff), 1)) as tf.Scalar,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const g = tf.mul(saved[0], tf.mul(dy, 2 / xIn.shape[0]));
        return [tf.neg(g), g];
      },
    };
  }) as unknown as CustomGradientFunc<tf.Scalar>);
  return op(x, xHat) as tf.Scalar;
}

/**
 * Decoder-norm-weighted L1: mean over the batch of Σ_i f_i · ||W_dec,i||. With unit-norm decoder
 * rows this is the plain L1; weighting by the norm stops the optimiser from shrinking f while
 * growing W_dec between constraint steps. f [B, d_sae], W_dec [d_sae, d_in] → scalar.
 * `nonNegative`: the caller guarantees f ≥ 0 (ReLU outputs), which saves work (ops/reduce.ts).
 */
export function weightedL1(f: tf.Tensor2D, wDec: tf.Tensor2D, { nonNegative = false } = {}): tf.Scalar {
  return tf.tidy(() => {
    // √Σ w² rather than tf.norm, whose Pow (forward and backward) tfjs-wasm runs far slower than Square.
    const rowNorms = tf.sqrt(tf.sum(tf.square(wDec), 1)); // [d_sae]
    // (1/B) Σ_i ||W_dec,i|| Σ_b |f_bi| with its gradient written out (ops/reduce.ts): no [B, d_sae]
    // product and no outer-axis reduction in the backward pass.
    return weightedAbsSum(f, rowNorms as tf.Tensor1D, nonNegative);
  });
}

/**
 * AuxK (Gao et al. 2024, as in SAELens): reconstruct the main model's residual e = x − x̂ (no
 * gradient through it) with the top `kAux` positive pre-activations among dead latents, decoded
 * without b_dec. Loss = mean_b ||e − ê||², scaled by min(n_dead / kAux, 1) so that a handful of dead
 * latents does not dominate; 0 when no latent is dead. Everything stays on the device (no readback).
 * z [B, d_sae] pre-activations; deadMask [d_sae] (1 = dead); residual [B, d_in]; W_dec [d_sae, d_in].
 */
export function auxKLoss(z: tf.Tensor2D, deadMask: tf.Tensor1D, residual: tf.Tensor2D, wDec: tf.Tensor2D, kAux: number): tf.Scalar {
  return tf.tidy(() => {
    const k = Math.min(kAux, z.shape[1]);
    // Which entries AuxK uses: each row's top k positive pre-activations among dead latents. A
    // constant of the backward pass (comparisons have no gradient).
    const keep = constant((zz, dead) => {
      // Live latents get −1e30 (not −∞, which WebGL textures mishandle) so top-k picks dead ones.
      // Arithmetic rather than tf.where, whose [d_sae] condition is tiled to [B, d_sae] (slow).
      const deadOnly = tf.add(tf.mul(zz, dead), tf.mul(tf.sub(dead, 1), 1e30));
      const kth = tf.min(tf.topk(deadOnly, k, false).values, 1, true); // [B, 1]
      return tf.mul(tf.mul(isAtLeast(deadOnly, kth), dead), isPositive(zz)); // ops/compare.ts: fast on wasm
    }, z, deadMask);
    const auxRecon = matMul(tf.mul(z, keep) as tf.Tensor2D, wDec);
    const err = tf.mean(tf.sum(tf.squaredDifference(auxRecon, stopGradient(residual)), 1));
    const scale = tf.minimum(tf.div(tf.sum(deadMask), kAux), 1);
    return tf.mul(err, scale) as tf.Scalar;
  });
}

/**
 * α · AuxK on the residual of the reconstruction x̂, for the TopK family: 0 when α = 0 or when the
 * trainer knows that no latent is dead (then AuxK is exactly 0 and its products are skipped).
 */
export function auxKTerm(p: Params, z: tf.Tensor2D, x: tf.Tensor2D, xHat: tf.Tensor2D, ctx: StepContext, auxK: number, coefficient: number): tf.Scalar {
  if (coefficient <= 0 || ctx.knownNoneDead?.()) return tf.scalar(0);
  return tf.tidy(() => tf.mul(auxKLoss(z, ctx.deadMask, tf.sub(x, xHat) as tf.Tensor2D, p.W_dec as tf.Tensor2D, auxK), coefficient) as tf.Scalar);
}
