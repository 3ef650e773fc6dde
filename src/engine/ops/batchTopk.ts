// BatchTopK activation (Bussmann et al. 2024): keep the k·B largest entries of ReLU(z) over the
// whole batch rather than k per row, so rows may use more or fewer latents than k while the batch
// averages k. The gradient flows through the kept, positive entries only.
import * as tf from '@tensorflow/tfjs';
import { maskedRelu } from './maskedRelu';
import { useFusedKernels } from './webgpu/program';
import { batchTopkWebGPU, keptReluWebGPU } from './webgpu/topk';
import { isAtLeast } from './compare';

/** How many entries of a [B, n] batch BatchTopK keeps: k·B, within [1, B·n]. */
export function batchTotal(B: number, n: number, k: number): number {
  return Math.max(1, Math.min(Math.round(k * B), B * n));
}

/**
 * 0/1 mask [B, n] of the k·B largest entries of z [B, n], taken over the flattened batch. Selected
 * by the (k·B)-th value, as topkMask does; exact ties at that value may keep a few more.
 */
export function batchTopkMask(z: tf.Tensor2D, k: number): tf.Tensor2D {
  if (useFusedKernels()) return batchTopkWebGPU(z, batchTotal(z.shape[0], z.shape[1], k), 'mask'); // webgpu/topk.ts, same selection
  return tf.tidy(() => {
    const [B, n] = z.shape;
    const total = batchTotal(B, n, k);
    const kth = tf.min(tf.topk(tf.reshape(z, [B * n]), total, false).values); // scalar
    return isAtLeast(z, kth) as tf.Tensor2D; // step-based: see topkMask
  });
}

/** f = ReLU(z) on the batch's k·B largest entries, 0 elsewhere; z [B, d_sae] → f [B, d_sae]. */
export function batchTopkRelu(z: tf.Tensor2D, k: number): tf.Tensor2D {
  if (useFusedKernels()) return keptReluWebGPU(z, (zz) => batchTopkWebGPU(zz, batchTotal(zz.shape[0], zz.shape[1], k), 'relu'));
  return maskedRelu(z, (zz) => batchTopkMask(zz, k));
}
