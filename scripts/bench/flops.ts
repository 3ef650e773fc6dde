// Floating-point work of one training step, counted over its dense matrix products only (the
// elementwise work, Adam and the constraint are O(d_in·d_sae + B·d_sae) and left out). One product
// of a [B, d_in] and a [d_in, d_sae] matrix (or any arrangement of the same three sizes) costs
// 2·B·d_in·d_sae FLOPs (a multiply and an add per term). Per variant, the products of a step are:
//
//   relu, jumprelu   forward: encoder x̃ W_enc, decoder f W_dec                                   2
//                    backward: ∂W_dec = fᵀ ∂x̂, ∂f = ∂x̂ W_decᵀ, ∂W_enc = x̃ᵀ ∂z, ∂x̃ = ∂z W_encᵀ    4
//                    = 6 products → 12·B·d_in·d_sae  (the usual "6 × parameters × tokens", with
//                      2·d_in·d_sae parameters)
//   topk, batchtopk  + AuxK (aux_k_coefficient > 0 by default; computed whether or not a latent is
//                    dead): forward (z ⊙ keep) W_dec, backward ∂W_dec and ∂z                      +3
//                    = 9 products → 18·B·d_in·d_sae
//   gated            the relu six + the aux decoder ReLU(π_gate) sg(W_dec) forward, and its ∂π_gate
//                    (no ∂W_dec: the decoder is a stop-gradient there)                             +2
//                    = 8 products → 16·B·d_in·d_sae
//
// The ∂x̃ product (for b_dec's gradient through the centring) is counted although it can be done as
// a matrix-vector product (the NumPy reference does so): these are "model FLOPs", the same count
// for every implementation, so GFLOP/s compare like with like.
import type { Architecture } from '../../src/engine/config';

export const PRODUCTS_PER_STEP: Partial<Record<Architecture, number>> = {
  relu: 6,
  jumprelu: 6,
  topk: 9,
  batchtopk: 9,
  gated: 8,
};

/** FLOPs of the matrix products of one training step. */
export function flopsPerStep(architecture: Architecture, dIn: number, dSae: number, batch: number): number {
  const products = PRODUCTS_PER_STEP[architecture];
  if (products === undefined) throw new Error(`no FLOP count for ${architecture}`);
  return products * 2 * batch * dIn * dSae;
}

/** The formula in words, for the printed table. */
export const FLOPS_FORMULA = 'FLOPs/step = P · 2·B·d_in·d_sae over the dense matrix products (P = 6 relu/jumprelu, 9 topk/batchtopk with AuxK, 8 gated)';
