// The affine encoder/decoder that relu, topk and jumprelu share (SAELens "standard" layout):
//   z = (x − b_dec) W_enc + b_enc,   x̂ = f W_dec + b_dec.
import * as tf from '@tensorflow/tfjs';
import type { DataStats, Params } from './types';
import type { Rng } from '../rng';
import { matMul } from '../ops/matmul';

/**
 * W_dec rows are random unit vectors and W_enc = W_decᵀ (the initialisation SAELens and Anthropic
 * use), b_enc = 0, b_dec = the data mean so that the encoder starts on centred inputs.
 */
export function initLinearSae(dIn: number, dSae: number, stats: DataStats, rng: Rng): Params {
  const wDec = new Float32Array(dSae * dIn);
  for (let i = 0; i < dSae; i++) {
    let norm = 0;
    for (let j = 0; j < dIn; j++) { const v = rng.normal(); wDec[i * dIn + j] = v; norm += v * v; }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dIn; j++) wDec[i * dIn + j] /= norm;
  }
  const wEnc = new Float32Array(dIn * dSae);
  for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) wEnc[j * dSae + i] = wDec[i * dIn + j];
  // tidy frees the initial-value tensors; the variables keep their own reference to the data.
  return tf.tidy(() => ({
    W_enc: tf.variable(tf.tensor2d(wEnc, [dIn, dSae]), true), // [d_in, d_sae]
    b_enc: tf.variable(tf.zeros([dSae]), true), // [d_sae]
    W_dec: tf.variable(tf.tensor2d(wDec, [dSae, dIn]), true), // [d_sae, d_in]
    b_dec: tf.variable(tf.tensor1d(stats.mean), true), // [d_in]
  }));
}

/** z = (x − b_dec) W_enc + b_enc: x [B, d_in] → [B, d_sae]. */
export function preActivations(p: Params, x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.add(matMul(tf.sub(x, p.b_dec), p.W_enc as tf.Tensor2D), p.b_enc) as tf.Tensor2D);
}

/** x̂ = f W_dec + b_dec: f [B, d_sae] → [B, d_in]. */
export function linearDecode(p: Params, f: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.add(matMul(f, p.W_dec as tf.Tensor2D), p.b_dec) as tf.Tensor2D);
}

/** Scale each W_dec row to unit L2 norm (rows of zero norm are left alone). */
export function normalizeDecoderRows(p: Params): void {
  tf.tidy(() => {
    const w = p.W_dec as tf.Variable<tf.Rank.R2>;
    const norms = tf.maximum(tf.norm(w, 'euclidean', 1, true), 1e-8);
    w.assign(tf.div(w, norms));
  });
}

/** Zero activations at or below the inference threshold θ (θ = 0 leaves f unchanged). */
export function applyInferenceThreshold(f: tf.Tensor2D, threshold: number): tf.Tensor2D {
  if (threshold <= 0) return f;
  return tf.tidy(() => tf.mul(f, tf.greater(f, threshold).toFloat()) as tf.Tensor2D);
}

export function linearExport(p: Params): Record<string, tf.Tensor> {
  return { W_enc: p.W_enc, b_enc: p.b_enc, W_dec: p.W_dec, b_dec: p.b_dec };
}
