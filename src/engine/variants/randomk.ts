// RandomK: the lower-bound baseline (docs/variants.md). Each row keeps k latents drawn uniformly at random
// (without replacement, a fresh draw every step), with value ReLU(z) there:
//   z = (x − b_dec) W_enc + b_enc,  f = ReLU(z) ⊙ 1[latent drawn],  x̂ = f W_dec + b_dec
// An SAE whose latents carry meaning should beat it by far; one that does not, has learnt little.
// The draw is seeded by (run seed, step) in training and by a fixed seed at inference, so runs are
// reproducible. SAELens has no such architecture: saved with TopK's tensors under "randomk".
import * as tf from '@tensorflow/tfjs';
import { declaredSaeLensConfig } from './declaration';
import { randomkDeclaration, type RandomKConfig } from './randomk.decl';
import { reconstructionLoss } from '../losses';
import { maskedRelu } from '../ops/maskedRelu';
import { topkMask } from '../ops/topk';
import type { Variant } from './types';
import { applyInferenceThreshold, initLinearSae, linearDecode, linearExport, normalizeDecoderRows, preActivations } from './linear';

/** Seed of the draw at inference (encode), the same for every call. */
export const INFERENCE_SEED = 0x5eed;

/** A 32-bit seed for the draw of one training step, mixing the run's seed and the step index. */
export function stepSeed(seed: number, step: number): number {
  let h = Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** 0/1 mask [B, n] with k ones per row at uniformly random distinct positions. */
export function randomKMask(shape: [number, number], k: number, seed: number): tf.Tensor2D {
  return tf.tidy(() => topkMask(tf.randomUniform(shape, 0, 1, 'float32', seed) as tf.Tensor2D, Math.min(k, shape[1])));
}

/** f = ReLU(z) on k random latents per row; gradient only through the kept positive entries. */
export function randomKRelu(z: tf.Tensor2D, k: number, seed: number): tf.Tensor2D {
  return maskedRelu(z, (zz) => randomKMask(zz.shape, k, seed));
}

export const randomkVariant: Variant<RandomKConfig> = {
  architecture: randomkDeclaration.architecture,
  label: 'RandomK (baseline)',
  paramNames: ['W_enc', 'b_enc', 'W_dec', 'b_dec'],
  init: (cfg, stats, rng) => initLinearSae(stats.dIn, cfg.d_sae, stats, rng),
  encode: (p, x, live) => tf.tidy(() => applyInferenceThreshold(randomKRelu(preActivations(p, x), live.k, INFERENCE_SEED), live.threshold)),
  decode: linearDecode,
  loss(p, x, live, ctx) {
    const z = preActivations(p, x, ctx.inputNeedsGradient);
    const f = randomKRelu(z, live.k, stepSeed(ctx.seed, ctx.step));
    const xHat = linearDecode(p, f);
    const recon = reconstructionLoss(x, xHat);
    return { total: tf.clone(recon), recon, sparsity: tf.scalar(0), aux: tf.scalar(0), f, pre: z, xHat };
  },
  constrain: normalizeDecoderRows,
  exportTensors: linearExport,
  saelensConfig: declaredSaeLensConfig(randomkDeclaration),
};
