// Input normalisation (config `normalize`, docs/configuration.md), applied to the rows once before training:
//   per_token     each activation vector becomes (x − mean(x)) / (std(x) + 1e-5) over its d_in
//                 entries, with the unbiased std. This is exactly SAELens's `layer_norm` input
//                 normalisation, so an export with normalize_activations "layer_norm" behaves the same.
//   dataset_norm  one scalar per layer so that E||x||² = d_in on the training split (Anthropic's
//                 scaling); folded into the exported weights, so the export needs no normalisation.
import * as tf from '@tensorflow/tfjs';
import type { Normalize } from './config';

export type Normalization =
  | { mode: 'none' }
  | { mode: 'per_token' }
  | { mode: 'dataset_norm'; /** Factor each layer's vectors were multiplied by. */ scale: number[] };

export const LAYER_NORM_EPS = 1e-5;

/** The normalisation a split's training rows call for (dataset_norm scales from these rows). */
export function fitNormalization(mode: Normalize, data: Float32Array, rows: number, dIn: number, nLayers: number): Normalization {
  if (mode === 'none') return { mode };
  if (mode === 'per_token') return { mode };
  const scale: number[] = [];
  for (let l = 0; l < nLayers; l++) {
    let sq = 0;
    for (let r = 0; r < rows; r++) {
      const base = (r * nLayers + l) * dIn;
      for (let j = 0; j < dIn; j++) sq += data[base + j] ** 2;
    }
    const meanSq = sq / Math.max(1, rows);
    scale.push(meanSq > 0 ? Math.sqrt(dIn / meanSq) : 1);
  }
  return { mode: 'dataset_norm', scale };
}

/** A normalised copy of row-major rows [rows, nLayers·dIn]. */
export function applyNormalization(n: Normalization, data: Float32Array, rows: number, dIn: number, nLayers: number): Float32Array {
  if (n.mode === 'none') return data;
  const out = new Float32Array(data.length);
  for (let v = 0; v < rows * nLayers; v++) {
    const base = v * dIn;
    if (n.mode === 'dataset_norm') {
      const s = n.scale[v % nLayers];
      for (let j = 0; j < dIn; j++) out[base + j] = data[base + j] * s;
      continue;
    }
    let sum = 0;
    for (let j = 0; j < dIn; j++) sum += data[base + j];
    const mean = sum / dIn;
    let ss = 0;
    for (let j = 0; j < dIn; j++) ss += (data[base + j] - mean) ** 2;
    const std = Math.sqrt(ss / Math.max(1, dIn - 1));
    for (let j = 0; j < dIn; j++) out[base + j] = (data[base + j] - mean) / (std + LAYER_NORM_EPS);
  }
  return out;
}

type HostTensor = { shape: number[]; data: Float32Array };

/**
 * Fold a single-layer dataset_norm scale s into exported weights of the affine layout, so that the
 * SAE takes raw activations: z = (s·x − b_dec)W_enc + b_enc = (x − b_dec/s)(s·W_enc) + b_enc and
 * x̂_raw = x̂/s = f(W_dec/s) + b_dec/s. Thresholds act on z, which is unchanged. Returns false (and
 * leaves the tensors alone) when the tensors are not in that layout.
 */
export function foldDatasetNorm(tensors: Record<string, HostTensor>, s: number): boolean {
  const { W_enc, W_dec, b_dec } = tensors;
  if (!W_enc || !W_dec || !b_dec || W_enc.shape.length !== 2 || W_dec.shape.length !== 2) return false;
  if (W_enc.shape[0] !== b_dec.shape[0] || W_dec.shape[1] !== b_dec.shape[0]) return false;
  tensors.W_enc = { shape: W_enc.shape, data: W_enc.data.map((v) => v * s) };
  tensors.W_dec = { shape: W_dec.shape, data: W_dec.data.map((v) => v / s) };
  tensors.b_dec = { shape: b_dec.shape, data: b_dec.data.map((v) => v / s) };
  return true;
}

/**
 * Rows [n, nLayers·dIn] in the SAE's space, and the inverse that takes a reconstruction in that
 * space back to the raw activations' scale (per_token: the raw row's own mean and std per layer).
 * Used where reconstructions replace the raw activations (splicing into a language model).
 */
export function normalizerOf(n: Normalization, xRaw: tf.Tensor2D, dIn: number, nLayers: number): { x: tf.Tensor2D; undo: (xHat: tf.Tensor2D) => tf.Tensor2D } {
  const rows = xRaw.shape[0];
  if (n.mode === 'none') return { x: xRaw, undo: (xHat) => xHat };
  if (n.mode === 'dataset_norm') {
    const scale = tf.tensor1d(Array.from({ length: nLayers * dIn }, (_, i) => n.scale[Math.floor(i / dIn)])); // [L·d]
    return { x: tf.mul(xRaw, scale), undo: (xHat) => tf.div(xHat, scale) };
  }
  const x3 = tf.reshape(xRaw, [rows, nLayers, dIn]);
  const mean = tf.mean(x3, 2, true); // [n, L, 1]
  const std = tf.add(tf.sqrt(tf.div(tf.sum(tf.square(tf.sub(x3, mean)), 2, true), Math.max(1, dIn - 1))), LAYER_NORM_EPS);
  return {
    x: tf.reshape(tf.div(tf.sub(x3, mean), std), [rows, nLayers * dIn]),
    undo: (xHat) => tf.reshape(tf.add(tf.mul(tf.reshape(xHat, [rows, nLayers, dIn]), std), mean), [rows, nLayers * dIn]),
  };
}
