// JumpReLU with straight-through gradients (docs/variants.md):
//   f = z · H(z − θ)
//   ∂f/∂z = H(z − θ)
//   ∂f/∂θ = −(θ/ε) · K((z − θ)/ε) · g, summed over the batch
// θ is the threshold itself (not its log): Adam moves a log-threshold by only about lr per step,
// so a small starting θ could not reach the data's scale (variants/jumprelu.ts, docs/variants.md).
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { rectangleKernel } from './kernel';
import { useFusedKernels } from './webgpu/program';
import { jumpReluForwardWebGPU, jumpReluGradPreWebGPU, thresholdGradWebGPU } from './webgpu/jumpRelu';
import { isAbove } from './compare';
import { sumRows } from './reduce';

/**
 * z [B, d_sae], theta [d_sae] → f [B, d_sae]. On the webgpu backend the forward pass and each
 * gradient are one fused kernel (webgpu/jumpRelu.ts); elsewhere the tfjs composition below.
 */
export function jumpRelu(z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number): tf.Tensor2D {
  if (useFusedKernels()) return jumpReluFused(z, theta, bandwidth);
  const op = tf.customGrad(((zIn: tf.Tensor, thetaIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const zz = zIn as tf.Tensor2D;
    const th = thetaIn as tf.Tensor1D;
    save([zz, th]);
    const value = tf.mul(zz, isAbove(zz, th)) as tf.Tensor2D; // H(z − θ), step-based (compare.ts)
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [zs, ts] = saved as [tf.Tensor2D, tf.Tensor1D];
      const dz = tf.mul(dy, isAbove(zs, ts));
      const kernel = rectangleKernel(zs, ts, bandwidth);
      // Σ_b first, then the per-latent factor −θ/ε: one [B, d_sae] product fewer. The batch sum is
      // a product with a row of ones (reduce.ts): tfjs-wasm's sum over axis 0 transposes first.
      const dTheta = tf.mul(sumRows(tf.mul(kernel, dy) as tf.Tensor2D), tf.div(tf.neg(ts), bandwidth));
      return [dz, dTheta];
    };
    return { value, gradFunc };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(z, theta) as tf.Tensor2D;
}

function jumpReluFused(z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number): tf.Tensor2D {
  const op = tf.customGrad(((zIn: tf.Tensor, thetaIn: tf.Tensor, save: tf.GradSaveFunc) => {
    save([zIn, thetaIn]);
    return {
      value: jumpReluForwardWebGPU(zIn as tf.Tensor2D, thetaIn as tf.Tensor1D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zs, ts] = saved as [tf.Tensor2D, tf.Tensor1D];
        return [jumpReluGradPreWebGPU(dy, zs, ts), thresholdGradWebGPU(dy, zs, ts, bandwidth)];
      },
    };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(z, theta) as tf.Tensor2D;
}
