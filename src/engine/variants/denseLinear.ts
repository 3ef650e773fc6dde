// The dense step of the ReLU SAE (relu.ts) with its backward pass written out, as the sparse steps
// of sparseLinear.ts are: for the batches where too many latents fire for those to win (a run's
// first steps, a low λ). Through autodiff the step makes [B, d_sae] passes besides its products: the
// ReLU, its backward, the L1 term's gradient (Step, Multiply), autodiff's sum of that with the
// decoder's ∂f, and the batch sums (a 64 / 2,048 / 1,024 step spent 7 of its 40 ms there). Here the ReLU is
// done as the encoder's product stores f, and ∂z = (g W_decᵀ + (λ/B) r) where f > 0 as the ∂f product
// stores it (ops/matmul.ts fusedProduct), with no copy of W_decᵀ; what is left are two column sums.
//
// Forward, for x [B, d_in]:
//   x_c = x − b_dec,  f = ReLU(x_c W_enc + b_enc),  x̂ = f W_dec + b_dec,
//   recon = mean_b ‖x̂ − x‖²,  sparsity = (λ/B) Σ_i c_i r_i  with c_i = Σ_b f_bi, r_i = ‖W_dec,i‖.
// Backward, with g = 2 (x̂ − x) / B:
//   ∂z = (g W_decᵀ + (λ/B) r) ⊙ [f > 0],  ∂W_enc = x_cᵀ ∂z,  ∂b_enc = Σ_b ∂z,
//   ∂W_dec = fᵀ g + (λ c_i / (B r_i)) W_dec,i,  ∂b_dec = Σ_b g − W_enc ∂b_enc.
// The same sums as autodiff through relu.ts's loss in another order, so the two agree to rounding:
// denseLinear.test.ts checks the loss parts, every gradient and 20 trained steps.
import * as tf from '@tensorflow/tfjs';
import type { LiveParams } from '../configBase';
import { fusedProduct, gradRight } from '../ops/matmul';
import { sumRows } from '../ops/reduce';
import { decoderBiasGradient, reconstructionTerms } from './sparseLinear';
import type { DenseStep, Params } from './types';

/**
 * Whether the written dense steps run on this backend: wasm, where the fused products make them
 * faster, and cpu, where they are the same tfjs ops with fewer passes. On webgl and webgpu the
 * loss's autodiff uses those backends' own fused kernels (ops/webgpu), so it stays.
 */
export function denseStepApplies(): boolean {
  const backend = tf.getBackend();
  return backend === 'wasm' || backend === 'cpu';
}

/** The ReLU + L1 loss of relu.ts and its gradients, by the formulas at the head of this file. */
export function reluDenseStep(p: Params, x: tf.Tensor2D, live: LiveParams): DenseStep {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>, wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const bEnc = p.b_enc as tf.Variable<tf.Rank.R1>, bDec = p.b_dec as tf.Variable<tf.Rank.R1>;
  const [B] = x.shape;
  const n = wEnc.shape[1];
  const xc = tf.sub(x, bDec) as tf.Tensor2D;
  const f = fusedProduct(xc, wEnc, { bias: bEnc, relu: true }); // [B, n]
  const xHat = fusedProduct(f, wDec, { bias: bDec });
  const { recon, g } = reconstructionTerms(x, xHat);
  const norms = tf.sqrt(tf.sum(tf.square(wDec), 1)) as tf.Tensor1D; // r [n]
  const columnSums = sumRows(f); // c [n]
  const sparsity = tf.mul(tf.div(tf.sum(tf.mul(columnSums, norms)), B), live.lambda) as tf.Scalar;
  const dZ = fusedProduct(g, wDec, { transposeRight: true, bias: tf.mul(norms, live.lambda / B) as tf.Tensor1D, maskPositive: f });
  const dBEnc = sumRows(dZ);
  const normPull = tf.reshape(tf.div(tf.mul(columnSums, live.lambda / B), norms), [n, 1]);
  const grads = {
    W_enc: gradRight(xc, dZ),
    b_enc: dBEnc,
    W_dec: tf.add(gradRight(f, g), tf.mul(wDec, normPull)),
    b_dec: decoderBiasGradient(wEnc, g, dBEnc),
  };
  return { parts: { total: tf.add(recon, sparsity) as tf.Scalar, recon, sparsity, aux: tf.scalar(0), f, xHat }, grads };
}
