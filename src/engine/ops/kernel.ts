// The rectangle kernel K(u) = 1[−½ < u < ½] evaluated at u = (z − θ)/ε, shared by the JumpReLU and
// Heaviside straight-through estimators (Rajamanoharan et al. 2024, "Jumping Ahead").
import * as tf from '@tensorflow/tfjs';
import { isWithin } from './compare';

/** K((z − θ)/ε) as 0/1 floats [B, d_sae]; z [B, d_sae], θ [d_sae]. */
export function rectangleKernel(z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number): tf.Tensor2D {
  return tf.tidy(() => {
    const u = tf.div(tf.sub(z, theta), bandwidth);
    return isWithin(u, 0.5) as tf.Tensor2D; // −½ < u < ½, without tfjs-wasm's slow comparisons
  });
}
