// Sparse crosscoder (Lindsey et al. 2024, Anthropic "Sparse crosscoders"; docs/variants.md): per-layer
// encoders and decoders around one shared latent space.
//   z = Σ_l (x_l − b_dec,l) W_enc,l + b_enc,   f = ReLU(z),   x̂_l = f W_dec,l + b_dec,l
//   loss = mean_b Σ_l ||x_l − x̂_l||² + λ · mean_b Σ_i f_i · Σ_l ||W_dec,l,i||
// The parameters are stored in their export shapes (W_enc [L, d_in, d_sae], W_dec [d_sae, L, d_in],
// b_dec [L, d_in], as in the open crosscoder implementations), so export and reload are copies.
// Since rows are layer-major, reshaping W_enc to [L·d_in, d_sae] turns Σ_l x_l W_enc,l into ONE
// matmul, and W_dec to [d_sae, L·d_in] decodes every layer in one matmul (reshapes are free).
// No decoder constraint: the penalty weights each latent by its summed decoder norms, so shrinking
// f while growing W_dec gains nothing (Anthropic's choice for crosscoders).
import * as tf from '@tensorflow/tfjs';
import { crosscoderDeclaration, type CrosscoderConfig } from './crosscoder.decl';
import { declaredSaeLensConfig } from './declaration';
import { reconstructionLoss } from '../losses';
import { matMul } from '../ops/matmul';
import type { Rng } from '../rng';
import type { DataStats, Params, Variant } from './types';
import { applyInferenceThreshold, resampleLinear } from './linear';

/** L, d_in, d_sae from the parameter shapes. */
function dims(p: Params): { L: number; dIn: number; dSae: number } {
  const [L, dIn, dSae] = p.W_enc.shape;
  return { L, dIn, dSae };
}

/** z = (x − b_dec) W_enc + b_enc with the layers flattened: x [B, L·d_in] → [B, d_sae]. */
function crossPreActivations(p: Params, x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const { L, dIn, dSae } = dims(p);
    const wEnc = tf.reshape(p.W_enc, [L * dIn, dSae]) as tf.Tensor2D;
    return tf.add(matMul(tf.sub(x, tf.reshape(p.b_dec, [L * dIn])) as tf.Tensor2D, wEnc), p.b_enc) as tf.Tensor2D;
  });
}

/** x̂ = f W_dec + b_dec for every layer at once: f [B, d_sae] → [B, L·d_in]. */
function crossDecode(p: Params, f: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const { L, dIn, dSae } = dims(p);
    const wDec = tf.reshape(p.W_dec, [dSae, L * dIn]) as tf.Tensor2D;
    return tf.add(matMul(f, wDec), tf.reshape(p.b_dec, [L * dIn])) as tf.Tensor2D;
  });
}

/**
 * ||W_dec,l,i||₂ per latent and layer [d_sae, L]. The 1e-12 under the root keeps the gradient
 * finite for an all-zero block (tf.norm's is NaN there); it is below float32 resolution otherwise.
 */
export function decoderNorms(wDec: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => tf.sqrt(tf.add(tf.sum(tf.square(wDec), 2), 1e-12)) as tf.Tensor2D);
}

/**
 * Each layer block of each latent's decoder is a random direction of norm 1/L, so Σ_l ||W_dec,l,i||
 * starts at 1 and λ means what it means for a unit-norm single-layer SAE; W_enc = W_decᵀ per layer;
 * b_enc = 0; b_dec = the data mean of each layer.
 */
function initCrosscoder(cfg: CrosscoderConfig, stats: DataStats, rng: Rng): Params {
  const { dIn, nLayers: L } = stats;
  const S = cfg.d_sae;
  const wDec = new Float32Array(S * L * dIn); // [d_sae, L, d_in]
  const wEnc = new Float32Array(L * dIn * S); // [L, d_in, d_sae]
  for (let i = 0; i < S; i++) {
    for (let l = 0; l < L; l++) {
      const base = (i * L + l) * dIn;
      let norm = 0;
      for (let j = 0; j < dIn; j++) { const v = rng.normal(); wDec[base + j] = v; norm += v * v; }
      const scale = 1 / (L * (Math.sqrt(norm) || 1));
      for (let j = 0; j < dIn; j++) {
        wDec[base + j] *= scale;
        wEnc[(l * dIn + j) * S + i] = wDec[base + j];
      }
    }
  }
  return tf.tidy(() => ({
    W_enc: tf.variable(tf.tensor3d(wEnc, [L, dIn, S]), true), // [L, d_in, d_sae]
    b_enc: tf.variable(tf.zeros([S]), true), // [d_sae]
    W_dec: tf.variable(tf.tensor3d(wDec, [S, L, dIn]), true), // [d_sae, L, d_in]
    b_dec: tf.variable(tf.tensor2d(stats.mean, [L, dIn]), true), // [L, d_in]
  }));
}

export const crosscoderVariant: Variant<CrosscoderConfig> = {
  architecture: crosscoderDeclaration.architecture,
  label: 'Crosscoder (per-layer encoders/decoders, shared latents)',
  paramNames: ['W_enc', 'b_enc', 'W_dec', 'b_dec'],
  init: initCrosscoder,
  encode: (p, x, live) => tf.tidy(() => applyInferenceThreshold(tf.relu(crossPreActivations(p, x)), live.threshold)),
  decode: crossDecode,
  loss(p, x, live) {
    const z = crossPreActivations(p, x);
    const f = tf.relu(z);
    const xHat = crossDecode(p, f);
    const recon = reconstructionLoss(x, xHat);
    const norms = decoderNorms(p.W_dec); // [d_sae, L]
    const penalty = tf.mean(tf.sum(tf.mul(f, tf.sum(norms, 1)), 1));
    const sparsity = tf.mul(penalty, live.lambda) as tf.Scalar;
    // Which layers the dictionary lives in: each latent's share of its decoder norm per layer.
    const share = tf.mean(tf.div(norms, tf.sum(norms, 1, true)), 0) as tf.Tensor1D; // [L]
    return { total: tf.add(recon, sparsity), recon, sparsity, aux: tf.scalar(0), f, pre: z, xHat, diagnostics: { decoder_norm_share: share } };
  },
  /**
   * Anthropic's resampling on the flattened [L·d_in] layout: the decoder row becomes the unit
   * direction of a badly reconstructed input across all layers, the encoder column that direction
   * scaled to 0.2 × the live latents' mean encoder norm.
   */
  async resampleDead(p, latents, directions) {
    if (latents.length === 0) return;
    const { L, dIn, dSae } = dims(p);
    const flat: Params = tf.tidy(() => ({
      W_enc: tf.variable(tf.reshape(p.W_enc, [L * dIn, dSae]), false),
      b_enc: tf.variable(p.b_enc.clone(), false),
      W_dec: tf.variable(tf.reshape(p.W_dec, [dSae, L * dIn]), false),
    }));
    await resampleLinear(flat, latents, directions);
    tf.tidy(() => {
      p.W_enc.assign(tf.reshape(flat.W_enc, [L, dIn, dSae]));
      p.b_enc.assign(flat.b_enc);
      p.W_dec.assign(tf.reshape(flat.W_dec, [dSae, L, dIn]));
    });
    Object.values(flat).forEach((v) => v.dispose());
  },
  exportTensors: (p) => ({ W_enc: p.W_enc, b_enc: p.b_enc, W_dec: p.W_dec, b_dec: p.b_dec }),
  saelensConfig: declaredSaeLensConfig(crosscoderDeclaration),
};
