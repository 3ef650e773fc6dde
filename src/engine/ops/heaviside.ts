// Heaviside step with a straight-through gradient for θ only (DESIGN.md §3), used for the L0
// penalty of JumpReLU so that sparsity pressure moves thresholds, not pre-activations:
//   H(z − θ);  ∂/∂z = 0;  ∂/∂θ = −(1/ε) · K((z − θ)/ε) · g, summed over the batch.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { rectangleKernel } from './kernel';
import { useFusedKernels } from './webgpu/program';
import { heavisideForwardWebGPU, thresholdGradWebGPU } from './webgpu/jumpRelu';
import { isAbove } from './compare';

/**
 * z [B, d_sae], theta [d_sae] → 0/1 [B, d_sae]. On the webgpu backend the step and ∂θ are one
 * fused kernel each (webgpu/jumpRelu.ts) instead of the composition's compare and cast, and its
 * rectangle kernel, multiply and batch sum.
 */
export function heaviside(z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number): tf.Tensor2D {
  const fused = useFusedKernels();
  const op = tf.customGrad(((zIn: tf.Tensor, thetaIn: tf.Tensor, save: tf.GradSaveFunc) => {
    save([zIn, thetaIn]);
    const value = fused ? heavisideForwardWebGPU(zIn as tf.Tensor2D, thetaIn as tf.Tensor1D) : isAbove(zIn, thetaIn) as tf.Tensor2D;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [zs, ts] = saved as [tf.Tensor2D, tf.Tensor1D];
      if (fused) return [tf.zerosLike(zs), thresholdGradWebGPU(dy, zs, ts, bandwidth, false)];
      const kernel = rectangleKernel(zs, ts, bandwidth);
      const dTheta = tf.mul(tf.sum(tf.mul(kernel, dy), 0), -1 / bandwidth);
      return [tf.zerosLike(zs), dTheta];
    };
    return { value, gradFunc };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(z, theta) as tf.Tensor2D;
}
