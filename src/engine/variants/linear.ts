// The affine encoder/decoder that relu, topk and jumprelu share (SAELens "standard" layout):
//   z = (x − b_dec) W_enc + b_enc,   x̂ = f W_dec + b_dec.
import * as tf from '@tensorflow/tfjs';
import type { DataStats, Params } from './types';
import type { Rng } from '../rng';
import { matMul, matMulDataLeft } from '../ops/matmul';
import { concatRows } from '../ops/layout';
import { addRowVector, subRowVector } from '../ops/reduce';
import { useFusedKernels } from '../ops/webgpu/program';
import { normalizeRowsWebGPU } from '../ops/webgpu/normalizeRows';
import { isAbove } from '../ops/compare';
import { runKernel, WASM_KERNELS, wasmKernelHere } from '../ops/wasm/registered';

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

/**
 * z = (x − b_dec) W_enc + b_enc: x [B, d_in] → [B, d_sae]. x takes a gradient only when
 * `inputNeedsGradient` (StepContext); as plain data it goes through the cheaper centredEncode.
 */
export function preActivations(p: Params, x: tf.Tensor2D, inputNeedsGradient = false): tf.Tensor2D {
  if (inputNeedsGradient) {
    return tf.tidy(() => addRowVector(matMul(subRowVector(x, p.b_dec as tf.Tensor1D), p.W_enc as tf.Tensor2D), p.b_enc as tf.Tensor1D));
  }
  return centredEncode(x, p.W_enc as tf.Tensor2D, p.b_dec as tf.Tensor1D, p.b_enc as tf.Tensor1D);
}

/**
 * (x − b_dec) W_enc (+ b_enc): x [B, d_in] (data: no gradient) → [B, d_sae]. Computed as
 * [x, 1] · [W_enc; b_enc − b_dec W_enc], one matmul whose weight gradient carries ∂b_enc = Σ_b ∂z
 * as its last row, so the backward has no [B, d_sae] batch sum, and b_dec's gradient through the
 * encoder is a [1, d_sae]·[d_sae, d_in] product instead of the [B, d_in] gradient of (x − b_dec)
 * that the direct form needs (a 6 ms matmul of a 70 ms ReLU step on wasm at 64/2048/1024).
 */
export function centredEncode(x: tf.Tensor2D, wEnc: tf.Tensor2D, bDec: tf.Tensor1D, bEnc?: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const shift = tf.neg(matMul(tf.reshape(bDec, [1, -1]) as tf.Tensor2D, wEnc)); // [1, d_sae]
    const bias = bEnc ? tf.add(tf.reshape(bEnc, [1, -1]), shift) : shift;
    const xOnes = tf.concat([x, tf.ones([x.shape[0], 1])], 1);
    return matMulDataLeft(xOnes as tf.Tensor2D, concatRows(wEnc, bias as tf.Tensor2D));
  });
}

/** x̂ = f W_dec + b_dec: f [B, d_sae] → [B, d_in]. */
export function linearDecode(p: Params, f: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => addRowVector(matMul(f, p.W_dec as tf.Tensor2D), p.b_dec as tf.Tensor1D));
}

/**
 * Scale each W_dec row to unit L2 norm (rows of zero norm are left alone). On the webgpu backend
 * one fused kernel does it (ops/webgpu/normalizeRows.ts), on wasm one of ours (ops/wasm/registered.ts).
 */
export function normalizeDecoderRows(p: Params): void {
  tf.tidy(() => {
    const w = p.W_dec as tf.Variable<tf.Rank.R2>;
    if (useFusedKernels()) { w.assign(normalizeRowsWebGPU(w, 1e-8)); return; }
    if (w.shape[1] % 4 === 0 && wasmKernelHere(WASM_KERNELS.normalizeRows)) {
      w.assign(runKernel(WASM_KERNELS.normalizeRows, { w }, { epsilon: 1e-8 }) as tf.Tensor2D);
      return;
    }
    const norms = tf.maximum(tf.sqrt(tf.sum(tf.square(w), 1, true)), 1e-8); // not tf.norm: its Pow is slow on wasm
    w.assign(tf.div(w, norms));
  });
}

/** Zero activations at or below the inference threshold θ (θ = 0 leaves f unchanged). */
export function applyInferenceThreshold(f: tf.Tensor2D, threshold: number): tf.Tensor2D {
  if (threshold <= 0) return f;
  return tf.tidy(() => tf.mul(f, isAbove(f, threshold)) as tf.Tensor2D);
}

export function linearExport(p: Params): Record<string, tf.Tensor> {
  return { W_enc: p.W_enc, b_enc: p.b_enc, W_dec: p.W_dec, b_dec: p.b_dec };
}

/**
 * Resampling of dead latents (Bricken et al. 2023, "Towards Monosemanticity"): each dead latent's
 * decoder row becomes the unit direction of an input the SAE reconstructs badly, its encoder column
 * the same direction scaled to 0.2 × the mean encoder-column norm of the live latents, and its
 * b_enc 0, so it starts by firing on the inputs the dictionary misses.
 * directions [n, d_in], one per latent in `latents`.
 */
export async function resampleLinear(p: Params, latents: number[], directions: Float32Array): Promise<void> {
  if (latents.length === 0) return;
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>;
  const [dIn, dSae] = wEnc.shape;
  // Copies: on cpu, data() hands out the tensor's own array.
  const [enc, dec, bEnc] = (await Promise.all([wEnc.data(), p.W_dec.data(), p.b_enc.data()])).map((v) => (v as Float32Array).slice());
  const dead = new Set(latents);
  let aliveNorm = 0, alive = 0;
  for (let i = 0; i < dSae; i++) {
    if (dead.has(i)) continue;
    let s = 0;
    for (let j = 0; j < dIn; j++) s += enc[j * dSae + i] ** 2;
    aliveNorm += Math.sqrt(s);
    alive += 1;
  }
  const encScale = 0.2 * (alive > 0 ? aliveNorm / alive : 1);
  latents.forEach((i, n) => {
    let norm = 0;
    for (let j = 0; j < dIn; j++) norm += directions[n * dIn + j] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dIn; j++) {
      const u = directions[n * dIn + j] / norm;
      dec[i * dIn + j] = u;
      enc[j * dSae + i] = u * encScale;
    }
    bEnc[i] = 0;
  });
  tf.tidy(() => {
    wEnc.assign(tf.tensor2d(enc, [dIn, dSae]));
    p.W_dec.assign(tf.tensor2d(dec, [dSae, dIn]));
    p.b_enc.assign(tf.tensor1d(bEnc));
  });
}
