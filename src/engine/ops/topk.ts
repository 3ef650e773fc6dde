// TopK activation: keep the k largest pre-activations of each row, then ReLU (as SAELens does).
// The backward pass routes the gradient through the kept, positive entries only.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { useFusedKernels } from './webgpu/program';
import { keptReluWebGPU, topkRowsWebGPU } from './webgpu/topk';
import { isAtLeast, isPositive } from './compare';

/**
 * 0/1 mask [B, d_sae] of each row's k largest entries of z [B, d_sae]. Selecting by the k-th value
 * avoids a [B, k, d_sae] one-hot; exact ties at the k-th value (measure zero for real data) may keep
 * a few more than k.
 */
export function topkMask(z: tf.Tensor2D, k: number): tf.Tensor2D {
  // The fused kernel (webgpu/topk.ts) selects exactly as below; out-of-range k keeps tf.topk's errors.
  if (useFusedKernels() && Number.isInteger(k) && k >= 1 && k <= z.shape[1]) return topkRowsWebGPU(z, k, 'mask');
  return tf.tidy(() => {
    const { values } = tf.topk(z, k, false);
    const kth = tf.min(values, 1, true); // [B, 1]
    // Step-based (compare.ts): tfjs-wasm's greaterEqual against a [B, 1] broadcast took 273 ms, and
    // even against a scalar 6 ms plus the cast, where sub + step take ~1 ms.
    return isAtLeast(z, kth) as tf.Tensor2D;
  });
}

/** f = ReLU(z) on each row's top k, 0 elsewhere; z [B, d_sae] → f [B, d_sae]. */
export function topkRelu(z: tf.Tensor2D, k: number): tf.Tensor2D {
  if (useFusedKernels() && Number.isInteger(k) && k >= 1 && k <= z.shape[1]) return keptReluWebGPU(z, (zz) => topkRowsWebGPU(zz, k, 'relu'));
  const op = tf.customGrad(((zIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const zz = zIn as tf.Tensor2D;
    const keep = tf.mul(topkMask(zz, k), isPositive(zz));
    save([keep]);
    const value = tf.mul(zz, keep) as tf.Tensor2D;
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0])] };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(z) as tf.Tensor2D;
}
