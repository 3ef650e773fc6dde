// Sparsity penalties of the classic sparse autoencoder (`classic`, docs/variants.md) on latents
// z [B, d_sae] (ReLU outputs, so z ≥ 0). Each returns the scalar to minimise; the caller
// multiplies it by λ.
// All three stay on the device (no readback) and have finite gradients everywhere, including on
// all-zero rows and dead latents.
import * as tf from '@tensorflow/tfjs';

/**
 * ρ̂ is clamped into [KL_EPS, 1 − KL_EPS] before the logs: ReLU latents are not probabilities, so a
 * dead latent has ρ̂ = 0 (log ρ/ρ̂ = ∞) and a latent firing with mean ≥ 1 has 1 − ρ̂ ≤ 0 (log of a
 * non-positive number = NaN). The clamp keeps the value finite; its price is that outside the range
 * the gradient w.r.t. ρ̂ is zero, so the KL term neither revives a dead latent nor pulls down a
 * latent whose batch mean is ≥ 1 (there the penalty is flat at its maximum, ≈ (1 − ρ)·ln(1/KL_EPS)).
 * 1e-6, not a smaller ε such as 1e-10, because 1 − 1e-10 rounds to 1 in float32.
 */
export const KL_EPS = 1e-6;

/**
 * Guard of ||z||₂ in the Hoyer measure: ||z||₂ is taken as √max(Σz², ε²), i.e. max(||z||₂, ε),
 * written so that the gradient of the square root is finite (1/2ε) on an all-zero row, where
 * tf.norm's gradient would be 0/0 = NaN.
 */
export const HOYER_EPS = 1e-6;

/** L1: mean |z| over all B·d_sae entries (PyTorch's `torch.mean(torch.abs(z))`). */
export function l1Penalty(z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.abs(z)) as tf.Scalar);
}

/**
 * KL(ρ ‖ ρ̂) summed over latents (Andrew Ng's sparse-autoencoder notes):
 *   ρ̂_j = clamp(mean_b z_bj, KL_EPS, 1 − KL_EPS)
 *   penalty = Σ_j [ρ log(ρ/ρ̂_j) + (1 − ρ) log((1 − ρ)/(1 − ρ̂_j))]
 * It is applied to the ReLU latents directly — no sigmoid squashing before ρ̂ — and summed over
 * latents as Ng does (the usual definition; a mean would shrink λ's effect
 * by 1/d_sae). Minimised (= 0) when every latent's mean activation is ρ.
 */
export function klPenalty(z: tf.Tensor2D, rho: number): tf.Scalar {
  return tf.tidy(() => {
    const rhoHat = tf.clipByValue(tf.mean(z, 0), KL_EPS, 1 - KL_EPS); // [d_sae]
    const a = tf.mul(tf.sub(Math.log(rho), tf.log(rhoHat)), rho);
    const b = tf.mul(tf.sub(Math.log(1 - rho), tf.log(tf.sub(1, rhoHat))), 1 - rho);
    return tf.sum(tf.add(a, b)) as tf.Scalar;
  });
}

/**
 * Hoyer's sparseness of each row [B]: (√n − ||z||₁/||z||₂)/(√n − 1), n = d_sae; 1 for a row with a
 * single nonzero, 0 for a row whose entries are all equal and nonzero. ||z||₁/||z||₂ ≥ 1 for any
 * nonzero row; it is clamped to ≥ 1 so that an all-zero row (0/ε = 0) scores 1 (as sparse as it
 * gets) instead of √n/(√n − 1) > 1, which would reward killing every latent.
 */
export function hoyerSparseness(z: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sub(1, hoyerDensity(z)) as tf.Tensor1D);
}

/**
 * Hoyer penalty: mean over rows of 1 − hoyer = (||z||₁/||z||₂ − 1)/(√n − 1), in [0, 1].
 * The Hoyer term is meant to encourage sparsity, and Hoyer's measure grows with sparsity, so
 * the quantity to minimise is 1 − hoyer (or −hoyer: the same gradient). 1 − hoyer is the one that
 * reads as a loss: ≥ 0, 0 at maximal sparsity, so λ·penalty in the charts is comparable with the
 * other penalties and the total loss stays ≥ 0. d_sae = 1 has no sparseness to speak of: 0.
 */
export function hoyerPenalty(z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(hoyerDensity(z)) as tf.Scalar);
}

/** 1 − hoyer per row [B]. */
function hoyerDensity(z: tf.Tensor2D): tf.Tensor1D {
  const n = z.shape[1];
  if (n < 2) return tf.zeros([z.shape[0]]);
  const l1 = tf.sum(tf.abs(z), 1); // [B]
  const l2 = tf.sqrt(tf.maximum(tf.sum(tf.square(z), 1), HOYER_EPS * HOYER_EPS)); // [B]
  const ratio = tf.maximum(tf.div(l1, l2), 1);
  return tf.div(tf.sub(ratio, 1), Math.sqrt(n) - 1) as tf.Tensor1D;
}
