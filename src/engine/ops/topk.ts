// TopK activation: keep the k largest pre-activations of each row, then ReLU (as SAELens does).
// The backward pass routes the gradient through the kept, positive entries only.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { useFusedKernels } from './webgpu/program';
import { keptReluWebGPU, topkRowsWebGPU } from './webgpu/topk';

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
    // Compare the difference with 0: tfjs-wasm's greaterEqual against a [B, 1] broadcast takes a
    // generic path ~25× slower than sub + compare-with-scalar (measured 273 ms vs 11 + 13 ms).
    return tf.greaterEqual(tf.sub(z, kth), 0).toFloat() as tf.Tensor2D;
  });
}

/** f = ReLU(z) on each row's top k, 0 elsewhere; z [B, d_sae] → f [B, d_sae]. */
export function topkRelu(z: tf.Tensor2D, k: number): tf.Tensor2D {
  if (useFusedKernels() && Number.isInteger(k) && k >= 1 && k <= z.shape[1]) return keptReluWebGPU(z, (zz) => topkRowsWebGPU(zz, k, 'relu'));
  const op = tf.customGrad(((zIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const zz = zIn as tf.Tensor2D;
    const keep = tf.mul(topkMask(zz, k), tf.greater(zz, 0).toFloat());
    save([keep]);
    const value = tf.mul(zz, keep) as tf.Tensor2D;
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0])] };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(z) as tf.Tensor2D;
}
