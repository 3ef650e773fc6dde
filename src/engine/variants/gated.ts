// Gated SAE (Rajamanoharan et al. 2024, "Improving dictionary learning with gated sparse
// autoencoders"; SAELens "gated"). Whether a latent fires and how strongly are separate paths that
// share W_enc, so the L1 penalty shrinks only the gate, not the magnitudes:
//   h = (x − b_dec) W_enc
//   π_gate = h + b_gate,  π_mag = exp(r_mag) ⊙ h + b_mag
//   f = 1[π_gate > 0] ⊙ ReLU(π_mag),  x̂ = f W_dec + b_dec
//   loss = mean_b ||x − x̂||²                                         (recon)
//        + λ · mean_b Σ_i ReLU(π_gate)_i · ||W_dec,i||                 (sparsity)
//        + mean_b ||x − (ReLU(π_gate) sg(W_dec) + sg(b_dec))||²        (aux)
// 1[π_gate > 0] passes no gradient, so the gate learns only from sparsity + aux. The aux decoder is
// a stop-gradient (sg) copy; as in the paper and SAELens, b_dec still enters π_gate through the
// centring x − b_dec and gets that path's gradient.
import * as tf from '@tensorflow/tfjs';
import { declaredSaeLensConfig } from './declaration';
import { gatedDeclaration, type GatedConfig } from './gated.decl';
import { reconstructionLoss, weightedL1 } from '../losses';
import { maskedRelu } from '../ops/maskedRelu';
import { matMulDataRight } from '../ops/matmul';
import { addRowVector, mulRowVector } from '../ops/reduce';
import { stopGradient } from '../ops/stopGradient';
import type { Params, Variant } from './types';
import { applyInferenceThreshold, centredEncode, initLinearSae, linearDecode, normalizeDecoderRows, resampleLinear } from './linear';
import { isPositive } from '../ops/compare';
import { batchTopkEntriesAvailable } from '../ops/sparse';
import { gatedSparseStep, sparseStepApplies } from './sparseLinear';

/**
 * Above this fraction of open gates the dense step is taken: measured at 768 / 24,576, batch 1,024
 * (`npm run bench:sparse`, docs/benchmark.md "Sparse steps"), the sparse step takes 0.68 of the
 * dense step's time at 10 % and 1.11 at 20 %.
 */
export const GATED_SPARSE_MAX_ACTIVE = 0.1;

/** π_gate [B, d_sae] and f [B, d_sae] of a batch x [B, d_in]. */
export function gatedForward(p: Params, x: tf.Tensor2D): { piGate: tf.Tensor2D; f: tf.Tensor2D } {
  const h = centredEncode(x, p.W_enc as tf.Tensor2D, p.b_dec as tf.Tensor1D);
  // Row-vector ops with their batch sums as matmuls (ops/reduce.ts), not tfjs's broadcast gradients.
  const piGate = addRowVector(h, p.b_gate as tf.Tensor1D);
  const piMag = addRowVector(mulRowVector(h, tf.exp(p.r_mag) as tf.Tensor1D), p.b_mag as tf.Tensor1D);
  const f = maskedRelu(piMag, (_z, gate) => isPositive(gate), piGate);
  return { piGate, f };
}

export const gatedVariant: Variant<GatedConfig> = {
  architecture: gatedDeclaration.architecture,
  label: 'Gated',
  paramNames: ['W_enc', 'b_gate', 'r_mag', 'b_mag', 'W_dec', 'b_dec'],
  init(cfg, stats, rng) {
    const { W_enc, b_enc, W_dec, b_dec } = initLinearSae(stats.dIn, cfg.d_sae, stats, rng);
    b_enc.dispose(); // the gated layout has b_gate and b_mag instead
    return tf.tidy(() => ({
      W_enc,
      b_gate: tf.variable(tf.zeros([cfg.d_sae]), true), // [d_sae]
      r_mag: tf.variable(tf.zeros([cfg.d_sae]), true), // [d_sae]; exp(0) = 1: magnitudes start as the gate
      b_mag: tf.variable(tf.zeros([cfg.d_sae]), true), // [d_sae]
      W_dec,
      b_dec,
    }));
  },
  encode: (p, x, live) => tf.tidy(() => applyInferenceThreshold(gatedForward(p, x).f, live.threshold)),
  decode: linearDecode,
  loss(p, x, live) {
    const { piGate, f } = gatedForward(p, x);
    const xHat = linearDecode(p, f);
    const recon = reconstructionLoss(x, xHat);
    const gateAct = tf.relu(piGate);
    const sparsity = tf.mul(weightedL1(gateAct, p.W_dec as tf.Tensor2D, { nonNegative: true }), live.lambda) as tf.Scalar;
    // W_dec and b_dec get no gradient from this term (Rajamanoharan et al. 2024): a product with
    // no weight gradient rather than a stop-gradient copy, so the backward skips that matmul.
    const viaGate = tf.add(matMulDataRight(gateAct, p.W_dec as tf.Tensor2D), stopGradient(p.b_dec)) as tf.Tensor2D;
    const aux = reconstructionLoss(x, viaGate);
    return { total: tf.add(tf.add(recon, sparsity), aux), recon, sparsity, aux, f, pre: piGate, xHat };
  },
  // The sparse step once few latents fire (the last step's fraction of f > 0; the step's entries are
  // the open gates, which also include those with π_mag ≤ 0, so a few more than that fraction).
  sparseStep: (p, x, live, ctx) => (ctx.activeFraction !== undefined && ctx.activeFraction <= GATED_SPARSE_MAX_ACTIVE && sparseStepApplies(p) && batchTopkEntriesAvailable() ? gatedSparseStep(p, x, live) : null),
  constrain: normalizeDecoderRows,
  async resampleDead(p, latents, directions) {
    if (latents.length === 0) return;
    // The linear resampling, with b_gate in the role of b_enc; the magnitude path restarts as the gate.
    await resampleLinear({ ...p, b_enc: p.b_gate }, latents, directions);
    for (const name of ['r_mag', 'b_mag']) {
      const v = ((await p[name].data()) as Float32Array).slice();
      for (const i of latents) v[i] = 0;
      tf.tidy(() => p[name].assign(tf.tensor1d(v)));
    }
  },
  exportTensors: (p) => ({ W_enc: p.W_enc, b_gate: p.b_gate, r_mag: p.r_mag, b_mag: p.b_mag, W_dec: p.W_dec, b_dec: p.b_dec }),
  saelensConfig: declaredSaeLensConfig(gatedDeclaration),
};
